import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { HeadObjectCommand, PutBucketCorsCommand } from '@aws-sdk/client-s3';
import type { Page } from 'playwright-core';
import { binaryParser, encodeKey, randomKey, s3Env, serviceSuite, sha256 } from './support/app.js';
import { describeInBrowser, launchBrowser, type TestBrowser } from './support/browser.js';
import { request } from './support/openapi.js';
import { objectExists, testBackend } from './support/s3-server.js';

/**
 * The page a web app would serve from its own origin: it asks the service (another origin, allowed by
 * CORS_ORIGINS) for a signed URL, sends the chosen file straight to S3 (a third origin, allowed by the bucket's
 * CORS rule), as a PUT or as a POST form when a size limit is asked for, then reads it back through a signed GET.
 */
const directTransferPage = (service: string) => `<!doctype html>
<html><head><meta charset="utf-8"><title>Direct transfer</title></head>
<body>
<input type="file" id="file">
<script>
const SERVICE = ${JSON.stringify(service)};
async function sign(request) {
  const res = await fetch(SERVICE + '/signed-urls', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(request),
  });
  if (res.status !== 201) throw new Error('signing failed: ' + res.status + ' ' + (await res.text()));
  return res.json();
}
function send(signed, file) {
  if (signed.method === 'PUT') return fetch(signed.url, { method: 'PUT', headers: signed.headers, body: file });
  const form = new FormData();
  for (const [name, value] of Object.entries(signed.fields)) form.append(name, value);
  form.append('file', file);
  return fetch(signed.url, { method: 'POST', body: form });
}
async function hex(buffer) {
  const digest = await crypto.subtle.digest('SHA-256', buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}
window.transfer = async (key, maxBytes, parameters) => {
  const file = document.getElementById('file').files[0];
  const upload = await sign({
    key,
    operation: 'upload',
    contentType: file.type,
    ...(maxBytes ? { maxBytes } : {}),
    ...parameters,
  });
  let uploaded;
  try {
    uploaded = await send(upload, file);
  } catch (error) {
    return { uploadMethod: upload.method, uploadError: String(error) };
  }
  const result = { uploadMethod: upload.method, uploadStatus: uploaded.status, etag: uploaded.headers.get('ETag') };
  if (!uploaded.ok) return { ...result, uploadBody: await uploaded.text() };
  const download = await sign({ key, operation: 'download' });
  const got = await fetch(download.url);
  const bytes = await got.arrayBuffer();
  return {
    ...result,
    downloadStatus: got.status,
    contentType: got.headers.get('Content-Type'),
    size: bytes.byteLength,
    sha256: await hex(bytes),
  };
};
</script>
</body></html>`;

/**
 * An upload without maxBytes is a presigned PUT where the backend refuses unsigned headers (s3rver as AWS), else a
 * POST form (Ceph RGW), whose answer is a 204 without an ETag there.
 */
const PUT_ANSWERS = testBackend() === 's3rver';
const SIGNED_UPLOAD = PUT_ANSWERS
  ? { uploadMethod: 'PUT', uploadStatus: 200 }
  : { uploadMethod: 'POST', uploadStatus: 204 };

interface TransferResult {
  uploadMethod: 'PUT' | 'POST';
  uploadError?: string;
  uploadStatus?: number;
  uploadBody?: string;
  etag?: string | null;
  downloadStatus?: number;
  contentType?: string | null;
  size?: number;
  sha256?: string;
}

