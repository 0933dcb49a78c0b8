import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import supertest, { type Response } from 'supertest';
import { binaryParser, encodeKey, eventually, randomKey, sha256, serviceSuite } from './support/app.js';
import { request } from './support/openapi.js';
import {
  listMultipartUploads,
  objectExists as existsIn,
  testBackend,
  testCredentials,
  type TestS3Server as S3TestServer,
} from './support/s3-server.js';

const objectExists = (s3: S3TestServer, key: string): Promise<boolean> => existsIn(s3.s3, s3.bucket, key);

const MiB = 1024 * 1024;

/** Sends `sent` of `declared` bytes on a raw socket, then cuts the connection. */
function abortedUpload(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}${path}`, { method, headers });
    req.on('error', () => resolve());
    req.write(body, () => setTimeout(() => req.destroy(), 300));
    req.on('close', () => resolve());
  });
}

describe(`Files API (e2e against ${testBackend()})`, () => {
  const suite = serviceSuite({ env: { MAX_UPLOAD_BYTES: String(40 * MiB) } });

  describe('upload and download', () => {
    it('should store a multipart upload under a generated key that keeps the file name, byte-exact', async () => {
      const data = randomBytes(100_000);
      const res = await request(suite.url)
        .post('/files')
        .attach('file', data, { filename: 'My Photo (1).jpg', contentType: 'image/jpeg' })
        .expect(201);
      expect(res.body).toEqual({
        key: expect.stringMatching(/^[0-9a-f-]{36}\/My Photo \(1\)\.jpg$/),
        size: data.length,
        contentType: 'image/jpeg',
        etag: expect.any(String),
      });
      expect(res.headers.location).toBe(`/files/${encodeKey(res.body.key)}`);
      const got = await request(suite.url).get(res.headers.location).buffer(true).parse(binaryParser).expect(200);
      expect(sha256(got.body)).toBe(sha256(data));
      expect(got.headers['content-type']).toBe('image/jpeg');
    });

    it('should cut a long file name between characters, never inside an emoji', async () => {
      const res = await request(suite.url)
        .post('/files')
        .attach('file', Buffer.from('x'), { filename: `${'a'.repeat(197)}😀😀`, contentType: 'text/plain' })
        .expect(201);
      expect(res.body.key).toMatch(new RegExp(`^[0-9a-f-]{36}/a{197}$`));
      expect(res.headers.location).toBe(`/files/${encodeKey(res.body.key)}`);
    });

    it('should never reuse a generated key for the same file name', async () => {
      const a = await request(suite.url).post('/files').attach('file', Buffer.from('a'), 'same.txt').expect(201);
      const b = await request(suite.url).post('/files').attach('file', Buffer.from('b'), 'same.txt').expect(201);
      expect(a.body.key).not.toBe(b.body.key);
    });

    it('should use the key given as a form field or in the query', async () => {
      const key = randomKey('field.txt');
      const first = await request(suite.url)
        .post('/files')
        .field('key', key)
        .attach('file', Buffer.from('x'), 'ignored.txt')
        .expect(201);
      expect(first.body).toEqual({ key, size: 1, contentType: 'text/plain', etag: expect.any(String) });
      const key2 = randomKey('query.txt');
      const res = await request(suite.url)
        .post(`/files?key=${encodeURIComponent(key2)}`)
        .attach('file', Buffer.from('y'), 'ignored.txt')
        .expect(201);
      expect(res.body.key).toBe(key2);
    });

    it('should stream a 21 MiB raw PUT through a multipart upload and return it byte-exact', async () => {
      const data = randomBytes(21 * MiB);
      const key = randomKey('big.bin');
      const res = await request(suite.url)
        .put(`/files/${encodeKey(key)}`)
        .set('Content-Type', 'application/x-big')
        .send(data)
        .expect(201);
      expect(res.body.size).toBe(data.length);
      expect(res.body.etag).toMatch(/-5"$/); // multipart ETag "<md5>-<parts>": 21 MiB in 5 MiB parts
      const got = await request(suite.url)
        .get(`/files/${encodeKey(key)}`)
        .buffer(true)
        .parse(binaryParser)
        .expect(200);
      expect(got.headers['content-length']).toBe(String(data.length));
      expect(got.headers.etag).toBe(res.body.etag);
      expect(sha256(got.body)).toBe(sha256(data));
      expect(await listMultipartUploads(suite.s3.s3, suite.s3.bucket)).toEqual([]);
    });

    it('should stream a 21 MiB multipart/form-data upload byte-exact', async () => {
      const data = randomBytes(21 * MiB + 7);
      const res = await request(suite.url).post('/files').attach('file', data, 'big-form.bin').expect(201);
      expect(res.body.size).toBe(data.length);
      expect(res.body.etag).toMatch(/-5"$/);
      const got = await request(suite.url).get(res.headers.location).buffer(true).parse(binaryParser).expect(200);
      expect(got.headers.etag).toBe(res.body.etag);
      expect(sha256(got.body)).toBe(sha256(data));
    });

    it('should keep a JSON body as raw bytes on PUT, with its Content-Type', async () => {
      const key = randomKey('doc.json');
      const body = '{"a": 1,   "b": [true]}';
      await request(suite.url)
        .put(`/files/${encodeKey(key)}`)
        .set('Content-Type', 'application/json')
        .send(body)
        .expect(201);
      const got = await request(suite.url)
        .get(`/files/${encodeKey(key)}`)
        .buffer(true)
        .parse(binaryParser)
        .expect(200);
      expect(got.body.toString()).toBe(body);
      expect(got.headers['content-type']).toBe('application/json');
    });

    it('should answer 201 for a new key and 200 when replacing, and refuse overwrites when asked', async () => {
      const key = randomKey('v.txt');
      const path = `/files/${encodeKey(key)}`;
      const first = await request(suite.url).put(path).set('Content-Type', 'text/plain').send('one').expect(201);
      expect(first.headers.location).toBe(path);
      await request(suite.url).put(path).set('Content-Type', 'text/plain').send('two').expect(200);
      const refused = await request(suite.url).put(path).set('If-None-Match', '*').send('three').expect(412);
      expect(refused.body).toEqual({ statusCode: 412, error: 'Precondition Failed', message: expect.any(String) });
      await request(suite.url)
        .post(`/files?key=${encodeURIComponent(key)}&overwrite=false`)
        .attach('file', Buffer.from('four'), 'f.txt')
        .expect(409);
      const got = await request(suite.url).get(path).expect(200);
      expect(got.text).toBe('two');
      const fresh = randomKey('new.txt');
      await request(suite.url)
        .put(`/files/${encodeKey(fresh)}`)
        .set('If-None-Match', '*')
        .send('new')
        .expect(201);
    });
  });

  describe('reading', () => {
    const key = randomKey('ränge file.txt');
    const path = `/files/${encodeKey(key)}`;
    const text = '0123456789abcdefghijklmnopqrstuvwxyz';
    let etag: string;

    beforeAll(async () => {
      const res = await request(suite.url).put(path).set('Content-Type', 'text/plain').send(text).expect(201);
      etag = res.body.etag;
    });

    it('should send the object headers', async () => {
      const res = await request(suite.url).get(path).expect(200);
      expect(res.text).toBe(text);
      expect(res.headers['content-length']).toBe(String(text.length));
      expect(res.headers['etag']).toBe(etag);
      expect(res.headers['accept-ranges']).toBe('bytes');
      expect(Date.parse(res.headers['last-modified'])).not.toBeNaN();
    });

    it('should serve one byte range as 206', async () => {
      const res = await request(suite.url).get(path).set('Range', 'bytes=2-5').expect(206);
      expect(res.text).toBe('2345');
      expect(res.headers['content-range']).toBe(`bytes 2-5/${text.length}`);
      expect(res.headers['content-length']).toBe('4');
    });

    it('should serve open and suffix ranges', async () => {
      expect((await request(suite.url).get(path).set('Range', 'bytes=30-').expect(206)).text).toBe('uvwxyz');
      const suffix = await request(suite.url).get(path).set('Range', 'bytes=-3').expect(206);
      expect(suffix.text).toBe('xyz');
      expect(suffix.headers['content-range']).toBe(`bytes 33-35/${text.length}`);
    });

    it('should answer 416 with the size for an unsatisfiable range', async () => {
      const res = await request(suite.url).get(path).set('Range', 'bytes=1000-2000').expect(416);
      expect(res.headers['content-range']).toBe(`bytes */${text.length}`);
      expect(res.body.statusCode).toBe(416);
    });

    it('should answer 416 to a suffix range of 0 bytes, on GET and HEAD (RFC 9110 14.1.3)', async () => {
      for (const range of ['bytes=-0', 'bytes=-000']) {
        const res = await request(suite.url).get(path).set('Range', range).expect(416);
        expect(res.headers['content-range']).toBe(`bytes */${text.length}`);
        expect(res.body.statusCode).toBe(416);
        const head = await request(suite.url).head(path).set('Range', range).expect(416);
        expect(head.headers['content-range']).toBe(`bytes */${text.length}`);
      }
      await request(suite.url).get(path).set('Range', 'bytes=-0').set('If-None-Match', etag).expect(304);
      await request(suite.url).get('/files/missing-for-range.txt').set('Range', 'bytes=-0').expect(404);
    });

    it('should ignore a malformed Range and serve the whole object', async () => {
      await request(suite.url).get(path).set('Range', 'pages=1-2').expect(200);
    });

    it('should answer 304 to If-None-Match and If-Modified-Since', async () => {
      const res = await request(suite.url).get(path).set('If-None-Match', etag).expect(304);
      expect(res.text).toBe('');
      expect(res.headers.etag).toBe(etag);
      await request(suite.url).get(path).set('If-None-Match', '"other"').expect(200);
      // `*` matches any current representation (RFC 9110 13.1.2), which RGW does not do for reads.
      expect((await request(suite.url).get(path).set('If-None-Match', '*').expect(304)).headers.etag).toBe(etag);
      await request(suite.url).head(path).set('If-None-Match', '*').expect(304);
      await request(suite.url)
        .get(path)
        .set('If-Modified-Since', new Date(Date.now() + 60_000).toUTCString())
        .expect(304);
      await request(suite.url)
        .get(path)
        .set('If-Modified-Since', new Date(Date.now() - 3_600_000).toUTCString())
        .expect(200);
    });

    it('should ignore an If-Modified-Since past the year 9999 (not an HTTP-date) on GET and HEAD', async () => {
      // Found by the fuzz suite on RGW, which answers such a HeadObject with a bare 400 (then a 502 here).
      await request(suite.url).head(path).set('If-Modified-Since', 'Sat, 01 Jan 10000 00:00:00 GMT').expect(200);
      await request(suite.url).get(path).set('If-Modified-Since', 'Sat, 01 Jan 10000 00:00:00 GMT').expect(200);
    });

    it('should send an attachment with an RFC 5987 file name when download=1', async () => {
      const res = await request(suite.url).get(`${path}?download=1`).expect(200);
      expect(res.headers['content-disposition']).toBe(
        `attachment; filename="r?nge file.txt"; filename*=UTF-8''r%C3%A4nge%20file.txt`,
      );
    });

    it('should never serve HTML inline', async () => {
      const html = randomKey('page.html');
      await request(suite.url)
        .put(`/files/${encodeKey(html)}`)
        .set('Content-Type', 'text/html')
        .send('<script>alert(1)</script>')
        .expect(201);
      const res = await request(suite.url)
        .get(`/files/${encodeKey(html)}`)
        .expect(200);
      expect(res.headers['content-disposition']).toMatch(/^attachment/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    });

    it('should answer HEAD with the headers and no body', async () => {
      const res = await request(suite.url).head(path).expect(200);
      expect(res.headers['content-length']).toBe(String(text.length));
      expect(res.headers.etag).toBe(etag);
      await request(suite.url).head(path).set('If-None-Match', etag).expect(304);
      await request(suite.url)
        .head(`/files/${encodeKey(randomKey())}`)
        .expect(404);
    });

    it('should read the same key whatever the case of /files/, as routes match (the key itself keeps its case)', async () => {
      // Plain supertest: openapi.json spells the route in lower case only.
      const upper = await supertest(suite.url)
        .get(`/FILES/${encodeKey(key)}`)
        .expect(200);
      expect(upper.text).toBe(text);
      await supertest(suite.url)
        .head(`/Files/${encodeKey(key)}`)
        .expect(200);
      await request(suite.url)
        .get(`/files/${encodeKey(key.toUpperCase())}`)
        .expect(404);
    });

    it('should answer 404 JSON for a missing key', async () => {
      const res = await request(suite.url)
        .get(`/files/${encodeKey(randomKey())}`)
        .expect(404);
      expect(res.body).toEqual({ statusCode: 404, error: 'Not Found', message: 'no object with this key' });
    });
  });

  describe('listing', () => {
    const root = `list-${randomBytes(4).toString('hex')}/`;

    beforeAll(async () => {
      const keys = [
        ...Array.from({ length: 23 }, (_, i) => `${root}f${String(i).padStart(2, '0')}.txt`),
        `${root}sub/a.txt`,
        `${root}sub/b.txt`,
        `${root}other/c.txt`,
      ];
      for (const key of keys) {
        await request(suite.url)
          .put(`/files/${encodeKey(key)}`)
          .send('x')
          .expect(201);
      }
    });

    it('should page through all keys with an opaque cursor', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: Response = await request(suite.url)
          .get('/files')
          .query({ prefix: root, limit: 10, ...(cursor ? { cursor } : {}) })
          .expect(200);
        seen.push(...res.body.items.map((i: { key: string }) => i.key));
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toHaveLength(26);
      expect(new Set(seen).size).toBe(26);
    });

    it('should group folders with a delimiter', async () => {
      const res = await request(suite.url)
        .get('/files')
        .query({ prefix: root, delimiter: '/', limit: 100 })
        .expect(200);
      expect(res.body.prefixes.sort()).toEqual([`${root}other/`, `${root}sub/`]);
      expect(res.body.items).toHaveLength(23);
      expect(res.body.items[0]).toEqual({
        key: `${root}f00.txt`,
        size: 1,
        etag: expect.any(String),
        lastModified: expect.any(String),
      });
      expect(res.body.nextCursor).toBeNull();
    });

    it('should reject bad list parameters with 400', async () => {
      await request(suite.url).get('/files').query({ limit: 0 }).expect(400);
      await request(suite.url).get('/files').query({ limit: 1001 }).expect(400);
      await request(suite.url).get('/files').query({ limit: 'ten' }).expect(400);
      await request(suite.url).get('/files').query({ cursor: 'not-a-cursor' }).expect(400);
      await request(suite.url).get('/files').query({ prefix: '../' }).expect(400);
      const page = await request(suite.url).get('/files').query({ prefix: root, limit: 5 }).expect(200);
      const mixed = await request(suite.url)
        .get('/files')
        .query({ prefix: `${root}sub/`, cursor: page.body.nextCursor })
        .expect(400);
      expect(mixed.body.message).toMatch(/cursor/);
    });
  });

  describe('deleting', () => {
    it('should delete idempotently', async () => {
      const path = `/files/${encodeKey(randomKey())}`;
      await request(suite.url).put(path).send('x').expect(201);
      await request(suite.url).delete(path).expect(204);
      await request(suite.url).delete(path).expect(204);
      await request(suite.url).get(path).expect(404);
    });
  });

  describe('conditional writes', () => {
    it('should refuse a stale update or delete with 412 and keep the newer version (no lost update)', async () => {
      const path = `/files/${encodeKey(randomKey())}`;
      const v1 = (await request(suite.url).put(path).send('v1').expect(201)).body.etag as string;
      await request(suite.url).put(path).set('If-Match', v1).send('v2').expect(200);
      const stale = await request(suite.url).put(path).set('If-Match', v1).send('v3').expect(412);
      expect(stale.body).toEqual({ statusCode: 412, error: 'Precondition Failed', message: expect.any(String) });
      await request(suite.url).delete(path).set('If-Match', v1).expect(412);
      expect((await request(suite.url).get(path).expect(200)).text).toBe('v2');
    });

    it("should answer a write with the stored object's ETag, the one a later If-Match names", async () => {
      const path = `/files/${encodeKey(randomKey())}`;
      const created = await request(suite.url).put(path).send('v1').expect(201);
      const replaced = await request(suite.url).put(path).send('v2').expect(200);
      for (const answer of [created, replaced]) {
        expect(answer.headers.etag).toBe(answer.body.etag);
        expect(answer.headers.etag).toMatch(/^"[^"]+"$/); // strong: not a hash of the JSON answer
      }
      expect((await request(suite.url).head(path).expect(200)).headers.etag).toBe(replaced.headers.etag);
      await request(suite.url).put(path).set('If-Match', created.headers.etag).send('stale').expect(412);
      await request(suite.url).put(path).set('If-Match', replaced.headers.etag).send('v3').expect(200);
      const form = await request(suite.url).post('/files').attach('file', Buffer.from('form'), 'form.txt').expect(201);
      expect(form.headers.etag).toBe(form.body.etag);
      const copied = await request(suite.url)
        .post(`${path}/copy`)
        .send({ to: randomKey('copy.txt') })
        .expect(201);
      expect(copied.headers.etag).toBe(copied.body.etag);
      const stored = await request(suite.url).head(copied.headers.location).expect(200);
      expect(stored.headers.etag).toBe(copied.headers.etag);
      // A listing is no object: no ETag of its own (it named nothing a write could check).
      expect((await request(suite.url).get('/files').query({ limit: 1 }).expect(200)).headers.etag).toBeUndefined();
    });

    // The window between the service's check and S3's write: closed where S3 enforces If-Match on PutObject (Ceph
    // RGW, which compares it unquoted: detected), open on s3rver, which ignores it (docs/security.md says so).
    it('should refuse a write when the object changed after the check, where S3 enforces If-Match', async () => {
      const key = randomKey();
      const path = `/files/${encodeKey(key)}`;
      const etag = (await request(suite.url).put(path).send('v1').expect(201)).body.etag as string;
      const answer = new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${suite.url}${path}`, {
          method: 'PUT',
          headers: { 'If-Match': etag, 'Content-Length': '4', 'Content-Type': 'text/plain' },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.write('mi');
        // The service has checked the ETag by now; another writer replaces the object before the body ends.
        setTimeout(() => {
          void suite.s3.s3
            .send(
              new PutObjectCommand({
                Bucket: suite.s3.bucket,
                Key: key,
                Body: 'other writer',
                ContentType: 'text/plain',
              }),
            )
            .then(() => req.end('ne'), reject);
        }, 1500);
      });
      const status = await answer;
      const stored = (await request(suite.url).get(path).expect(200)).text;
      if (testBackend() === 'rgw') {
        expect([status, stored]).toEqual([412, 'other writer']);
      } else {
        expect([status, stored]).toEqual([200, 'mine']);
      }
    });
  });

  describe('bad keys', () => {
    it.each([
      ['%2e%2e/etc/passwd', /\.\./],
      ['a/../b', /\.\./],
      ['a/./b', /\./],
      ['a//b', /empty/],
      ['a/', /empty|end/],
      ['a%00b', /control/],
      ['a%5Cb', /backslash/],
      ['%E0%A4%A', /decode|percent/],
      [`${'k'.repeat(1025)}`, /1024/],
    ])('should reject %s with a 400 that says why', async (raw, reason) => {
      const res = await request(suite.url).get(`/files/${raw}`).expect(400);
      expect(res.body.statusCode).toBe(400);
      expect(res.body.message).toMatch(reason);
      await request(suite.url).put(`/files/${raw}`).send('x').expect(400);
    });

    it('should accept an encoded slash as part of the key', async () => {
      const res = await request(suite.url).put('/files/dir%2Fname.txt').send('x').expect(201);
      expect(res.body.key).toBe('dir/name.txt');
    });
  });

  describe('limits and aborted uploads', () => {
    const small = suite.withApp({ env: { MAX_UPLOAD_BYTES: String(6 * MiB) } });

    it('should answer 413 at once when Content-Length is over the limit', async () => {
      const key = randomKey();
      const res = await request(small.url)
        .put(`/files/${encodeKey(key)}`)
        .set('Content-Length', String(7 * MiB))
        .send(Buffer.alloc(10))
        .catch((e: { response?: Response }) => e.response!);
      expect(res.status).toBe(413);
      expect(await objectExists(suite.s3, key)).toBe(false);
    });

    it('should stop a chunked PUT at the limit with 413 and leave nothing behind', async () => {
      const key = randomKey();
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          `${small.url}/files/${encodeKey(key)}`,
          { method: 'PUT', headers: { 'Transfer-Encoding': 'chunked' } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        const chunk = randomBytes(MiB);
        let sent = 0;
        const pump = (): void => {
          while (sent < 12) {
            sent++;
            if (!req.write(chunk)) {
              req.once('drain', pump);
              return;
            }
          }
          req.end();
        };
        pump();
      });
      expect(status).toBe(413);
      await eventually(async () => (await listMultipartUploads(suite.s3.s3, suite.s3.bucket, key)).length === 0);
      expect(await objectExists(suite.s3, key)).toBe(false);
    });

    it('should answer 413 to an oversized multipart upload and leave nothing behind', async () => {
      const key = randomKey();
      const res = await request(small.url)
        .post(`/files?key=${encodeURIComponent(key)}`)
        .attach('file', randomBytes(8 * MiB), 'big.bin')
        .catch((e: { response?: Response }) => e.response!);
      expect(res?.status).toBe(413);
      await eventually(async () => (await listMultipartUploads(suite.s3.s3, suite.s3.bucket, key)).length === 0);
      expect(await objectExists(suite.s3, key)).toBe(false);
    });

    it.each(['PUT', 'POST'])(
      'should abort a %s cut short by the client: no object, no multipart upload',
      async (method) => {
        const key = randomKey();
        const payload = randomBytes(12 * MiB);
        if (method === 'PUT') {
          await abortedUpload(
            suite.url,
            'PUT',
            `/files/${encodeKey(key)}`,
            { 'Content-Length': String(20 * MiB) },
            payload,
          );
        } else {
          const boundary = 'xBOUNDARYx';
          const head = Buffer.from(
            `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
          );
          await abortedUpload(
            suite.url,
            'POST',
            `/files?key=${encodeURIComponent(key)}`,
            { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(20 * MiB) },
            Buffer.concat([head, payload]),
          );
        }
        await eventually(async () => (await listMultipartUploads(suite.s3.s3, suite.s3.bucket, key)).length === 0);
        expect(await objectExists(suite.s3, key)).toBe(false);
        await request(suite.url).get('/files').query({ limit: 1 }).expect(200); // still serving
      },
    );

    it('should reject a multipart body without a file part, with two files, or truncated', async () => {
      const none = await request(suite.url).post('/files').field('key', randomKey()).expect(400);
      expect(none.body.message).toMatch(/file/);
      await request(suite.url)
        .post('/files')
        .attach('file', Buffer.from('a'), 'a.txt')
        .attach('file', Buffer.from('b'), 'b.txt')
        .expect(400);
      await request(suite.url).post('/files').attach('other', Buffer.from('a'), 'a.txt').expect(400);
      await request(suite.url).post('/files').set('Content-Type', 'text/plain').send('nope').expect(400);
      const boundary = 'b0undary';
      const truncated = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.txt"\r\n\r\nhalf a fi`;
      await request(suite.url)
        .post('/files')
        .set('Content-Type', `multipart/form-data; boundary=${boundary}`)
        .send(truncated)
        .expect(400);
    });
  });

  describe('when S3 is down', () => {
    it('should answer 503 while S3 is unreachable and recover when it is back', async () => {
      const key = randomKey();
      await request(suite.url)
        .put(`/files/${encodeKey(key)}`)
        .send('still here')
        .expect(201);
      await suite.s3.halt();
      try {
        const res = await request(suite.url)
          .get(`/files/${encodeKey(key)}`)
          .expect(503);
        expect(res.body).toEqual({ statusCode: 503, error: 'Service Unavailable', message: expect.any(String) });
        expect(JSON.stringify(res.body)).not.toMatch(/at .*\.js/);
        expect(JSON.stringify(res.body)).not.toContain(testCredentials().accessKeyId);
        await request(suite.url).get('/files').expect(503);
      } finally {
        await suite.s3.restart();
      }
      const res = await request(suite.url)
        .get(`/files/${encodeKey(key)}`)
        .expect(200);
      expect(res.text).toBe('still here');
    });
  });
});
