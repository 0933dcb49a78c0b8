import { randomBytes } from 'node:crypto';
import {
  DeleteBucketPolicyCommand,
  HeadObjectCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { binaryParser, encodeKey, randomKey, sha256, serviceSuite } from './support/app.js';
import { request } from './support/openapi.js';
import { listMultipartUploads, objectExists, testBackend } from './support/s3-server.js';

const MiB = 1024 * 1024;
const PREFIX = 'tenant/';
const WRITER = 'writer-key-0123456789';
const READER = 'reader-key-0123456789';
const auth = (key = WRITER) => ({ Authorization: `Bearer ${key}` });

describe(`Batch delete, copy and move (e2e against ${testBackend()})`, () => {
  const env = { S3_PREFIX: PREFIX, API_KEYS: WRITER, API_KEYS_READONLY: READER };
  const suite = serviceSuite({ env });
  /** Copies objects over 5 MiB in 5 MiB parts, to exercise the multipart copy with small objects. */
  const parts = suite.withApp({ env, tuning: { copyMultipartThreshold: 5 * MiB } });

  const inS3 = (key: string) => objectExists(suite.s3.s3, suite.s3.bucket, PREFIX + key);
  const headInS3 = (key: string) =>
    suite.s3.s3.send(new HeadObjectCommand({ Bucket: suite.s3.bucket, Key: PREFIX + key }));
  const put = async (key: string, body: string | Buffer = 'data', contentType = 'text/plain') => {
    const res = await request(suite.url)
      .put(`/files/${encodeKey(key)}`)
      .set(auth())
      .set('Content-Type', contentType)
      .send(body)
      .expect(201);
    return res.body as { etag: string };
  };
  const removeMany = (body: unknown, key = WRITER) =>
    request(suite.url)
      .post('/files/delete')
      .set(auth(key))
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(body));
  const copy = (from: string, body: unknown, action = 'copy', base = suite.url) =>
    request(base)
      .post(`/files/${encodeKey(from)}/${action}`)
      .set(auth())
      .send(body as object);

  describe('POST /files/delete', () => {
    it('should delete many keys in one call, with a result per key in the order given', async () => {
      const keys = [randomKey('a.txt'), randomKey('b c+d?.txt'), randomKey('é/ü.txt')];
      for (const key of keys) {
        await put(key);
      }
      const missing = randomKey('never-written.txt');
      const res = await removeMany({ keys: [keys[0], missing, keys[1], keys[2]] }).expect(200);
      expect(res.body).toEqual({
        deleted: 4,
        failed: 0,
        results: [keys[0], missing, keys[1], keys[2]].map((key) => ({ key, deleted: true })),
      });
      for (const key of keys) {
        expect(await inS3(key)).toBe(false);
      }
    });

    it('should delete 1000 keys (the most S3 takes in one call)', async () => {
      // ~1 MB of JSON; segments stay under s3rver's 255-byte file names.
      const keys = Array.from({ length: 1000 }, (_, i) => `many-${i}/${Array(4).fill('x'.repeat(200)).join('/')}`);
      await put(keys[0]);
      await put(keys[999]);
      const res = await removeMany({ keys }).expect(200);
      expect(res.body).toMatchObject({ deleted: 1000, failed: 0 });
      expect(await inS3(keys[0])).toBe(false);
      expect(await inS3(keys[999])).toBe(false);
    });

    it('should take 1000 keys of the longest length even with every character JSON-escaped (Python ensure_ascii)', async () => {
      // 1008 UTF-8 bytes each; s3rver once mangled a character cut by a chunk boundary of the S3 request.
      const long = Array(5).fill('é'.repeat(100)).join('/');
      const keys = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(4, '0')}${long}`);
      const escaped = JSON.stringify({ keys }).replace(
        /[\u0080-\uffff]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      );
      expect(escaped.length).toBeGreaterThan(2.8 * MiB);
      const res = await request(suite.url)
        .post('/files/delete')
        .set(auth())
        .set('Content-Type', 'application/json')
        .send(escaped)
        .expect(200);
      expect(res.body).toMatchObject({ deleted: 1000, failed: 0 });
      expect(res.body.results[7].key).toBe(keys[7]);
    });

    it('should answer a body over 4 MiB with a 413', async () => {
      const res = await removeMany({ keys: ['a'], pad: 'x'.repeat(4 * MiB) }).expect(413);
      expect(res.body.statusCode).toBe(413);
    });

    it.each([
      ['an empty list', { keys: [] }, /keys must list at least one key/],
      ['more than 1000 keys', { keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) }, /at most 1000 keys/],
      ['no keys', {}, /keys/],
      ['keys that are not a list', { keys: 'a.txt' }, /keys must be an array/],
      ['a key that is not a string', { keys: ['a.txt', 7] }, /keys must be strings/],
      ['an unknown property', { keys: ['a.txt'], quiet: true }, /property quiet should not exist/],
      ['a bad key', { keys: ['ok.txt', 'a/../b'] }, /^keys\[1\]: key must not contain \. or \.\. segments$/],
      ['an empty key', { keys: [''] }, /^keys\[0\]: key must not be empty$/],
      ['a repeated key', { keys: ['a.txt', 'b.txt', 'a.txt'] }, /^keys\[2\] repeats keys\[0\]/],
    ])('should refuse %s with a 400 and delete nothing', async (_name, body, message) => {
      const key = randomKey('kept.txt');
      await put(key);
      const res = await removeMany(body).expect(400);
      expect(res.body.message).toMatch(message);
      expect(await inS3(key)).toBe(true);
    });

    it('should refuse a key too long once S3_PREFIX is added', async () => {
      const res = await removeMany({ keys: ['x'.repeat(1024 - PREFIX.length + 1)] }).expect(400);
      expect(res.body.message).toMatch(/^keys\[0\]: key must be at most 1017 UTF-8 bytes$/);
    });

    it('should answer malformed JSON and other media types with a clear 4xx', async () => {
      const bad = await request(suite.url)
        .post('/files/delete')
        .set(auth())
        .set('Content-Type', 'application/json')
        .send('{"keys": [')
        .expect(400);
      expect(bad.body.message).toBe('request body is not valid JSON');
      await request(suite.url)
        .post('/files/delete')
        .set(auth())
        .set('Content-Type', 'text/plain')
        .send('a')
        .expect(415);
    });

    it('should refuse a read-only API key with a 403, and a missing key with a 401', async () => {
      const key = randomKey('ro.txt');
      await put(key);
      await removeMany({ keys: [key] }, READER).expect(403);
      await request(suite.url)
        .post('/files/delete')
        .send({ keys: [key] })
        .expect(401);
      expect(await inS3(key)).toBe(true);
    });
  });

  describe('POST /files/{key}/copy', () => {
    it('should copy inside S3, keeping the bytes, Content-Type and metadata, and keep the source', async () => {
      const from = randomKey('src file+?#%.json');
      const to = randomKey('copied é.json');
      const body = '{"a":1}';
      await suite.s3.s3.send(
        new PutObjectCommand({
          Bucket: suite.s3.bucket,
          Key: PREFIX + from,
          Body: body,
          ContentType: 'application/json',
          CacheControl: 'max-age=60',
          Metadata: { origin: 'test' },
        }),
      );
      const res = await copy(from, { to }).expect(201);
      expect(res.body).toEqual({
        key: to,
        size: body.length,
        contentType: 'application/json',
        etag: expect.any(String),
      });
      expect(res.headers.location).toBe(`/files/${encodeKey(to)}`);
      const head = await headInS3(to);
      expect(head).toMatchObject({ ContentType: 'application/json', Metadata: { origin: 'test' } });
      expect(res.body.etag).toBe(head.ETag);
      const got = await request(suite.url).get(res.headers.location).set(auth()).expect(200);
      expect(got.text).toBe(body);
      expect(await inS3(from)).toBe(true);
    });

    it('should replace an existing target by default, and refuse to with overwrite: false (409)', async () => {
      const from = randomKey('new.txt');
      const to = randomKey('old.txt');
      await put(from, 'new');
      await put(to, 'old');
      await copy(from, { to, overwrite: false }).expect(409);
      expect(
        (
          await request(suite.url)
            .get(`/files/${encodeKey(to)}`)
            .set(auth())
            .expect(200)
        ).text,
      ).toBe('old');
      await copy(from, { to, overwrite: true }).expect(201);
      expect(
        (
          await request(suite.url)
            .get(`/files/${encodeKey(to)}`)
            .set(auth())
            .expect(200)
        ).text,
      ).toBe('new');
      await copy(from, { to: randomKey('fresh.txt'), overwrite: false }).expect(201);
    });

    it('should honour If-Match on the source (412 when it is not the current ETag)', async () => {
      const from = randomKey('guarded.txt');
      const { etag } = await put(from, 'v1');
      const to = randomKey('guarded-copy.txt');
      await copy(from, { to }).set('If-Match', '"0123456789abcdef0123456789abcdef"').expect(412);
      expect(await inS3(to)).toBe(false);
      await copy(from, { to }).set('If-Match', 'not-an-etag').expect(400);
      await copy(from, { to }).set('If-Match', etag).expect(201);
    });

    it('should answer 404 for a missing source, and 400 for the same key or a bad key', async () => {
      const from = randomKey('here.txt');
      await put(from);
      expect((await copy(randomKey('absent.txt'), { to: randomKey() }).expect(404)).body.message).toBe(
        'no object with the source key',
      );
      expect((await copy(from, { to: from }).expect(400)).body.message).toBe('to must differ from the source key');
      expect((await copy(from, { to: 'a//b' }).expect(400)).body.message).toMatch(/^to: key must not contain empty/);
      expect((await copy(from, { to: 'x'.repeat(1018) }).expect(400)).body.message).toMatch(/^to: key must be at most/);
      await request(suite.url).post('/files/a/%2E%2E/b/copy').set(auth()).send({ to: 'c' }).expect(400);
      expect((await copy(from, {}).expect(400)).body.message).toMatch(/to must be a string/);
      expect((await copy(from, { to: randomKey(), overwrite: 'false' }).expect(400)).body.message).toMatch(
        /overwrite must be a boolean/,
      );
      await request(suite.url)
        .post(`/files/${encodeKey(from)}/copy`)
        .set(auth())
        .send({ to: 'x' })
        .expect(201);
      await request(suite.url)
        .post(`/files/${encodeKey(from)}/copy`)
        .set(auth(READER))
        .send({ to: randomKey() })
        .expect(403);
    });

    it('should copy an object above the copy threshold in parts (UploadPartCopy), leaving no upload', async () => {
      const from = randomKey('big.bin');
      const to = randomKey('big-copy.bin');
      const data = randomBytes(11 * MiB + 5);
      await suite.s3.s3.send(
        new PutObjectCommand({
          Bucket: suite.s3.bucket,
          Key: PREFIX + from,
          Body: data,
          ContentType: 'application/x-big',
          Metadata: { origin: 'parts' },
        }),
      );
      const res = await copy(from, { to }, 'copy', parts.url).expect(201);
      expect(res.body).toEqual({
        key: to,
        size: data.length,
        contentType: 'application/x-big',
        etag: expect.any(String),
      });
      expect(res.body.etag).toMatch(/-3"$/); // 11 MiB in 5 MiB parts
      const head = await headInS3(to);
      expect(head).toMatchObject({
        ContentType: 'application/x-big',
        Metadata: { origin: 'parts' },
        ETag: res.body.etag,
      });
      const got = await request(suite.url)
        .get(`/files/${encodeKey(to)}`)
        .set(auth())
        .buffer(true)
        .parse(binaryParser)
        .expect(200);
      expect(sha256(got.body)).toBe(sha256(data));
      expect(await listMultipartUploads(suite.s3.s3, suite.s3.bucket)).toEqual([]);
    });

    it('should refuse overwrite: false on the multipart path too, before any upload starts', async () => {
      const from = randomKey('big2.bin');
      const to = randomKey('taken.bin');
      await suite.s3.s3.send(
        new PutObjectCommand({ Bucket: suite.s3.bucket, Key: PREFIX + from, Body: randomBytes(6 * MiB) }),
      );
      await put(to, 'taken');
      await copy(from, { to, overwrite: false }, 'copy', parts.url).expect(409);
      expect(
        (
          await request(suite.url)
            .get(`/files/${encodeKey(to)}`)
            .set(auth())
            .expect(200)
        ).text,
      ).toBe('taken');
      expect(await listMultipartUploads(suite.s3.s3, suite.s3.bucket)).toEqual([]);
    });
  });

  describe('POST /files/{key}/move', () => {
    it('should copy, then delete the source', async () => {
      const from = randomKey('moving.txt');
      const to = randomKey('moved.txt');
      await put(from, 'payload', 'text/markdown');
      const res = await copy(from, { to }, 'move').expect(201);
      expect(res.body).toEqual({
        key: to,
        size: 7,
        contentType: 'text/markdown',
        etag: expect.any(String),
        from,
        sourceDeleted: true,
      });
      expect(await inS3(from)).toBe(false);
      expect(
        (
          await request(suite.url)
            .get(`/files/${encodeKey(to)}`)
            .set(auth())
            .expect(200)
        ).text,
      ).toBe('payload');
    });

    it('should keep the source when the copy is refused (409, 412, 404)', async () => {
      const from = randomKey('stay.txt');
      const to = randomKey('occupied.txt');
      await put(from, 'source');
      await put(to, 'target');
      await copy(from, { to, overwrite: false }, 'move').expect(409);
      await copy(from, { to: randomKey() }, 'move').set('If-Match', '"ffffffffffffffffffffffffffffffff"').expect(412);
      await copy(randomKey('none.txt'), { to: randomKey() }, 'move').expect(404);
      expect(await inS3(from)).toBe(true);
      expect(
        (
          await request(suite.url)
            .get(`/files/${encodeKey(to)}`)
            .set(auth())
            .expect(200)
        ).text,
      ).toBe('target');
    });
  });

  // Ceph RGW enforces bucket policies (s3rver has none): a Deny on s3:DeleteObject is a real per-key refusal.
  (testBackend() === 'rgw' ? describe : describe.skip)(
    testBackend() === 'rgw'
      ? 'when S3 refuses to delete some keys (RGW bucket policy)'
      : 'when S3 refuses to delete some keys [SKIPPED: needs bucket policies: S3_TEST_BACKEND=rgw]',
    () => {
      const protectedKey = `protected-${randomBytes(4).toString('hex')}/a.txt`;

      beforeAll(async () => {
        await suite.s3.s3.send(
          new PutBucketPolicyCommand({
            Bucket: suite.s3.bucket,
            Policy: JSON.stringify({
              Version: '2012-10-17',
              Statement: [
                {
                  Effect: 'Deny',
                  Principal: '*',
                  Action: ['s3:DeleteObject'],
                  Resource: [`arn:aws:s3:::${suite.s3.bucket}/${PREFIX}${protectedKey.split('/')[0]}/*`],
                },
              ],
            }),
          }),
        );
      });

      afterAll(async () => {
        await suite.s3.s3.send(new DeleteBucketPolicyCommand({ Bucket: suite.s3.bucket }));
      });

      it('should report each refused key with its error, and delete the others', async () => {
        const free = randomKey('free.txt');
        await put(protectedKey);
        await put(free);
        const res = await removeMany({ keys: [protectedKey, free] }).expect(200);
        expect(res.body).toEqual({
          deleted: 1,
          failed: 1,
          results: [
            {
              key: protectedKey,
              deleted: false,
              error: { statusCode: 502, error: 'Bad Gateway', message: expect.stringMatching(/AccessDenied/) },
            },
            { key: free, deleted: true },
          ],
        });
        expect(await inS3(protectedKey)).toBe(true);
      });

      it('should answer a move whose source cannot be deleted with sourceDeleted: false, keeping both', async () => {
        const to = randomKey('escaped.txt');
        const res = await copy(protectedKey, { to }, 'move').expect(201);
        expect(res.body).toMatchObject({
          key: to,
          from: protectedKey,
          sourceDeleted: false,
          sourceError: { statusCode: 502, message: expect.stringMatching(/AccessDenied/) },
        });
        expect(await inS3(protectedKey)).toBe(true);
        expect(await inS3(to)).toBe(true);
      });
    },
  );
});
