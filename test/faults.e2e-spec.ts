import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { encodeKey, eventually, randomKey, s3Env, sha256, startApp } from './support/app.js';
import { FaultProxy, type FaultMode } from './support/fault-proxy.js';
import { multipartBody, send, type HttpResult } from './support/http.js';
import { liveMultipartUploads, objectExists, startS3Server, type TestS3Server } from './support/s3-server.js';

const MiB = 1024 * 1024;
const REQUEST_TIMEOUT_MS = 1500;
const MAX_ATTEMPTS = 3;
/** The storage health check's result cache (5 s) plus its own time limit (2 s), with a margin. */
const HEALTH_RECOVERY_MS = 9000;

/** Blocks this process's event loop, as a busy machine does: the service, the proxy and the test client all stop. */
const blockEventLoop = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** Faults between the service and S3, injected by a TCP proxy placed where the service expects S3. */
describe('Faults between the service and S3 (e2e)', () => {
  let s3: TestS3Server;
  let proxy: FaultProxy;
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    s3 = await startS3Server();
    proxy = await FaultProxy.start(s3.port);
  });

  // A fresh service per test: the SDK's retry quota, drained by one fault, must not decide the next test.
  beforeEach(async () => {
    ({ app, url } = await startApp(
      s3Env(proxy.endpoint, s3.bucket, {
        S3_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        AWS_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
        MAX_UPLOAD_BYTES: String(64 * MiB),
      }),
    ));
  });

  afterEach(async () => {
    await app?.close();
    await proxy.setMode({ kind: 'pass' });
  });

  afterAll(async () => {
    await proxy?.close();
    await s3?.stop();
  });

  const put = (key: string, data: Buffer): Promise<HttpResult> =>
    send(`${url}/files/${encodeKey(key)}`, { method: 'PUT', body: data, headers: { 'Content-Length': data.length } });

  const postForm = (key: string, data: Buffer): Promise<HttpResult> => {
    const form = multipartBody({ key }, [{ name: 'file', fileName: 'upload.bin', data }]);
    return send(`${url}/files`, {
      method: 'POST',
      body: form.parts,
      headers: { 'Content-Type': form.contentType, 'Content-Length': form.length },
    });
  };

  const get = (key: string, headers: Record<string, string> = {}): Promise<HttpResult> =>
    send(`${url}/files/${encodeKey(key)}`, { headers });

  const stored = (key: string): Promise<boolean> => objectExists(s3.s3, s3.bucket, key);

  /**
   * The SHA-256 of the object as stored, read straight from S3. A download through the service would also test its
   * 1.5 s S3 timeout: on a loaded machine a stall of this process cuts it, and a short body looked like a bad write.
   */
  async function storedSha256(key: string): Promise<string> {
    const out = await s3.s3.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    return sha256((await out.Body?.transformToByteArray()) ?? new Uint8Array());
  }

  async function seed(size: number): Promise<{ key: string; data: Buffer }> {
    const key = randomKey();
    const data = randomBytes(size);
    await s3.s3.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: data }));
    return { key, data };
  }

  /** The service answers normally again: an upload and its download round-trip byte-exact. */
  async function expectServing(): Promise<void> {
    const key = randomKey();
    const data = randomBytes(64 * 1024);
    expect((await put(key, data)).status).toBe(201);
    const back = await get(key);
    expect(back.status).toBe(200);
    expect(sha256(back.body)).toBe(sha256(data));
  }

  /** `/health/` says the truth while S3 fails: 503, storage down (never a 500). */
  async function expectHealthDown(): Promise<void> {
    const res = await send(`${url}/health/`);
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body.toString())).toMatchObject({ status: 'error', error: { storage: { status: 'down' } } });
  }

  /** ...and, once S3 answers again, recovers to 200 when its cached result expires. */
  async function expectHealthRecovers(): Promise<void> {
    await eventually(async () => (await send(`${url}/health/`)).status === 200, HEALTH_RECOVERY_MS);
  }

  function expectJsonError(res: HttpResult, status: number): void {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(res.body.toString()) as Record<string, unknown>;
    expect(body).toEqual({ statusCode: status, error: expect.any(String), message: expect.any(String) });
  }

  describe('S3 unreachable', () => {
    // `checkHealth`: the health check's 5 s result cache makes each check cost that long, so one case per kind.
    it.each<[string, FaultMode, boolean]>([
      ['are refused', { kind: 'refuse' }, true],
      ['are reset', { kind: 'reset' }, false],
      ['are cut before any answer', { kind: 'cut', direction: 'downstream', afterBytes: 0 }, true],
    ])(
      'should answer 503 with Retry-After without waiting for a timeout when connections %s, then recover',
      async (_name, mode, checkHealth) => {
        const { key } = await seed(1000);
        await proxy.setMode(mode);
        if (checkHealth) {
          await expectHealthDown();
        }
        for (const request of [() => get(key), () => put(randomKey(), randomBytes(1000)), () => send(`${url}/files`)]) {
          const started = Date.now();
          const res = await request();
          // Answered, retries included, before a single S3 request timeout would have fired: nothing waited for one.
          expect(Date.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS);
          expectJsonError(res, 503);
          expect(res.headers['retry-after']).toBe('1');
        }
        await proxy.setMode({ kind: 'pass' });
        await expectServing();
        if (checkHealth) {
          await expectHealthRecovers();
        }
      },
    );
  });

  describe('S3 stalls', () => {
    it('should answer 504 when S3 accepts but never answers, and leave no socket open', async () => {
      const { key } = await seed(1000);
      await proxy.setMode({ kind: 'stall' });
      const [download, upload, list] = await Promise.all([
        get(key),
        put(randomKey(), randomBytes(1000)),
        send(`${url}/files`),
        expectHealthDown(),
      ]);
      for (const res of [download, upload, list]) {
        expectJsonError(res, 504);
      }
      // The service gave up on every stalled connection (it closes them just after answering).
      await eventually(() => proxy.openConnections === 0, 1000);
      await proxy.setMode({ kind: 'pass' });
      await expectServing();
      await expectHealthRecovers();
    });

    it('should break a download whose S3 body stalls, and free its socket', async () => {
      const { key } = await seed(2 * MiB);
      await proxy.setMode({ kind: 'stall', direction: 'downstream', afterBytes: 256 * 1024 });
      const res = await get(key);
      expect(res.status).toBe(200);
      expect(res.complete).toBe(false);
      expect(res.body.length).toBeLessThan(2 * MiB);
      await eventually(() => proxy.openConnections === 0);
      await proxy.setMode({ kind: 'pass' });
      await expectServing();
    });
  });

  describe('S3 stops reading mid-upload', () => {
    it('should answer 504 and abort the multipart upload', async () => {
      const key = randomKey();
      // Every connection goes silent after 1 MiB of request; the small AbortMultipartUpload still gets through.
      await proxy.setMode({ kind: 'stall', direction: 'upstream', afterBytes: MiB });
      expectJsonError(await put(key, randomBytes(12 * MiB)), 504);
      await proxy.setMode({ kind: 'pass' });
      expect(await liveMultipartUploads(s3.s3, s3.bucket, key)).toEqual([]);
      expect(await stored(key)).toBe(false);
      await expectServing();
    });
  });

  describe('connection cut mid-upload', () => {
    it.each([
      ['raw PUT, multipart upload', 'PUT', 12 * MiB],
      ['raw PUT, single PutObject', 'PUT', 2 * MiB],
      ['form POST, multipart upload', 'POST', 12 * MiB],
    ])(
      'should answer an error and leave no object and no multipart upload when every attempt is cut (%s)',
      async (_name, method, size) => {
        const key = randomKey();
        await proxy.setMode({ kind: 'cut', direction: 'upstream', afterBytes: MiB });
        const res = method === 'PUT' ? await put(key, randomBytes(size)) : await postForm(key, randomBytes(size));
        expectJsonError(res, 503);
        expect(proxy.stats.cuts).toBeGreaterThan(0);
        await proxy.setMode({ kind: 'pass' });
        expect(await liveMultipartUploads(s3.s3, s3.bucket, key)).toEqual([]);
        expect(await stored(key)).toBe(false);
        await expectServing();
        expect((await send(`${url}/health/`)).status).toBe(200);
      },
    );

    it.each([
      ['raw PUT, multipart upload', 'PUT', 12 * MiB],
      ['raw PUT, single PutObject', 'PUT', 2 * MiB],
      ['form POST, multipart upload', 'POST', 12 * MiB],
    ])('should retry a cut request and store the object byte-exact (%s)', async (_name, method, size) => {
      const key = randomKey();
      const data = randomBytes(size);
      const cutsBefore = proxy.stats.cuts;
      await proxy.setMode({ kind: 'cut', direction: 'upstream', afterBytes: MiB, times: 1 });
      const res = method === 'PUT' ? await put(key, data) : await postForm(key, data);
      expect(res.status).toBe(201);
      expect(proxy.stats.cuts).toBe(cutsBefore + 1);
      expect(await storedSha256(key)).toBe(sha256(data));
      expect(await liveMultipartUploads(s3.s3, s3.bucket, key)).toEqual([]);
    });
  });

  describe("S3's answer to a write lost after it carried the write out", () => {
    it.each([
      ['CompleteMultipartUpload of a raw PUT', /^POST [^ ]*\?uploadId=/, 12 * MiB, {}],
      ['conditional PutObject (If-None-Match: *)', /^PUT [^ ]* HTTP/, 100_000, { 'If-None-Match': '*' }],
      ['PutObject', /^PUT [^ ]* HTTP/, 100_000, {}],
    ])(
      'should answer 201 when the SDK retry fails only because the first attempt succeeded (%s)',
      async (_name, request, size, headers) => {
        const key = randomKey();
        const data = randomBytes(size);
        const cutsBefore = proxy.stats.cuts;
        await proxy.setMode({ kind: 'lose-answer', request, times: 1 });
        const res = await send(`${url}/files/${encodeKey(key)}`, {
          method: 'PUT',
          body: data,
          headers: { 'Content-Length': data.length, ...headers },
        });
        expect(proxy.stats.cuts).toBe(cutsBefore + 1);
        expect(res.status).toBe(201);
        expect(await storedSha256(key)).toBe(sha256(data));
      },
    );
  });

  describe('connection cut mid-download', () => {
    it('should give the client a broken transfer, never a short 200, and keep serving', async () => {
      const { key, data } = await seed(3 * MiB);
      await proxy.setMode({ kind: 'cut', direction: 'downstream', afterBytes: 512 * 1024 });
      const res = await get(key);
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe(String(data.length));
      expect(res.complete).toBe(false);
      expect(res.body.length).toBeLessThan(data.length);

      const ranged = await get(key, { Range: `bytes=0-${2 * MiB - 1}` });
      expect(ranged.status).toBe(206);
      expect(ranged.complete).toBe(false);

      await proxy.setMode({ kind: 'pass' });
      const again = await get(key);
      expect(again.complete).toBe(true);
      expect(sha256(again.body)).toBe(sha256(data));
    });
  });

  describe('client gone mid-download', () => {
    it('should end the S3 transfer at once (its socket closed, not pooled nor left to the S3 timeout)', async () => {
      const { key } = await seed(16 * MiB);
      await proxy.setMode({ kind: 'pass' }); // no pooled socket left: the download's is the only one
      let during = -1;
      await new Promise<void>((resolve, reject) => {
        const req = request(`${url}/files/${encodeKey(key)}`, { agent: false }, (response) => {
          response.once('data', () => {
            during = proxy.openConnections;
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => undefined);
        req.end();
        setTimeout(() => reject(new Error('no body')), 5000).unref();
      });
      expect(during).toBe(1);
      // Well inside the 1.5 s S3 timeout, which would close a transfer nobody ended.
      await eventually(() => proxy.openConnections === 0, REQUEST_TIMEOUT_MS / 3);
      await expectServing();
    });
  });

  describe('this process stalled (a loaded machine)', () => {
    // Node runs due timers before reading sockets, so a stall longer than the S3 timeout fires it though data waits.
    it('should break a download whose S3 socket looked idle while the event loop was blocked, and keep the object', async () => {
      const { key, data } = await seed(12 * MiB);
      const res = await new Promise<HttpResult>((resolve, reject) => {
        const req = request(`${url}/files/${encodeKey(key)}`, { agent: false }, (response) => {
          const chunks: Buffer[] = [];
          response.once('data', () => blockEventLoop(REQUEST_TIMEOUT_MS + 1000));
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', () => undefined);
          response.on('close', () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks),
              complete: response.complete,
            }),
          );
        });
        req.on('error', reject);
        req.end();
      });
      expect(res.status).toBe(200);
      expect(res.headers['content-length']).toBe(String(data.length));
      expect(res.complete).toBe(false);
      expect(res.body.length).toBeLessThan(data.length);
      expect(await storedSha256(key)).toBe(sha256(data));
    });
  });

  describe('S3 answering errors', () => {
    it.each([
      [503, 'SlowDown'],
      [500, 'InternalError'],
    ] as const)('should succeed through the SDK retries when S3 answers %d %s a few times', async (status, code) => {
      const { key, data } = await seed(100_000);
      const answeredBefore = proxy.stats.errorsAnswered;

      await proxy.setMode({ kind: 'error', status, code, times: MAX_ATTEMPTS - 1 });
      const download = await get(key);
      expect(download.status).toBe(200);
      expect(sha256(download.body)).toBe(sha256(data));

      const upload = randomBytes(6 * MiB);
      const uploadKey = randomKey();
      await proxy.setMode({ kind: 'error', status, code, times: MAX_ATTEMPTS - 1 });
      expect((await put(uploadKey, upload)).status).toBe(201);

      await proxy.setMode({ kind: 'error', status, code, times: MAX_ATTEMPTS - 1 });
      expect((await send(`${url}/files`)).status).toBe(200);

      expect(proxy.stats.errorsAnswered - answeredBefore).toBe(3 * (MAX_ATTEMPTS - 1));
      expect(await storedSha256(uploadKey)).toBe(sha256(upload));
    });

    it.each([
      [503, 'SlowDown', 503, true],
      [500, 'InternalError', 502, false],
    ] as const)(
      'should answer %d %s that outlasts the retries as %d, then recover',
      async (status, code, expected, checkHealth) => {
        const { key } = await seed(1000);
        await proxy.setMode({ kind: 'error', status, code, times: 1000 });
        if (checkHealth) {
          await expectHealthDown();
        }
        expectJsonError(await get(key), expected);
        const uploadKey = randomKey();
        expectJsonError(await put(uploadKey, randomBytes(1000)), expected);
        await proxy.setMode({ kind: 'pass' });
        expect(await stored(uploadKey)).toBe(false);
        await expectServing();
        if (checkHealth) {
          await expectHealthRecovers();
        }
      },
    );
  });
});
