import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { binaryParser, s3Env, serviceSuite } from './support/app.js';
import { describeInBrowser, launchBrowser, type TestBrowser } from './support/browser.js';
import { rawRequest, send } from './support/http.js';
import { request } from './support/openapi.js';
import { startRecordingProxy, type RecordingProxy } from './support/recording-proxy.js';

const KEY = 'a-read-write-key-for-public-file-tests';
const METRICS_TOKEN = 'a-metrics-token-for-public-file-tests';
/** 2×1 pixels, so a decoded `<img>` has naturalWidth 2. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAAD0lEQVR4nGP4z8DAwPAfAAcAAf9+CLHQAAAAAElFTkSuQmCC',
  'base64',
);
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="3" height="2"><rect width="3" height="2"/></svg>';
const SECRET = 'SECRET-not-for-anonymous-eyes';
const auth = { Authorization: `Bearer ${KEY}` };

/**
 * PUBLIC_PREFIXES (`public/`, `media/avatars`): anyone reads those folders with GET and HEAD, embeddable from another
 * origin and cacheable; everything else, hostile spellings of a private key included, still needs an API key. S3 is
 * behind a recording proxy, so the tests see every key the service asks S3 for.
 */
describe('Public files (e2e)', () => {
  let recorder: RecordingProxy;
  let webApp: Server;
  let webAppOrigin: string;
  let page = '';

  /** Written straight to the bucket, so the recorder only sees what the service asks for afterwards. */
  const put = (key: string, body: string | Buffer, contentType: string, extra: object = {}) =>
    suite.s3.s3.send(
      new PutObjectCommand({ Bucket: suite.s3.bucket, Key: key, Body: body, ContentType: contentType, ...extra }),
    );

  const suite = serviceSuite({
    env: async (s3) => {
      recorder = await startRecordingProxy(s3.endpoint);
      webApp = createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page);
      }).listen(0, '127.0.0.1');
      await once(webApp, 'listening');
      webAppOrigin = `http://127.0.0.1:${(webApp.address() as { port: number }).port}`;
      return s3Env(recorder.endpoint, s3.bucket, {
        API_KEYS: KEY,
        // A space and a comma, as Elastic Beanstalk keeps the one and `eb setenv` splits on the other.
        PUBLIC_PREFIXES: 'public/ media/avatars',
        ALLOWED_HOSTS: '127.0.0.1',
        CORS_ORIGINS: webAppOrigin,
        METRICS_TOKEN,
      });
    },
  });

  beforeAll(async () => {
    await put('public/cat.png', PNG, 'image/png', { Metadata: { owner: 'alice' } });
    await put('public/cached.png', PNG, 'image/png', { CacheControl: 'max-age=60' });
    await put('public/logo.svg', SVG, 'image/svg+xml');
    await put('public/page.html', '<script>alert(1)</script>', 'text/html');
    await put('media/avatars/42.png', PNG, 'image/png');
    await put('private/cat.png', PNG, 'image/png');
    await put('private/secret.txt', SECRET, 'text/plain');
    await put('Public/cat.png', SECRET, 'text/plain');
    await put('publicity/cat.png', SECRET, 'text/plain');
    await put('public', SECRET, 'text/plain');
  });

  afterAll(async () => {
    await recorder?.close();
    webApp?.close();
  });

  it('should serve a public file without a key: embeddable, cacheable, without user metadata', async () => {
    const res = await request(suite.url).get('/files/public/cat.png').buffer(true).parse(binaryParser).expect(200);
    expect(res.body).toEqual(PNG);
    expect(res.headers).toMatchObject({
      'content-type': 'image/png',
      'cross-origin-resource-policy': 'cross-origin',
      'cache-control': 'public, max-age=300',
      'content-disposition': 'inline; filename=cat.png',
      'content-security-policy': "default-src 'none'; sandbox",
      'x-content-type-options': 'nosniff',
      etag: expect.stringMatching(/^"/),
      'last-modified': expect.any(String),
    });
    expect(res.headers['x-meta-owner']).toBeUndefined();
    expect(res.headers['www-authenticate']).toBeUndefined();

    const nested = await request(suite.url)
      .get('/files/media/avatars/42.png')
      .buffer(true)
      .parse(binaryParser)
      .expect(200);
    expect(nested.body).toEqual(PNG);
  });

  it('should answer a keyed read of a public file as before: metadata, no shared-cache default, same-origin', async () => {
    const res = await request(suite.url).get('/files/public/cat.png').set(auth).expect(200);
    expect(res.headers['x-meta-owner']).toBe('alice');
    expect(res.headers['cache-control']).toBeUndefined();
    expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
  });

  it("should serve the object's own Cache-Control instead of the default", async () => {
    const res = await request(suite.url).get('/files/public/cached.png').expect(200);
    expect(res.headers['cache-control']).toBe('max-age=60');
  });

  it('should answer HEAD without a key, with the headers of a GET and no body', async () => {
    const res = await request(suite.url).head('/files/public/cat.png').expect(200);
    expect(res.headers).toMatchObject({
      'content-length': String(PNG.length),
      'cross-origin-resource-policy': 'cross-origin',
      'cache-control': 'public, max-age=300',
    });
    expect(res.headers['x-meta-owner']).toBeUndefined();
    await request(suite.url).head('/files/private/cat.png').expect(401);
  });

  it('should answer 304 to a revalidation, still embeddable, and ranges as 206', async () => {
    const first = await request(suite.url).get('/files/public/cat.png').expect(200);
    const etag = String(first.headers.etag);
    const again = await request(suite.url).get('/files/public/cat.png').set('If-None-Match', etag).expect(304);
    expect(again.headers.etag).toBe(etag);
    expect(again.headers['cross-origin-resource-policy']).toBe('cross-origin');
    await request(suite.url)
      .get('/files/public/cat.png')
      .set('If-Modified-Since', String(first.headers['last-modified']))
      .expect(304);
    const range = await request(suite.url)
      .get('/files/public/cat.png')
      .set('Range', 'bytes=0-7')
      .buffer(true)
      .parse(binaryParser)
      .expect(206);
    expect(range.body).toEqual(PNG.subarray(0, 8));
  });

  it('should stream a public read even when a redirect is asked for (a cached redirect would outlive its URL)', async () => {
    const res = await request(suite.url)
      .get('/files/public/cat.png?redirect=1')
      .buffer(true)
      .parse(binaryParser)
      .expect(200);
    expect(res.body).toEqual(PNG);
  });

  it('should never render active content from a public folder: SVG and HTML are attachments', async () => {
    for (const [key, type] of [
      ['public/logo.svg', 'image/svg+xml'],
      ['public/page.html', 'text/html'],
    ]) {
      const res = await request(suite.url).get(`/files/${key}`).expect(200);
      expect(res.headers['content-type']).toBe(type);
      expect(res.headers['content-disposition']).toMatch(/^attachment;/);
      expect(res.headers['content-security-policy']).toBe("default-src 'none'; sandbox");
    }
  });

  it('should let a page on an allowed CORS origin read a public file with fetch', async () => {
    const res = await request(suite.url).get('/files/public/cat.png').set('Origin', webAppOrigin).expect(200);
    expect(res.headers['access-control-allow-origin']).toBe(webAppOrigin);
  });

  it('should still need a key for everything but GET and HEAD of one file', async () => {
    await request(suite.url).get('/files/private/secret.txt').expect(401);
    await request(suite.url).get('/files?prefix=public/').expect(401);
    await request(suite.url).get('/files').expect(401);
    await request(suite.url).put('/files/public/new.png').set('Content-Type', 'image/png').send(PNG).expect(401);
    await request(suite.url).delete('/files/public/cat.png').expect(401);
    await request(suite.url).post('/files/public/cat.png/copy').send({ to: 'public/copy.png' }).expect(401);
    await request(suite.url)
      .post('/files/delete')
      .send({ keys: ['public/cat.png'] })
      .expect(401);
    await request(suite.url).post('/signed-urls').send({ key: 'public/cat.png', operation: 'upload' }).expect(401);
    await request(suite.url).post('/upload-sessions').send({ keyPrefix: 'public/', maxBytes: 10 }).expect(401);
    const tus = await send(`${suite.url}/uploads`, {
      method: 'POST',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': 1 },
    });
    expect(tus.status).toBe(401);
    await request(suite.url).get('/files/public/cat.png').expect(200);
  });

  it('should refuse a wrong or malformed key on a public file, as anywhere', async () => {
    const wrong = await request(suite.url)
      .get('/files/public/cat.png')
      .set('Authorization', 'Bearer not-a-key-we-know-of');
    expect(wrong.status).toBe(401);
    await request(suite.url).get('/files/public/cat.png').set('Authorization', 'Basic dXNlcjpwYXNz').expect(401);
  });

  it('should still check the Host', async () => {
    await request(suite.url).get('/files/public/cat.png').set('Host', 'evil.example').expect(400);
  });

  it.each([
    ['a private folder', '/files/private/cat.png', 401],
    ['the prefix in upper case', '/files/PUBLIC/cat.png', 401],
    ['the prefix in mixed case', '/files/Public/cat.png', 401],
    ['a folder that only starts like it', '/files/publicity/cat.png', 401],
    ['the folder name as a key', '/files/public', 401],
    ['the folder itself', '/files/public/', 400],
    ['..', '/files/public/../private/secret.txt', 400],
    ['%2e%2e', '/files/public/%2e%2e/private/secret.txt', 400],
    ['%2E%2E with %2F', '/files/public/%2E%2E%2Fprivate%2Fsecret.txt', 400],
    ['%2F around ..', '/files/public%2F..%2Fprivate%2Fsecret.txt', 400],
    ['..%2F', '/files/public/..%2Fprivate/secret.txt', 400],
    ['. then ..', '/files/./public/../private/secret.txt', 400],
    ['.. after a file', '/files/public/cat.png/../../private/secret.txt', 400],
    ['a path parameter before ..', '/files/public;/../private/secret.txt', 400],
    ['an encoded backslash', '/files/public%5C..%5Cprivate%5Csecret.txt', 400],
    ['a raw backslash', '/files/public\\..\\private\\secret.txt', 400],
    ['a leading slash', '/files//private/secret.txt', 400],
    ['a NUL', '/files/public/cat.png%00/../../private/secret.txt', 400],
    ['overlong UTF-8 dots', '/files/public/%C0%AE%C0%AE/private/secret.txt', 400],
    ['full-width dots', '/files/public/%EF%BC%8E%EF%BC%8E/private/secret.txt', 404],
    ['raw full-width dots', '/files/public/\uff0e\uff0e/private/secret.txt', 400],
    ['full-width dots and solidus', '/files/public/%EF%BC%8E%EF%BC%8E%EF%BC%8Fprivate%EF%BC%8Fsecret.txt', 404],
    ['one-dot leaders', '/files/public/%E2%80%A4%E2%80%A4/private/secret.txt', 404],
    ['double-encoded dots', '/files/public/%252e%252e/private/secret.txt', 404],
    ['a private key with %2F', '/files/private%2Fsecret.txt', 401],
    ['a public key in the query', '/files/private/secret.txt?key=public/cat.png', 401],
    ['the route in upper case', '/FILES/private/secret.txt', 401],
    ['the route in upper case, then ..', '/FILES/public/../private/secret.txt', 400],
    ['the route twice, in two cases', '/Files/public/x/files/../../private/secret.txt', 400],
  ])('should never serve a private object to %s (%s)', async (_name, path, status) => {
    const asked = recorder.requests.length;
    // Sent as written: a URL parser (node:http's, a browser's) would resolve `..` and `\\` before sending.
    const head = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
    const res = await rawRequest(Number(new URL(suite.url).port), Buffer.from(head, 'utf8'));
    expect(res.status).toBe(status);
    expect(res.body).not.toContain(SECRET);
    // Embeddable only when the key is public (the raw UTF-8 target is refused by Node's parser, without helmet's).
    expect(res.headers['cross-origin-resource-policy'] === 'cross-origin').toBe(status === 404);
    // Only a 404 reached S3, and for a key in the public folder: the spelling S3 was asked for is the one checked.
    const keys = recorder.requests.slice(asked).map((r) => decodeURIComponent(r.path.split('?')[0]));
    expect(keys).toEqual(status === 404 ? [expect.stringMatching(new RegExp(`^/${suite.s3.bucket}/public/`))] : []);
  });

  /** `http_anonymous_reads_total{method, status}` as scraped now. */
  async function anonymousReads(method: string, status: number): Promise<number> {
    const res = await send(`${suite.url}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
    const sample = new RegExp(`^http_anonymous_reads_total\\{method="${method}",status="${status}"\\} (\\d+)$`, 'm');
    return Number(sample.exec(res.body.toString())?.[1] ?? 0);
  }

  it('should count anonymous reads by status in the metrics', async () => {
    const before = await Promise.all([anonymousReads('GET', 200), anonymousReads('HEAD', 401)]);
    await request(suite.url).get('/files/public/cat.png').expect(200);
    await request(suite.url).head('/files/private/cat.png').expect(401);
    await request(suite.url).get('/files/public/cat.png').set(auth).expect(200);
    expect(await anonymousReads('GET', 200)).toBe(before[0] + 1);
    expect(await anonymousReads('HEAD', 401)).toBe(before[1] + 1);
    expect(await anonymousReads('GET', 304)).toBeGreaterThan(0);
  });

  describeInBrowser('in headless Chromium, from a page on another origin', () => {
    let browser: TestBrowser;

    beforeAll(async () => {
      browser = await launchBrowser();
    });

    afterAll(async () => {
      await browser?.close();
    });

    it('should show a public image with no key; the same image in a private folder fails with 401', async () => {
      page = `<!doctype html><html><body>
<img id="public" src="${suite.url}/files/public/cat.png">
<img id="avatar" src="${suite.url}/files/media/avatars/42.png">
<img id="private" src="${suite.url}/files/private/cat.png">
<img id="svg" src="${suite.url}/files/public/logo.svg">
</body></html>`;
      const tab = await browser.context.newPage();
      const statuses = new Map<string, number>();
      tab.on('response', (response) => statuses.set(new URL(response.url()).pathname, response.status()));
      const failed = new Map<string, string | undefined>();
      tab.on('requestfailed', (r) => failed.set(new URL(r.url()).pathname, r.failure()?.errorText));
      const refusedBefore = await anonymousReads('GET', 401);
      await tab.goto(webAppOrigin, { waitUntil: 'load' });
      const widths = Object.fromEntries(
        await tab.locator('img').evaluateAll((images) =>
          images.map((image) => {
            const img = image as unknown as { id: string; complete: boolean; naturalWidth: number };
            return [img.id, img.complete ? img.naturalWidth : -1] as const;
          }),
        ),
      );
      expect(widths).toEqual({ public: 2, avatar: 2, private: 0, svg: 3 });
      expect(statuses.get('/files/public/cat.png')).toBe(200);
      // The service refused the private image (401); Chromium then hides that answer from the page, as its
      // Cross-Origin-Resource-Policy is same-origin.
      expect(await anonymousReads('GET', 401)).toBe(refusedBefore + 1);
      expect(failed.get('/files/private/cat.png')).toMatch(/ERR_BLOCKED_BY_RESPONSE/);
      expect(browser.offLoopback).toEqual([]);
      await tab.close();
    });
  });
});

describe('Public files without API_KEYS (development) (e2e)', () => {
  const suite = serviceSuite({ env: { PUBLIC_PREFIXES: 'public' } });

  beforeAll(async () => {
    await suite.s3.s3.send(
      new PutObjectCommand({ Bucket: suite.s3.bucket, Key: 'public/a.png', Body: PNG, Metadata: { owner: 'alice' } }),
    );
  });

  it('should give a read without a key the public answer, so pages embed it in development too', async () => {
    const res = await request(suite.url).get('/files/public/a.png').expect(200);
    expect(res.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(res.headers['x-meta-owner']).toBeUndefined();
  });
});
