import { randomBytes } from 'node:crypto';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { binaryParser, encodeKey, s3Env, sha256, startApp } from './support/app.js';
import { request } from './support/openapi.js';
import {
  listMultipartUploads,
  objectExists,
  startS3Server,
  testBackend,
  type TestS3Server,
} from './support/s3-server.js';

const RW = 'read-write-key-0123456789abcdef';
const RO = 'read-only-key-0123456789abcdef';
const PREFIX = 'tenant/';
const MiB = 1024 * 1024;
const MAX_UPLOAD_BYTES = 64 * MiB;

interface Session {
  token: string;
  url: string;
  expiresAt: string;
  scope: { key?: string; keyPrefix?: string; maxBytes: number; contentTypes?: string[] };
}

/**
 * Upload sessions and Uppy Companion's S3 routes, driven as `@uppy/aws-s3` 6.3.1 drives them (same requests, same
 * shapes), with the parts sent straight to S3. The browser itself is in uppy.e2e-spec.ts.
 */
describe(`Upload sessions (e2e against ${testBackend()})`, () => {
  let s3: TestS3Server;
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    s3 = await startS3Server();
    ({ app, url } = await startApp(
      s3Env(s3.endpoint, s3.bucket, {
        API_KEYS: RW,
        API_KEYS_READONLY: RO,
        S3_PREFIX: PREFIX,
        MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
        SIGNING_SECRET: 'u'.repeat(32),
      }),
    ));
  });

  afterAll(async () => {
    await app?.close();
    await s3?.stop();
  });

  const auth = (credential: string) => ({ Authorization: `Bearer ${credential}` });

  async function newSession(body: Record<string, unknown>): Promise<Session> {
    return (await request(url).post('/upload-sessions').set(auth(RW)).send(body).expect(201)).body as Session;
  }

  /** The session URL's path (supertest takes the service origin separately). */
  const s3Path = (session: Session, rest: string) => `${new URL(session.url).pathname}/s3${rest}`;

  const companion = (session: Session) => ({
    params: (query: Record<string, string>) =>
      request(url).get(s3Path(session, `/params?${new URLSearchParams(query).toString()}`)),
    create: (filename: string, type = 'application/octet-stream') =>
      request(url)
        .post(s3Path(session, '/multipart'))
        .send({ filename, type, metadata: { name: filename, type } }),
    sign: (uploadId: string, partNumber: number | string, key: string) =>
      request(url).get(
        s3Path(
          session,
          `/multipart/${encodeURIComponent(uploadId)}/${partNumber}?${new URLSearchParams({ key }).toString()}`,
        ),
      ),
    list: (uploadId: string, key: string) =>
      request(url).get(
        s3Path(session, `/multipart/${encodeURIComponent(uploadId)}?${new URLSearchParams({ key }).toString()}`),
      ),
    complete: (uploadId: string, key: string, parts: { PartNumber: number; ETag: string }[]) =>
      request(url)
        .post(
          s3Path(
            session,
            `/multipart/${encodeURIComponent(uploadId)}/complete?${new URLSearchParams({ key }).toString()}`,
          ),
        )
        .send({ parts }),
    abort: (uploadId: string, key: string) =>
      request(url).delete(
        s3Path(session, `/multipart/${encodeURIComponent(uploadId)}?${new URLSearchParams({ key }).toString()}`),
      ),
  });

  /** Signs and PUTs one part as Uppy does (no Content-Type); returns the ETag as Uppy keeps it (unquoted). */
  async function putPart(session: Session, uploadId: string, key: string, partNumber: number, data: Buffer) {
    const signed = await companion(session).sign(uploadId, partNumber, key).expect(200);
    const res = await fetch(signed.body.url as string, { method: 'PUT', body: data });
    expect(res.status).toBe(200);
    return res.headers.get('etag')!.replace(/^"+|"+$/g, '');
  }

  async function start(session: Session, filename: string, type?: string) {
    const res = await companion(session).create(filename, type).expect(200);
    return res.body as { key: string; uploadId: string };
  }

  const uploadsLeft = () => listMultipartUploads(s3.s3, s3.bucket);
  const stored = (bucketKey: string) => objectExists(s3.s3, s3.bucket, bucketKey);

  async function readBack(key: string): Promise<Buffer> {
    const res = await request(url)
      .get(`/files/${encodeKey(key)}`)
      .set(auth(RO))
      .buffer(true)
      .parse(binaryParser)
      .expect(200);
    return res.body as Buffer;
  }

  describe('POST /upload-sessions', () => {
    it('should issue a session for a key prefix, with defaults', async () => {
      const before = Date.now();
      const session = await newSession({ keyPrefix: 'users/42/' });
      expect(session).toEqual({
        token: expect.stringMatching(/^us1\.[\w-]+\.[\w-]{43}$/),
        url: `${url}/upload-sessions/${session.token}`,
        expiresAt: expect.any(String),
        scope: { keyPrefix: 'users/42/', maxBytes: MAX_UPLOAD_BYTES },
      });
      expect(Date.parse(session.expiresAt)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 3600_000);
      expect(Date.parse(session.expiresAt)).toBeLessThanOrEqual(Date.now() + 3600_000);
    });

    it('should keep a single key, a smaller maxBytes and the types asked for', async () => {
      const session = await newSession({
        key: 'avatars/42.png',
        maxBytes: 1000,
        contentTypes: ['Image/*', 'image/png'],
        expiresIn: 60,
      });
      expect(session.scope).toEqual({ key: 'avatars/42.png', maxBytes: 1000, contentTypes: ['image/*', 'image/png'] });
    });

    it.each([
      ['neither key nor keyPrefix', {}, 'exactly one of key and keyPrefix'],
      ['both', { key: 'a', keyPrefix: 'b/' }, 'exactly one of key and keyPrefix'],
      ['a bad key', { key: 'a/../b' }, '. or .. segments'],
      ['a bad prefix', { keyPrefix: 'a//' }, 'keyPrefix must not contain empty segments'],
      ['maxBytes over MAX_UPLOAD_BYTES', { key: 'a', maxBytes: MAX_UPLOAD_BYTES + 1 }, 'maxBytes must not be greater'],
      ['a type with parameters', { key: 'a', contentTypes: ['text/plain; charset=utf-8'] }, 'type/subtype or type/*'],
      ['a lifetime over a day', { key: 'a', expiresIn: 86401 }, 'expiresIn'],
      ['an unknown field', { key: 'a', bucket: 'other' }, 'bucket should not exist'],
    ])('should answer 400 to %s', async (_name, body, message) => {
      const res = await request(url).post('/upload-sessions').set(auth(RW)).send(body).expect(400);
      expect(res.body.message).toContain(message);
    });

    it('should refuse a read-only key (403), no key (401) and an upload-session token (403)', async () => {
      const res = await request(url).post('/upload-sessions').set(auth(RO)).send({ key: 'a' }).expect(403);
      expect(res.body.message).toContain('read-only');
      await request(url).post('/upload-sessions').send({ key: 'a' }).expect(401);
      const session = await newSession({ keyPrefix: '' });
      await request(url).post('/upload-sessions').set(auth(session.token)).send({ key: 'a' }).expect(403);
    });
  });

  describe('an upload-session token outside uploads', () => {
    it.each([
      ['get', '/files'],
      ['get', '/files/users/42/a.txt'],
      ['head', '/files/users/42/a.txt'],
      ['delete', '/files/users/42/a.txt'],
      ['put', '/files/users/42/a.txt'],
    ])('should answer 403 to %s %s', async (method, path) => {
      const session = await newSession({ keyPrefix: 'users/42/' });
      const res = await request(url)
        [method as 'get' | 'head' | 'delete' | 'put'](path)
        .set(auth(session.token))
        .expect(403);
      if (method !== 'head') {
        expect(res.body.message).toContain('upload-session token only authorises uploads');
      }
    });

    it('should answer 403 to POST /signed-urls', async () => {
      const session = await newSession({ keyPrefix: '' });
      await request(url)
        .post('/signed-urls')
        .set(auth(session.token))
        .send({ key: 'a', operation: 'download' })
        .expect(403);
    });
  });

  describe('POST /files with an upload-session token (as @uppy/xhr-upload sends it)', () => {
    it('should store the file under the prefix, named as POST /files names files', async () => {
      const session = await newSession({ keyPrefix: 'users/42/', contentTypes: ['text/plain'] });
      const data = randomBytes(10_000);
      const res = await request(url)
        .post('/files')
        .set(auth(session.token))
        .field('name', 'Résumé ü.txt')
        .field('relativePath', 'null')
        .attach('file', data, { filename: 'Résumé ü.txt', contentType: 'text/plain' })
        .expect(201);
      expect(res.body).toEqual({
        key: expect.stringMatching(/^users\/42\/[0-9a-f-]{36}\/Résumé ü\.txt$/),
        size: data.length,
        contentType: 'text/plain',
        etag: expect.any(String),
      });
      expect(sha256(await readBack(res.body.key as string))).toBe(sha256(data));
    });

    it('should refuse a key outside the scope (403), a type it does not allow (415), a bigger file (413)', async () => {
      const session = await newSession({ key: 'avatars/7.png', maxBytes: 1000, contentTypes: ['image/png'] });
      const upload = (data: Buffer, type: string, key?: string) => {
        const req = request(url).post('/files').set(auth(session.token));
        return (key ? req.field('key', key) : req).attach('file', data, { filename: 'x.png', contentType: type });
      };
      const outside = await upload(randomBytes(10), 'image/png', 'avatars/8.png').expect(403);
      expect(outside.body.message).toContain("outside this upload session's scope");
      await upload(randomBytes(10), 'image/gif').expect(415);
      await upload(randomBytes(1001), 'image/png').expect(413);
      expect(await stored(`${PREFIX}avatars/8.png`)).toBe(false);
      expect(await stored(`${PREFIX}avatars/7.png`)).toBe(false);
      expect(await uploadsLeft()).toEqual([]);
      await upload(randomBytes(1000), 'image/png').expect(201);
      expect(await stored(`${PREFIX}avatars/7.png`)).toBe(true);
    });

    it('should answer 401 to a forged or expired token, storing nothing', async () => {
      const session = await newSession({ key: 'forged/1.bin' });
      const forged = `${session.token.slice(0, -4)}AAAA`;
      const res = await request(url)
        .post('/files')
        .set(auth(forged))
        .attach('file', randomBytes(10), 'a.bin')
        .expect(401);
      expect(res.body.message).toContain('not valid');
      const expired = await newSession({ key: 'forged/1.bin', expiresIn: 1 });
      await new Promise((r) => setTimeout(r, Date.parse(expired.expiresAt) - Date.now() + 10));
      const late = await request(url)
        .post('/files')
        .set(auth(expired.token))
        .attach('file', randomBytes(10), 'a.bin')
        .expect(401);
      expect(late.body.message).toContain('expired');
      expect(await stored(`${PREFIX}forged/1.bin`)).toBe(false);
    });
  });

  describe('Companion S3 routes, single part (POST policy)', () => {
    it('should sign a form for the real key, which S3 takes up to maxBytes', async () => {
      const session = await newSession({ keyPrefix: 'forms/', maxBytes: 2000 });
      const res = await companion(session)
        .params({ filename: 'photo ü.jpg', type: 'image/jpeg', 'metadata[name]': 'photo ü.jpg' })
        .expect(200);
      const { url: bucketUrl, fields } = res.body as { url: string; fields: Record<string, string> };
      expect(fields.key).toMatch(/^tenant\/forms\/[0-9a-f-]{36}\/photo ü\.jpg$/);
      const post = (data: Buffer) => {
        const form = new FormData();
        for (const [name, value] of Object.entries(fields)) {
          form.append(name, value);
        }
        form.append('file', new Blob([data]));
        return fetch(bucketUrl, { method: 'POST', body: form });
      };
      expect((await post(randomBytes(2001))).status).toBe(400);
      expect(await stored(fields.key)).toBe(false);
      const data = randomBytes(2000);
      expect((await post(data)).status).toBe(204);
      expect(sha256(await readBack(fields.key.slice(PREFIX.length)))).toBe(sha256(data));
    });

    it('should refuse active content (400) and a type the session does not allow (415)', async () => {
      const session = await newSession({ keyPrefix: 'forms/', contentTypes: ['image/*', 'text/html'] });
      const active = await companion(session).params({ filename: 'a.html', type: 'text/html' }).expect(400);
      expect(active.body.message).toContain('active content');
      await companion(session).params({ filename: 'a.pdf', type: 'application/pdf' }).expect(415);
    });
  });

  describe('Companion S3 routes, multipart', () => {
    it('should upload in parts, list them, and complete with unquoted or quoted ETags', async () => {
      const session = await newSession({ keyPrefix: 'big/', contentTypes: ['video/*'] });
      const data = randomBytes(11 * MiB + 123);
      const { key, uploadId } = await start(session, 'clip 1.mp4', 'video/mp4');
      expect(key).toMatch(/^tenant\/big\/[0-9a-f-]{36}\/clip 1\.mp4$/);
      const etags = [
        await putPart(session, uploadId, key, 1, data.subarray(0, 5 * MiB)),
        await putPart(session, uploadId, key, 2, data.subarray(5 * MiB, 10 * MiB)),
        await putPart(session, uploadId, key, 3, data.subarray(10 * MiB)),
      ];
      const listed = await companion(session).list(uploadId, key).expect(200);
      expect(listed.body).toEqual([
        { PartNumber: 1, ETag: `"${etags[0]}"`, Size: 5 * MiB },
        { PartNumber: 2, ETag: `"${etags[1]}"`, Size: 5 * MiB },
        { PartNumber: 3, ETag: `"${etags[2]}"`, Size: MiB + 123 },
      ]);
      const parts = [
        { PartNumber: 1, ETag: etags[0] },
        { PartNumber: 2, ETag: `"${etags[1]}"` },
        { PartNumber: 3, ETag: etags[2] },
      ];
      const done = await companion(session).complete(uploadId, key, parts).expect(200);
      expect(done.body).toEqual({ location: expect.any(String), key, bucket: s3.bucket });
      expect(sha256(await readBack(key.slice(PREFIX.length)))).toBe(sha256(data));
      const head = await request(url)
        .head(`/files/${encodeKey(key.slice(PREFIX.length))}`)
        .set(auth(RO))
        .expect(200);
      expect(head.headers['content-type']).toBe('video/mp4');
      expect(await uploadsLeft()).toEqual([]);
    });

    it('should abort (204, twice), leaving no upload; signing a part of it then is a 404', async () => {
      const session = await newSession({ keyPrefix: 'aborted/' });
      const { key, uploadId } = await start(session, 'a.bin');
      await putPart(session, uploadId, key, 1, randomBytes(5 * MiB));
      await companion(session).abort(uploadId, key).expect(204);
      await companion(session).abort(uploadId, key).expect(204);
      expect(await uploadsLeft()).toEqual([]);
      const res = await companion(session).sign(uploadId, 2, key).expect(404);
      expect(res.body.message).toContain('no such upload');
      await companion(session).list(uploadId, key).expect(404);
      expect(await stored(key)).toBe(false);
    });

    it("should refuse another session's upload id or key (403), and a made-up upload id", async () => {
      const mine = await newSession({ keyPrefix: 'mine/' });
      const theirs = await newSession({ keyPrefix: 'mine/' });
      const { key, uploadId } = await start(mine, 'a.bin');
      for (const res of [
        await companion(theirs).sign(uploadId, 1, key).expect(403),
        await companion(theirs).list(uploadId, key).expect(403),
        await companion(theirs)
          .complete(uploadId, key, [{ PartNumber: 1, ETag: 'x' }])
          .expect(403),
        await companion(theirs).abort(uploadId, key).expect(403),
        await companion(mine).sign(uploadId.slice(23), 1, key).expect(403),
        await companion(mine).sign(uploadId, 1, `${key}x`).expect(403),
      ]) {
        expect(res.body.message).toContain('not started by this upload session');
      }
      const outside = await companion(mine).sign(uploadId, 1, 'other/a.bin').expect(403);
      expect(outside.body.message).toContain('S3_PREFIX');
      await companion(mine).sign(uploadId, 1, '').expect(400);
      expect(await uploadsLeft()).toHaveLength(1);
      await companion(mine).abort(uploadId, key).expect(204);
      expect(await uploadsLeft()).toEqual([]);
    });

    it.each([
      ['0', 'partNumber must be a whole number from 1 to 13'],
      ['14', 'from 1 to 13'],
      ['10001', 'from 1 to 13'],
      ['1.5', 'from 1 to 13'],
      ['01', 'from 1 to 13'],
      ['abc', 'from 1 to 13'],
    ])('should refuse to sign part number %s (400)', async (partNumber, message) => {
      const session = await newSession({ keyPrefix: 'numbers/' });
      const { key, uploadId } = await start(session, 'a.bin');
      const res = await companion(session).sign(uploadId, partNumber, key).expect(400);
      expect(res.body.message).toContain(message);
      await companion(session).abort(uploadId, key).expect(204);
      expect(await uploadsLeft()).toEqual([]);
    });

    it.each([
      ['a wrong ETag', (etag: string) => [{ PartNumber: 1, ETag: etag.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')) }]],
      [
        'a part never uploaded',
        (etag: string) => [
          { PartNumber: 1, ETag: etag },
          { PartNumber: 2, ETag: etag },
        ],
      ],
      [
        'parts out of order',
        (etag: string) => [
          { PartNumber: 1, ETag: etag },
          { PartNumber: 1, ETag: etag },
        ],
      ],
    ])('should refuse to complete with %s (400), aborting the upload', async (_name, parts) => {
      const session = await newSession({ keyPrefix: 'etags/' });
      const { key, uploadId } = await start(session, 'a.bin');
      const etag = await putPart(session, uploadId, key, 1, randomBytes(1000));
      await companion(session).complete(uploadId, key, parts(etag)).expect(400);
      expect(await uploadsLeft()).toEqual([]);
      expect(await stored(key)).toBe(false);
    });

    it.each([
      ['no parts', { parts: [] }],
      ['a part number that is not a number', { parts: [{ PartNumber: 'one', ETag: 'x' }] }],
      ['no parts list', {}],
    ])('should answer 400 to a completion with %s', async (_name, body) => {
      const session = await newSession({ keyPrefix: 'etags/' });
      const { key, uploadId } = await start(session, 'a.bin');
      const path = s3Path(
        session,
        `/multipart/${encodeURIComponent(uploadId)}/complete?${new URLSearchParams({ key }).toString()}`,
      );
      await request(url).post(path).send(body).expect(400);
      await companion(session).abort(uploadId, key).expect(204);
    });

    it('should refuse an oversize total on completion (413), removing the upload and storing nothing', async () => {
      const session = await newSession({ keyPrefix: 'over/', maxBytes: 6 * MiB });
      const { key, uploadId } = await start(session, 'a.bin');
      const etags = [
        await putPart(session, uploadId, key, 1, randomBytes(5 * MiB)),
        await putPart(session, uploadId, key, 2, randomBytes(2 * MiB)),
      ];
      const res = await companion(session)
        .complete(
          uploadId,
          key,
          etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })),
        )
        .expect(413);
      expect(res.body.message).toContain('the session allows 6291456');
      expect(await uploadsLeft()).toEqual([]);
      expect(await stored(key)).toBe(false);
    });

    it('should stop signing parts once the others hold maxBytes (413)', async () => {
      const session = await newSession({ keyPrefix: 'over/', maxBytes: 11 * MiB });
      const { key, uploadId } = await start(session, 'a.bin');
      await putPart(session, uploadId, key, 1, randomBytes(11 * MiB));
      const res = await companion(session).sign(uploadId, 2, key).expect(413);
      expect(res.body.message).toContain('already holds');
      await companion(session).sign(uploadId, 1, key).expect(200);
      await companion(session).abort(uploadId, key).expect(204);
      expect(await uploadsLeft()).toEqual([]);
    });

    it('should keep the key of a single-key session whatever the file name, and refuse disallowed types', async () => {
      const session = await newSession({ key: 'avatars/9.png', contentTypes: ['image/png'] });
      await companion(session).create('evil.html', 'text/html').expect(415);
      const { key, uploadId } = await start(session, '../../x.png', 'image/png');
      expect(key).toBe(`${PREFIX}avatars/9.png`);
      await companion(session).abort(uploadId, key).expect(204);
      const any = await newSession({ keyPrefix: 'svg/' });
      const res = await companion(any).create('a.svg', 'image/svg+xml').expect(400);
      expect(res.body.message).toContain('active content');
      expect(await uploadsLeft()).toEqual([]);
    });

    it('should answer 401 on every route to a forged or expired token', async () => {
      const session = await newSession({ keyPrefix: 'x/', expiresIn: 3 });
      const forged = { ...session, url: session.url.replace(/.{4}$/, 'AAAA') };
      const { key, uploadId } = await start(session, 'a.bin');
      await companion(forged).params({ filename: 'a' }).expect(401);
      await companion(forged).create('a').expect(401);
      await companion(forged).sign(uploadId, 1, key).expect(401);
      await companion(forged).list(uploadId, key).expect(401);
      await companion(forged)
        .complete(uploadId, key, [{ PartNumber: 1, ETag: 'x' }])
        .expect(401);
      await companion(forged).abort(uploadId, key).expect(401);
      await new Promise((r) => setTimeout(r, Date.parse(session.expiresAt) - Date.now() + 10));
      const res = await companion(session).sign(uploadId, 1, key).expect(401);
      expect(res.body.message).toContain('expired');
      // Aborting needs only an authentic token, so Uppy can still free the parts of an expired session.
      await companion(session).abort(uploadId, key).expect(204);
      expect(await uploadsLeft()).toEqual([]);
    });
  });
});
