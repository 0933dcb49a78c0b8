import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { binaryParser, encodeKey, eventually, s3Env, serviceSuite, sha256 } from './support/app.js';
import { describeInBrowser, launchBrowser, type TestBrowser } from './support/browser.js';
import { request } from './support/openapi.js';
import { listMultipartUploads, testBackend } from './support/s3-server.js';

const RW = 'read-write-key-0123456789abcdef';
const MiB = 1024 * 1024;
const BIG = 64 * MiB;
const PAGE_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'browser-pages', 'uppy-page.ts');

/** What the page reports (test/browser-pages/uppy-page.ts, type-checked apart: it has the DOM's types). */
interface PageUpload {
  sha256: string;
  size: number;
  millis: number;
  paused: boolean;
  aborted: boolean;
  successful: { key?: string; uploadURL?: string; body?: unknown }[];
  failed: string[];
}

/** Stock Uppy (6.3.1) in headless Chromium, holding only an upload-session URL or token, never an API key. */
describeInBrowser(`Uppy in a real browser (e2e against ${testBackend()})`, () => {
  let webApp: Server;
  let webAppOrigin: string;
  let browser: TestBrowser;
  let page: Page;
  /** Every request the page sent to the service's Companion routes: `METHOD path`. */
  const companionCalls: string[] = [];

  beforeAll(async () => {
    const bundle = await build({
      entryPoints: [PAGE_SCRIPT],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'chrome120',
      write: false,
      logLevel: 'silent',
    });
    const html =
      '<!doctype html><html><head><meta charset="utf-8"><title>Uppy</title></head><body>' +
      `<script>${bundle.outputFiles[0].text.replace(/<\/script/gi, '<\\/script')}</script></body></html>`;
    webApp = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
    }).listen(0, '127.0.0.1');
    await once(webApp, 'listening');
    webAppOrigin = `http://127.0.0.1:${(webApp.address() as { port: number }).port}`;
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on('request', (req) => {
      const { pathname, origin } = new URL(req.url());
      if (origin === suite.url && pathname.includes('/s3/')) {
        companionCalls.push(`${req.method()} ${pathname.replace(/^.*\/s3\//, '/s3/')}`);
      }
    });
  }, 120_000);

  // Declared before the suite, so that it runs before the app and S3 stop.
  afterAll(async () => {
    await browser?.close();
    webApp?.close();
  });

  const suite = serviceSuite({
    env: (s3) =>
      s3Env(s3.endpoint, s3.bucket, { API_KEYS: RW, CORS_ORIGINS: webAppOrigin, MAX_UPLOAD_BYTES: String(BIG) }),
  });

  beforeAll(() => page.goto(webAppOrigin));

  beforeEach(() => {
    companionCalls.length = 0;
  });

  afterEach(() => {
    expect(browser.offLoopback).toEqual([]);
  });

  async function newSession(body: Record<string, unknown>): Promise<{ token: string; url: string }> {
    const res = await request(suite.url)
      .post('/upload-sessions')
      .set('Authorization', `Bearer ${RW}`)
      .send(body)
      .expect(201);
    return res.body as { token: string; url: string };
  }

  async function readBack(key: string): Promise<Buffer> {
    const res = await request(suite.url)
      .get(`/files/${encodeKey(key)}`)
      .set('Authorization', `Bearer ${RW}`)
      .buffer(true)
      .parse(binaryParser)
      .expect(200);
    return res.body as Buffer;
  }

  const toS3 = (sessionUrl: string, multipart: boolean, options: Record<string, unknown>) =>
    page.evaluate(
      ([s, m, o]) =>
        (globalThis as unknown as { uploadToS3(s: string, m: boolean, o: unknown): Promise<PageUpload> }).uploadToS3(
          s,
          m,
          o,
        ),
      [sessionUrl, multipart, options] as const,
    );

  const report = (what: string, result: PageUpload) =>
    console.log(`${what}: ${result.size} bytes in ${result.millis} ms (${testBackend()})`);

  it('should upload 64 MiB in parts with @uppy/aws-s3, readable byte-exact through GET /files', async () => {
    const session = await newSession({ keyPrefix: 'uppy/', contentTypes: ['video/*'] });
    // The service runs in this process: its RSS while Uppy uploads (each part streams through it to S3).
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
    const result = await toS3(session.url, true, { size: BIG, name: 'film ü.mp4', type: 'video/mp4' }).finally(() =>
      clearInterval(sampler),
    );
    report('multipart', result);
    console.log(`test process (service in it) RSS: ${baseline >> 20} MiB before, peak ${peak >> 20} MiB during`);
    expect(result.failed).toEqual([]);
    expect(result.successful).toEqual([
      {
        key: expect.stringMatching(/^uppy\/[0-9a-f-]{36}\/film ü\.mp4$/),
        uploadURL: expect.stringMatching(/\/files\/uppy\/[0-9a-f-]{36}\/film%20%C3%BC\.mp4$/),
        body: expect.anything(),
      },
    ]);
    const key = result.successful[0].key!;
    // The file's URL on this service, whatever S3's Location says (Ceph RGW: `host/bucket/key`).
    expect(result.successful[0].uploadURL).toBe(`${suite.url}/files/${encodeKey(key)}`);
    expect(sha256(await readBack(key))).toBe(result.sha256);
    // max(5 MiB, size / 10000) parts, one URL each. Each part is PUT to the service on Ceph RGW, which would apply
    // unsigned x-amz-* headers on a presigned URL; straight to S3 on the development S3, which refuses them as AWS.
    expect(companionCalls.filter((c) => c.startsWith('GET /s3/multipart/'))).toHaveLength(13);
    expect(companionCalls.filter((c) => c.startsWith('PUT /s3/multipart/'))).toHaveLength(
      testBackend() === 'rgw' ? 13 : 0,
    );
    expect(companionCalls.filter((c) => c.startsWith('POST '))).toHaveLength(2);
    expect(await listMultipartUploads(suite.s3.s3, suite.s3.bucket)).toEqual([]);
  }, 180_000);

  it('should pause and resume, listing the parts S3 holds and sending only the rest', async () => {
    const session = await newSession({ keyPrefix: 'uppy/' });
    const result = await toS3(session.url, true, {
      size: 32 * MiB,
      name: 'paused.bin',
      type: 'application/octet-stream',
      pauseAt: 12 * MiB,
      pauseMillis: 1000,
    });
    report('multipart with a pause', result);
    expect(result).toEqual(expect.objectContaining({ paused: true, failed: [] }));
    expect(sha256(await readBack(result.successful[0].key!))).toBe(result.sha256);
    const listed = companionCalls.filter((c) => /^GET \/s3\/multipart\/[^/]+$/.test(c));
    expect(listed).toHaveLength(1);
    expect(await listMultipartUploads(suite.s3.s3, suite.s3.bucket)).toEqual([]);
  }, 180_000);

  it('should abort when the file is removed midway, leaving no multipart upload', async () => {
    const session = await newSession({ keyPrefix: 'uppy-aborted/' });
    const result = await toS3(session.url, true, {
      size: 32 * MiB,
      name: 'removed.bin',
      type: 'application/octet-stream',
      abortAt: 6 * MiB,
    });
    expect(result).toEqual(expect.objectContaining({ aborted: true, successful: [], failed: [] }));
    await eventually(() => companionCalls.some((c) => c.startsWith('DELETE /s3/multipart/')));
    await eventually(async () => (await listMultipartUploads(suite.s3.s3, suite.s3.bucket)).length === 0);
    const listed = await request(suite.url)
      .get('/files?prefix=uppy-aborted/')
      .set('Authorization', `Bearer ${RW}`)
      .expect(200);
    expect(listed.body.items).toEqual([]);
  }, 180_000);

  it('should upload a small file with a POST policy (single part)', async () => {
    const session = await newSession({ key: 'avatars/1.png', maxBytes: MiB, contentTypes: ['image/png'] });
    const result = await toS3(session.url, false, { size: 300_000, name: 'me.png', type: 'image/png' });
    expect(result.failed).toEqual([]);
    // Uppy reports the bucket key (S3_PREFIX is empty here).
    expect(result.successful[0].key).toBe('avatars/1.png');
    expect(sha256(await readBack('avatars/1.png'))).toBe(result.sha256);
    expect(companionCalls).toEqual([expect.stringMatching(/^GET \/s3\/params$/)]);
  });

  it('should fail cleanly in Uppy when the session does not allow the type', async () => {
    const session = await newSession({ keyPrefix: 'uppy/', contentTypes: ['image/*'] });
    const result = await toS3(session.url, true, { size: 6 * MiB, name: 'a.pdf', type: 'application/pdf' });
    expect(result.successful).toEqual([]);
    expect(result.failed).toEqual([expect.stringContaining('Companion request failed')]);
    expect(await listMultipartUploads(suite.s3.s3, suite.s3.bucket)).toEqual([]);
  });

  const toService = (endpoint: string, token: string, options: Record<string, unknown>) =>
    page.evaluate(
      ([e, t, o]) =>
        (
          globalThis as unknown as { uploadToService(e: string, t: string, o: unknown): Promise<PageUpload> }
        ).uploadToService(e, t, o),
      [endpoint, token, options] as const,
    );

  it('should upload through POST /files with @uppy/xhr-upload and the session token', async () => {
    const session = await newSession({ keyPrefix: 'forms/', maxBytes: 4 * MiB });
    const result = await toService(`${suite.url}/files`, session.token, {
      size: 3 * MiB,
      name: 'notes ü.txt',
      type: 'text/plain',
    });
    report('xhr-upload', result);
    expect(result.failed).toEqual([]);
    const body = result.successful[0].body as { key: string; size: number; contentType: string };
    expect(body).toEqual({
      key: expect.stringMatching(/^forms\/[0-9a-f-]{36}\/notes ü\.txt$/),
      size: 3 * MiB,
      contentType: 'text/plain',
      etag: expect.any(String),
    });
    expect(sha256(await readBack(body.key))).toBe(result.sha256);

    const tooBig = await toService(`${suite.url}/files`, session.token, {
      size: 5 * MiB,
      name: 'big.bin',
      type: 'application/octet-stream',
    });
    expect(tooBig.successful).toEqual([]);
    expect(tooBig.failed).toHaveLength(1);
    const listed = await request(suite.url)
      .get('/files?prefix=forms/')
      .set('Authorization', `Bearer ${RW}`)
      .expect(200);
    expect(listed.body.items).toEqual([expect.objectContaining({ key: body.key })]);
  });
});
