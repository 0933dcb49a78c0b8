import { randomBytes } from 'node:crypto';
import { GetObjectCommand, paginateListObjectsV2, PutObjectCommand } from '@aws-sdk/client-s3';
import type { NestExpressApplication } from '@nestjs/platform-express';
import fc from 'fast-check';
import { s3Env, sha256, startApp } from './support/app.js';
import { expectJsonError, multipartBody, rawRequest, send, type RawResponse } from './support/http.js';
import { startS3Server, testBackend, type TestS3Server } from './support/s3-server.js';

const SECRET = 'outside the prefix: must never be served or changed';
const KNOWN = randomBytes(1000);

/** Bad input of every kind: each gets a 4xx JSON error, nothing escapes `S3_PREFIX`, and the service keeps serving. */
describe('Hostile input (e2e)', () => {
  let s3: TestS3Server;
  let app: NestExpressApplication;
  let url: string;
  let port: number;
  let known: { etag: string; lastModified: Date };

  beforeAll(async () => {
    s3 = await startS3Server();
    ({ app, url } = await startApp(
      s3Env(s3.endpoint, s3.bucket, {
        S3_PREFIX: 'tenant',
        MAX_UPLOAD_BYTES: String(1024 * 1024),
        CORS_ORIGINS: 'https://app.example.com',
      }),
    ));
    port = Number(new URL(url).port);
    for (const key of ['secret.txt', 'tenant-other/secret.txt']) {
      await s3.s3.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: SECRET }));
    }
    const put = await send(`${url}/files/known.bin`, { method: 'PUT', body: KNOWN });
    expect(put.status).toBe(201);
    const head = await send(`${url}/files/known.bin`, { method: 'HEAD' });
    known = { etag: String(head.headers.etag), lastModified: new Date(String(head.headers['last-modified'])) };
  });

  afterAll(async () => {
    // Nothing reached outside the prefix, whatever was sent.
    const outside: string[] = [];
    for await (const page of paginateListObjectsV2({ client: s3.s3 }, { Bucket: s3.bucket })) {
      outside.push(...(page.Contents ?? []).map((o) => o.Key!).filter((k) => !k.startsWith('tenant/')));
    }
    expect(outside.sort()).toEqual(['secret.txt', 'tenant-other/secret.txt']);
    for (const key of outside) {
      const out = await s3.s3.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
      expect(await out.Body!.transformToString()).toBe(SECRET);
    }
    await app?.close();
    await s3?.stop();
  });

  afterEach(async () => {
    const res = await send(`${url}/files/known.bin`);
    expect(res.status).toBe(200);
    expect(sha256(res.body)).toBe(sha256(KNOWN));
  });

  const raw = (request: string | Buffer): Promise<RawResponse> => rawRequest(port, request);
  const line = (method: string, target: string, headers = '', body = '') =>
    `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
    `${body || method === 'PUT' || method === 'POST' ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}${headers}\r\n${body}`;

  describe('encoded traversal and prefix escapes', () => {
    const paths = [
      '/files/..%2fsecret.txt',
      '/files/%2e%2e/secret.txt',
      '/files/%2E%2E%2Fsecret.txt',
      '/files/a/../../secret.txt',
      '/files/..\\secret.txt',
      '/files/..%5csecret.txt',
      '/files/%c0%ae%c0%ae/secret.txt',
      '/files/..%c0%afsecret.txt',
      '/files/%e0%80%ae%e0%80%ae/secret.txt',
      '/files/%ef%bc%8e%ef%bc%8e/secret.txt',
      '/files/secret.txt%00.jpg',
      '/files/%2fsecret.txt',
      '/files//secret.txt',
      '/files/./secret.txt',
      '/files/..',
      '/files/%252e%252e%252fsecret.txt',
      '/files/..;/secret.txt',
      '/files/../tenant-other/secret.txt',
      '/files/..%2ftenant-other%2fsecret.txt',
    ];

    it.each(['GET', 'HEAD', 'PUT', 'DELETE'])('should keep %s inside the prefix for every spelling', async (method) => {
      for (const path of paths) {
        const res = await raw(line(method, path, '', method === 'PUT' ? 'pwned' : ''));
        expect({ path, ok: res.status > 0 && res.status < 500 }).toEqual({ path, ok: true });
        expect(res.body).not.toContain(SECRET);
        if (res.status >= 400 && method !== 'HEAD') {
          expectJsonError(res);
        }
      }
    });

    it.each(['../', '..%2f', '%2e%2e/', '/', '..', 'a/../..', 'a/./b', '%5c', 'x%00'])(
      'should refuse to list with prefix=%s',
      async (prefix) => {
        expectJsonError(await raw(line('GET', `/files?prefix=${prefix}`)), 400);
      },
    );

    it('should list keys relative to the prefix, never what lies outside it', async () => {
      const res = await send(`${url}/files?limit=1000`);
      const keys = (JSON.parse(res.body.toString()) as { items: { key: string }[] }).items.map((i) => i.key);
      expect(keys).toContain('known.bin');
      expect(keys.some((k) => k.includes('secret') || k.startsWith('tenant'))).toBe(false);
    });

    it.each(['../secret.txt', '..\\secret.txt', '/secret.txt', 'a//b', 'a/./b', 'x\u0000y'])(
      'should refuse a form upload with key=%j',
      async (key) => {
        const form = multipartBody({ key }, [{ name: 'file', fileName: 'a.txt', data: Buffer.from('pwned') }]);
        const res = await send(`${url}/files`, {
          method: 'POST',
          body: form.parts,
          headers: { 'Content-Type': form.contentType, 'Content-Length': form.length },
        });
        expectJsonError({ ...res, body: res.body.toString() }, 400);
        const viaQuery = await send(`${url}/files?key=${encodeURIComponent(key)}`, {
          method: 'POST',
          body: form.parts.slice(1),
          headers: { 'Content-Type': form.contentType, 'Content-Length': form.length - form.parts[0].length },
        });
        expectJsonError({ ...viaQuery, body: viaQuery.body.toString() }, 400);
      },
    );
  });

  describe('keys, ranges, conditions and cursors (property-based)', () => {
    it('should store any byte string that decodes to a valid key under the prefix, and refuse the rest', async () => {
      const bytes = fc.uint8Array({ minLength: 1, maxLength: 40 });
      await fc.assert(
        fc.asyncProperty(bytes, async (key) => {
          const path = `/files/${[...key].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`;
          const res = await raw(line('PUT', path, '', 'x'));
          expect([200, 201, 400]).toContain(res.status);
          if (res.status === 400) {
            expectJsonError(res);
            return;
          }
          const stored = (JSON.parse(res.body) as { key: string }).key;
          expect(Buffer.from(stored)).toEqual(Buffer.from(key));
          const back = await s3.s3.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `tenant/${stored}` }));
          expect(await back.Body!.transformToString()).toBe('x');
        }),
        { numRuns: 150 },
      );
    });

    /** RFC 9110 for one byte range of a 1000-byte object: [start, end], 'unsatisfiable', or undefined (ignored). */
    function expectedRange(header: string): [number, number] | 'unsatisfiable' | undefined {
      const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
      if (!match || (match[1] === '' && match[2] === '') || match[1].length > 16 || match[2].length > 16) {
        return undefined;
      }
      const size = KNOWN.length;
      const [first, last] = [
        match[1] === '' ? undefined : Number(match[1]),
        match[2] === '' ? undefined : Number(match[2]),
      ];
      if (first !== undefined && last !== undefined && last < first) {
        return undefined;
      }
      if (first === undefined) {
        return last === 0 ? 'unsatisfiable' : [Math.max(0, size - last!), size - 1];
      }
      return first >= size ? 'unsatisfiable' : [first, Math.min(last ?? size - 1, size - 1)];
    }

    it('should answer any Range with the whole object, the exact bytes asked for, or 416', async () => {
      const position = fc.oneof(fc.integer({ min: 0, max: 1100 }), fc.constantFrom(999, 1000, 10 ** 15, 10 ** 17));
      const range = fc.oneof(
        fc.tuple(position, position).map(([a, b]) => `bytes=${a}-${b}`),
        position.map((a) => `bytes=${a}-`),
        position.map((n) => `bytes=-${n}`),
        fc.tuple(position, position).map(([a, b]) => `bytes=${a}-${b},${b}-`),
        fc.string({
          unit: fc.constantFrom('b', 'y', 't', 'e', 's', '=', '-', ',', ' ', '0', '5', '9', 'x'),
          maxLength: 20,
        }),
      );
      await fc.assert(
        fc.asyncProperty(range, async (header) => {
          const res = await send(`${url}/files/known.bin`, { headers: { Range: header } });
          const expected = expectedRange(header);
          if (expected === undefined) {
            expect(res.status).toBe(200);
            expect(sha256(res.body)).toBe(sha256(KNOWN));
          } else if (expected === 'unsatisfiable') {
            expect(res.status).toBe(416);
            expect(res.headers['content-range']).toBe(`bytes */${KNOWN.length}`);
          } else {
            const [start, end] = expected;
            expect(res.status).toBe(206);
            expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${KNOWN.length}`);
            expect(res.body.equals(KNOWN.subarray(start, end + 1))).toBe(true);
          }
        }),
        { numRuns: 300 },
      );
    });

    /** RFC 9110 13.1.2-3 as the service applies it: an invalid If-None-Match is ignored, then If-Modified-Since counts. */
    function notModified(ifNoneMatch: string | null, ifModifiedSince: string | null): boolean {
      const tags = (ifNoneMatch ?? '')
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '');
      if (tags.length === 1 && tags[0] === '*') {
        return true;
      }
      if (tags.length > 0 && tags.length <= 32 && tags.every((t) => /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/.test(t))) {
        return tags.some((t) => t.replace(/^W\//, '') === known.etag);
      }
      const since = ifModifiedSince !== null && ifModifiedSince.length <= 64 ? Date.parse(ifModifiedSince) : NaN;
      return !Number.isNaN(since) && known.lastModified.getTime() <= since;
    }

    it('should answer any If-None-Match / If-Modified-Since with 304 exactly when RFC 9110 says so', async () => {
      const tag = fc.oneof(
        fc.constant(known.etag),
        fc.constant(`W/${known.etag}`),
        fc.constant('*'),
        fc.stringMatching(/^[0-9a-f]{0,32}$/).map((h) => `"${h}"`),
        fc.string({ maxLength: 20 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
      );
      const inm = fc.option(fc.array(tag, { minLength: 1, maxLength: 3 }).map((tags) => tags.join(', ')));
      const ims = fc.option(
        fc.oneof(
          fc
            .integer({ min: -86_400, max: 86_400 })
            .map((s) => new Date(known.lastModified.getTime() + s * 1000).toUTCString()),
          fc.string({ maxLength: 30 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
        ),
      );
      await fc.assert(
        fc.asyncProperty(inm, ims, async (ifNoneMatch, ifModifiedSince) => {
          const headers: Record<string, string> = {};
          if (ifNoneMatch !== null) {
            headers['If-None-Match'] = ifNoneMatch;
          }
          if (ifModifiedSince !== null) {
            headers['If-Modified-Since'] = ifModifiedSince;
          }
          const res = await send(`${url}/files/known.bin`, { headers });
          if (notModified(ifNoneMatch, ifModifiedSince)) {
            expect(res.status).toBe(304);
            expect(res.body.length).toBe(0);
          } else {
            expect(res.status).toBe(200);
            expect(sha256(res.body)).toBe(sha256(KNOWN));
          }
        }),
        {
          numRuns: 200,
          examples: [
            [`${known.etag}, `, null],
            [`W/${known.etag}`, null],
            [`"x", ${known.etag}`, null],
            [', *', null],
            [null, known.lastModified.toUTCString()],
          ],
        },
      );
    });

    // A cursor of the service's own shape carries an S3 continuation token: AWS S3 and s3rver refuse one they did not
    // issue (400), RGW takes any token as the key to start after (a page, 200). Any other cursor is the service's 400.
    it('should answer any cursor it did not issue with 400 (or, on RGW, a page after a forged token), never 5xx', async () => {
      const cursor = fc.oneof(
        fc.string({ minLength: 1, maxLength: 200 }),
        fc.base64String({ minLength: 1, maxLength: 200 }),
        fc
          .record({
            t: fc.oneof(fc.string({ minLength: 1 }), fc.base64String({ minLength: 4 }), fc.anything()),
            p: fc.constant(''),
            d: fc.constant(''),
          })
          .map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
        fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '').toString('base64url')),
      );
      await fc.assert(
        fc.asyncProperty(cursor, async (value) => {
          const res = await send(`${url}/files?cursor=${encodeURIComponent(value)}`);
          if (testBackend() === 'rgw' && res.status === 200 && ownShape(value)) {
            expect(JSON.parse(res.body.toString())).toEqual(expect.objectContaining({ items: expect.any(Array) }));
          } else {
            expectJsonError({ ...res, body: res.body.toString() }, 400);
          }
        }),
        { numRuns: 200 },
      );
    });
  });
});

/** Whether a cursor has the service's shape: a continuation token `t` for the listing of the root (`p`, `d`). */
function ownShape(cursor: string): boolean {
  try {
    const payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown> | null;
    return typeof payload?.t === 'string' && payload.t !== '' && payload.p === '' && payload.d === '';
  } catch {
    return false;
  }
}
