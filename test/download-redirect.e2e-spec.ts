import { randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { S3_CLIENT } from '../src/storage/storage.tokens.js';
import { binaryParser, encodeKey, randomKey, sha256, serviceSuite } from './support/app.js';
import { request } from './support/openapi.js';
import { testBackend } from './support/s3-server.js';

const KEY = 'k'.repeat(32);
const READ_ONLY = 'r'.repeat(32);
const auth = { Authorization: `Bearer ${KEY}` };

describe(`Downloads by redirect (e2e against ${testBackend()})`, () => {
  /** The S3 commands the service sent, by name. */
  const calls: string[] = [];

  const suite = serviceSuite({ env: { API_KEYS: KEY, API_KEYS_READONLY: READ_ONLY } });

  beforeAll(() => {
    // Counted at `send`: the client resolves its middleware once per command (cacheMiddleware), so a middleware added
    // now would miss the commands the service already sent at boot.
    const client = suite.app.get<symbol, S3Client>(S3_CLIENT);
    const send = client.send.bind(client) as (command: object, ...rest: unknown[]) => Promise<unknown>;
    client.send = ((command: object, ...rest: unknown[]) => {
      calls.push(command.constructor.name);
      return send(command, ...rest);
    }) as S3Client['send'];
  });

  /** Stores `body` under a new key with this Content-Type, straight in S3. */
  async function stored(contentType: string, name: string, body: Uint8Array | string = 'x'): Promise<string> {
    const key = randomKey(name);
    await suite.s3.s3.send(
      new PutObjectCommand({ Bucket: suite.s3.bucket, Key: key, Body: body, ContentType: contentType }),
    );
    return key;
  }

  /** The redirect the service answers with (checked against openapi.json); its target is S3. */
  async function redirectOf(key: string, query = '?redirect=1', headers: Record<string, string> = auth) {
    const res = await request(suite.url)
      .get(`/files/${encodeKey(key)}${query}`)
      .set(headers)
      .expect(302);
    expect(res.headers['cache-control']).toBe('no-store');
    const location = new URL(res.headers.location);
    expect(location.origin).toBe(suite.s3.endpoint);
    expect(Number(location.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(300);
    return location.href;
  }

  it('should redirect to S3, which serves the object byte-exact with the type and disposition decided here', async () => {
    const data = randomBytes(300_000);
    const key = await stored('image/png', 'photo 1.png', data);
    const res = await fetch(await redirectOf(key));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-disposition')).toBe('inline; filename="photo 1.png"');
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(data));
  });

  it('should cost the service one HeadObject, never a GetObject, as HEAD does', async () => {
    const key = await stored('image/png', 'a.png');
    calls.length = 0;
    await redirectOf(key);
    await request(suite.url)
      .head(`/files/${encodeKey(key)}`)
      .set(auth)
      .expect(200);
    expect(calls).toEqual(['HeadObjectCommand', 'HeadObjectCommand']);
  });

  it('should be followed by fetch with the API key, which is not sent on to S3', async () => {
    const data = randomBytes(10_000);
    const key = await stored('application/octet-stream', 'a.bin', data);
    const res = await fetch(`${suite.url}/files/${encodeKey(key)}?redirect=true`, { headers: auth });
    expect([res.status, res.redirected, new URL(res.url).origin]).toEqual([200, true, suite.s3.endpoint]);
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(data));
  });

  it('should let the client re-send Range to S3 on the redirect: 206 with those bytes', async () => {
    const data = randomBytes(100_000);
    const key = await stored('video/mp4', 'clip.mp4', data);
    const res = await fetch(`${suite.url}/files/${encodeKey(key)}?redirect=1`, {
      headers: { ...auth, Range: 'bytes=1000-1999' },
    });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 1000-1999/${data.length}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true);
  });

  it('should make S3 send an attachment with the key name for download=1', async () => {
    const key = await stored('image/png', 'Rapport "final" é.png');
    const res = await fetch(await redirectOf(key, '?redirect=1&download=1'));
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="Rapport \\"final\\" ?.png"; filename*=UTF-8''Rapport%20%22final%22%20%C3%A9.png`,
    );
  });

  it.each([
    ['text/csv', 'text/csv'],
    ['text/html; charset=utf-8', 'application/octet-stream'],
    ['image/svg+xml', 'application/octet-stream'],
    ['text/plain, text/html', 'application/octet-stream'],
  ])('should make S3 serve %j as an attachment of %j', async (type, served) => {
    const key = await stored(type, 'page.html', '<script>alert(1)</script>');
    const res = await fetch(await redirectOf(key));
    expect([res.status, res.headers.get('content-type'), res.headers.get('content-disposition')]).toEqual([
      200,
      served,
      'attachment; filename=page.html',
    ]);
  });

  it('should answer 404 for a missing key itself, before any redirect', async () => {
    const res = await request(suite.url)
      .get(`/files/${encodeKey(randomKey())}?redirect=1`)
      .set(auth)
      .expect(404);
    expect(res.body).toEqual({ statusCode: 404, error: 'Not Found', message: 'no object with this key' });
  });

  it('should answer 304 itself when If-None-Match or If-Modified-Since holds', async () => {
    const key = await stored('text/plain', 'a.txt');
    const path = `/files/${encodeKey(key)}?redirect=1`;
    const head = await request(suite.url).head(path).set(auth).expect(200);
    await request(suite.url)
      .get(path)
      .set({ ...auth, 'If-None-Match': head.headers.etag })
      .expect(304);
    await request(suite.url)
      .get(path)
      .set({ ...auth, 'If-None-Match': `"other", ${head.headers.etag}` })
      .expect(304);
    await request(suite.url)
      .get(path)
      .set({ ...auth, 'If-Modified-Since': head.headers['last-modified'] })
      .expect(304);
    await request(suite.url)
      .get(path)
      .set({ ...auth, 'If-None-Match': '"other"' })
      .expect(302);
  });

  it('should answer 416 itself for a range no byte satisfies', async () => {
    const key = await stored('text/plain', 'a.txt', 'abc');
    const res = await request(suite.url)
      .get(`/files/${encodeKey(key)}?redirect=1`)
      .set({ ...auth, Range: 'bytes=10-' })
      .expect(416);
    expect(res.headers['content-range']).toBe('bytes */3');
  });

  it("should stream a resumed download (Range with If-Range) instead: If-Range is not in S3's documented API", async () => {
    const key = await stored('text/plain', 'a.txt', 'abcdef');
    const path = `/files/${encodeKey(key)}?redirect=1`;
    const { etag } = (await request(suite.url).head(path).set(auth).expect(200)).headers as { etag: string };
    const resumed = await request(suite.url)
      .get(path)
      .set({ ...auth, Range: 'bytes=2-', 'If-Range': etag })
      .expect(206);
    expect(resumed.text).toBe('cdef');
    const changed = await request(suite.url)
      .get(path)
      .set({ ...auth, Range: 'bytes=2-', 'If-Range': '"changed"' })
      .expect(200);
    expect(changed.text).toBe('abcdef');
  });

  it('should answer HEAD itself, with the headers of a proxied GET', async () => {
    const key = await stored('image/png', 'a.png', 'png');
    const res = await request(suite.url)
      .head(`/files/${encodeKey(key)}?redirect=1`)
      .set(auth)
      .expect(200);
    expect(res.headers).toEqual(
      expect.objectContaining({
        'content-type': 'image/png',
        'content-length': '3',
        'x-content-type-options': 'nosniff',
      }),
    );
  });

  it('should redirect for a read-only key, and keep asking for a key', async () => {
    const key = await stored('text/plain', 'a.txt');
    await redirectOf(key, '?redirect=1', { Authorization: `Bearer ${READ_ONLY}` });
    await request(suite.url)
      .get(`/files/${encodeKey(key)}?redirect=1`)
      .expect(401);
  });

  it.each(['yes', '', '2', 'TRUE', 'on'])('should refuse redirect=%j with 400, on GET and HEAD', async (value) => {
    const key = await stored('text/plain', 'a.txt');
    const res = await request(suite.url)
      .get(`/files/${encodeKey(key)}?redirect=${value}`)
      .set(auth)
      .expect(400);
    expect(res.body.message).toBe('redirect must be one of 1, true, 0, false');
    await request(suite.url)
      .head(`/files/${encodeKey(key)}?redirect=${value}`)
      .set(auth)
      .expect(400);
  });

  describe('with DOWNLOAD_MODE=redirect', () => {
    const redirecting = suite.withApp({ env: { API_KEYS: KEY, DOWNLOAD_MODE: 'redirect' } });

    it('should redirect by default, and stream with redirect=0 or redirect=false', async () => {
      const data = randomBytes(50_000);
      const key = await stored('application/zip', 'a.zip', data);
      const path = `/files/${encodeKey(key)}`;
      const found = await request(redirecting.url).get(path).set(auth).expect(302);
      const res = await fetch(found.headers.location);
      expect(res.headers.get('content-disposition')).toBe('attachment; filename=a.zip');
      expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(data));
      for (const query of ['?redirect=0', '?redirect=false']) {
        const streamed = await request(redirecting.url)
          .get(`${path}${query}`)
          .set(auth)
          .buffer(true)
          .parse(binaryParser);
        expect(streamed.status).toBe(200);
        expect(sha256(streamed.body as Buffer)).toBe(sha256(data));
      }
    });
  });
});