describeInBrowser('In a real browser (headless Chromium)', () => {
  let webApp: Server;
  let webAppOrigin: string;
  let browser: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    webApp = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(directTransferPage(suite.url));
    }).listen(0, '127.0.0.1');
    await once(webApp, 'listening');
    webAppOrigin = `http://127.0.0.1:${(webApp.address() as { port: number }).port}`;
    browser = await launchBrowser();
    page = await browser.context.newPage();
  });

  // Declared before the suite, so that it runs before the app and S3 stop.
  afterAll(async () => {
    await browser?.close();
    webApp?.close();
  });

  // No CORS rule on the bucket: each test sets what it needs, as one would on AWS.
  const suite = serviceSuite({
    s3: { cors: false },
    env: (s3) => s3Env(s3.endpoint, s3.bucket, { CORS_ORIGINS: webAppOrigin }),
  });

  afterEach(() => {
    expect(browser.offLoopback).toEqual([]);
  });

  async function transfer(
    file: Buffer,
    mimeType: string,
    key: string,
    maxBytes?: number,
    parameters: Record<string, unknown> = {},
  ): Promise<TransferResult> {
    await page.goto(webAppOrigin);
    await page.setInputFiles('#file', { name: key.split('/').pop()!, mimeType, buffer: file });
    return page.evaluate(
      // Runs in the page, where globalThis is its window.
      ([k, max, p]) =>
        (
          globalThis as unknown as {
            transfer(k: string, m?: number, p?: Record<string, unknown>): Promise<TransferResult>;
          }
        ).transfer(k, max, p),
      [key, maxBytes, parameters] as const,
    );
  }

  const stored = (key: string): Promise<boolean> => objectExists(suite.s3.s3, suite.s3.bucket, key);

  async function allowPageOrigin(): Promise<void> {
    await suite.s3.s3.send(
      new PutBucketCorsCommand({
        Bucket: suite.s3.bucket,
        CORSConfiguration: {
          CORSRules: [
            {
              AllowedOrigins: [webAppOrigin],
              AllowedMethods: ['GET', 'PUT', 'POST'],
              AllowedHeaders: ['*'],
              ExposeHeaders: ['ETag'],
            },
          ],
        },
      }),
    );
  }

  it('should render Swagger UI at /docs listing every operation', async () => {
    await page.goto(`${suite.url}/docs`);
    await page.locator('.opblock').first().waitFor();
    const operations = await page
      .locator('.opblock-summary')
      .evaluateAll((blocks) =>
        blocks.map(
          (b) =>
            `${b.querySelector('.opblock-summary-method')?.textContent} ${b.querySelector('.opblock-summary-path')?.getAttribute('data-path')}`,
        ),
      );
    expect(operations.sort()).toEqual(
      [
        'DELETE /files/{key}',
        'GET /files',
        'GET /files/{key}',
        'GET /health',
        'GET /health/live',
        'HEAD /files/{key}',
        'POST /files',
        'POST /files/delete',
        'POST /files/{key}/copy',
        'POST /files/{key}/move',
        'POST /signed-urls',
        'PUT /files/{key}',
        'DELETE /upload-sessions/{token}/s3/multipart/{uploadId}',
        'GET /upload-sessions/{token}/s3/multipart/{uploadId}',
        'GET /upload-sessions/{token}/s3/multipart/{uploadId}/{partNumber}',
        'GET /upload-sessions/{token}/s3/params',
        'POST /upload-sessions',
        'POST /upload-sessions/{token}/s3/multipart',
        'POST /upload-sessions/{token}/s3/multipart/{uploadId}/complete',
        'PUT /upload-sessions/{token}/s3/multipart/{uploadId}/{partNumber}',
      ].sort(),
    );
    await expect(page.locator('.opblock-tag-section h3').allTextContents()).resolves.toEqual(
      expect.arrayContaining([expect.stringMatching(/^files/), expect.stringMatching(/^signed-urls/)]),
    );
  });

  it('should be stopped by the browser while the bucket has no CORS rule for the page', async () => {
    const key = randomKey('blocked.bin');
    const result = await transfer(randomBytes(1000), 'application/octet-stream', key);
    expect(result.uploadError).toMatch(/Failed to fetch/);
    // A POST form is a CORS "simple request": the browser sends it without a preflight and only hides the answer.
    expect(await stored(key)).toBe(!PUT_ANSWERS);
  });

  it('should upload straight to S3 with a signed PUT and read it back byte-exact through a signed GET', async () => {
    await allowPageOrigin();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const key = randomKey('photo.png');
    const result = await transfer(data, 'image/png', key);
    expect(result).toEqual({
      ...SIGNED_UPLOAD,
      etag: PUT_ANSWERS ? expect.stringMatching(/^"[0-9a-f]{32}"$/) : null,
      downloadStatus: 200,
      contentType: 'image/png',
      size: data.length,
      sha256: sha256(data),
    });
    const viaService = await request(suite.url)
      .get(`/files/${encodeKey(key)}`)
      .buffer(true)
      .parse(binaryParser)
      .expect(200);
    expect(sha256(viaService.body as Buffer)).toBe(sha256(data));
    expect(viaService.headers.etag).toEqual(PUT_ANSWERS ? result.etag : expect.stringMatching(/^"[0-9a-f]{32}"$/));
  });

  it('should upload with a POST policy, S3 refusing a file over maxBytes', async () => {
    await allowPageOrigin();
    const key = randomKey('avatar.jpg');
    const tooBig = await transfer(randomBytes(2001), 'image/jpeg', key, 2000);
    expect(tooBig).toEqual(
      expect.objectContaining({
        uploadMethod: 'POST',
        uploadStatus: 400,
        uploadBody: expect.stringMatching(/EntityTooLarge/),
      }),
    );
    expect(await stored(key)).toBe(false);

    const data = randomBytes(2000);
    const { etag, ...result } = await transfer(data, 'image/jpeg', key, 2000);
    // S3 answers a POST with the new object's ETag; RGW's 204 carries none. Either way the object is the one sent.
    const { ETag } = await suite.s3.s3.send(new HeadObjectCommand({ Bucket: suite.s3.bucket, Key: key }));
    expect([ETag, null]).toContain(etag);
    expect(result).toEqual({
      uploadMethod: 'POST',
      uploadStatus: 204,
      downloadStatus: 200,
      contentType: 'image/jpeg',
      size: data.length,
      sha256: sha256(data),
    });
  });

  it('should send the signed object parameters from the browser (CORS preflight included), which S3 stores', async () => {
    await allowPageOrigin();
    const key = randomKey('notes.txt');
    const data = randomBytes(1000);
    const parameters = { cacheControl: 'private, max-age=60', fileName: 'Notes €.txt', metadata: { owner: '42' } };
    const result = await transfer(data, 'text/plain', key, undefined, parameters);
    expect(result).toMatchObject({ ...SIGNED_UPLOAD, sha256: sha256(data) });
    const head = await suite.s3.s3.send(new HeadObjectCommand({ Bucket: suite.s3.bucket, Key: key }));
    expect(head).toMatchObject({ Metadata: { owner: '42' } });
    // Ceph RGW 16 drops Cache-Control from a POST form, which is what it gets (docs/security.md).
    expect(head.CacheControl).toBe(PUT_ANSWERS ? 'private, max-age=60' : undefined);
    const viaService = await request(suite.url)
      .head(`/files/${encodeKey(key)}`)
      .expect(200);
    expect(viaService.headers['x-meta-owner']).toBe('42');
    // Ceph RGW 16 drops Content-Disposition from a POST form too: the name is then the key's.
    expect(viaService.headers['content-disposition']).toMatch(
      PUT_ANSWERS ? /filename\*=UTF-8''Notes%20%E2%82%AC\.txt$/ : /^inline; filename=notes\.txt$/,
    );
  });
});
