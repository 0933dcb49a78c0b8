import { createHash, randomBytes } from 'node:crypto';
import { eventually, s3Env } from './support/app.js';
import { startEbNginx } from './support/eb-nginx.js';
import { startBuiltService, type BuiltService } from './support/built-service.js';
import { FaultProxy } from './support/fault-proxy.js';
import { send, type HttpResult } from './support/http.js';
import { startS3Server, testBackend, type TestS3Server } from './support/s3-server.js';

const API_KEY = 'rw-log-redaction-0123456789abcdef';
const MiB = 1024 * 1024;

/**
 * A whole upload-session run against the compiled service logging at trace level: every Companion route, tus and
 * `POST /files` with the token, the token in odd spellings, a refused Host and an S3 outage (5xx error lines). The
 * token, its MAC and anything a signed query string carries must be in none of the output; the fingerprint must be.
 */
describe(`Log redaction of capabilities (e2e against ${testBackend()})`, () => {
  let s3: TestS3Server;
  let proxy: FaultProxy;
  let service: BuiltService;

  beforeAll(async () => {
    s3 = await startS3Server();
    proxy = await FaultProxy.start(s3.port);
    service = await startBuiltService(
      s3Env(proxy.endpoint, s3.bucket, {
        LOG_LEVEL: 'trace',
        API_KEYS: API_KEY,
        SIGNING_SECRET: 's'.repeat(32),
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
    await proxy?.close();
    await s3?.stop();
  });

  const json = (res: HttpResult): Record<string, unknown> => JSON.parse(res.body.toString()) as Record<string, unknown>;
  const call = (method: string, path: string, body?: object, headers: Record<string, string> = {}) =>
    send(`${service.url}${path}`, {
      method,
      headers: { ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(body ? { body: Buffer.from(JSON.stringify(body)) } : {}),
    });

  it('should write no upload-session token, MAC or URL signature to any log line', async () => {
    const created = await call(
      'POST',
      '/upload-sessions',
      { keyPrefix: 'users/42/', maxBytes: 64 * MiB },
      {
        Authorization: `Bearer ${API_KEY}`,
      },
    );
    expect(created.status).toBe(201);
    const { token } = json(created) as { token: string };
    const base = `/upload-sessions/${token}/s3`;
    const bearer = { Authorization: `Bearer ${token}` };

    // Companion, as @uppy/aws-s3 drives it: a single upload's params, then a multipart upload start to finish.
    expect((await call('GET', `${base}/params?filename=a.txt&type=text/plain`)).status).toBe(200);
    const started = await call('POST', `${base}/multipart`, { filename: 'big.bin', type: 'application/octet-stream' });
    expect(started.status).toBe(200);
    const { key, uploadId } = json(started) as { key: string; uploadId: string };
    const q = `?key=${encodeURIComponent(key)}`;
    const signed = await call('GET', `${base}/multipart/${encodeURIComponent(uploadId)}/1${q}`);
    expect(signed.status).toBe(200);
    const partUrl = (json(signed) as { url: string }).url;
    const part = await send(partUrl, { method: 'PUT', headers: { 'Content-Length': 1024 }, body: randomBytes(1024) });
    expect(part.status).toBe(200);
    const etag = String(part.headers.etag);
    expect((await call('GET', `${base}/multipart/${encodeURIComponent(uploadId)}${q}`)).status).toBe(200);
    const completed = await call('POST', `${base}/multipart/${encodeURIComponent(uploadId)}/complete${q}`, {
      parts: [{ PartNumber: 1, ETag: etag }],
    });
    expect(completed.status).toBe(200);
    const aborted = json(await call('POST', `${base}/multipart`, { filename: 'gone.bin' })) as {
      key: string;
      uploadId: string;
    };
    expect(
      (await call('DELETE', `${base}/multipart/${encodeURIComponent(aborted.uploadId)}?key=${aborted.key}`)).status,
    ).toBe(204);

    // The token as a bearer credential: POST /files and tus.
    const boundary = 'redaction-boundary';
    const form = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.txt"\r\n` +
        `Content-Type: text/plain\r\n\r\nhello\r\n--${boundary}--\r\n`,
    );
    const posted = await send(`${service.url}/files`, {
      method: 'POST',
      headers: { ...bearer, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
      body: form,
    });
    expect(posted.status).toBe(201);
    const tus = await call('POST', '/uploads', undefined, {
      ...bearer,
      'Tus-Resumable': '1.0.0',
      'Upload-Length': '5',
      'Upload-Metadata': `filename ${Buffer.from('t.txt').toString('base64')}`,
    });
    expect(tus.status).toBe(201);

    // The token in other spellings a router still accepts, a forged one, and a refused Host.
    const [scope, mac] = token.slice('us1.'.length).split('.');
    const odd = [
      `/UPLOAD-SESSIONS/${token}/s3/params?filename=b.txt`,
      `/upload-sessions/us1%2E${scope}%2E${mac}/s3/params?filename=b.txt`,
      `/upload-sessions/${token.replace(/\./g, '%2e')}/s3/params`,
      `//upload-sessions//${token}/s3/params`,
      `/nowhere/${token}`,
      `/upload-sessions/${token}/s3/multipart/x/1?key=k&X-Amz-Signature=${mac}&X-Amz-Credential=${mac}`,
    ];
    for (const path of odd) {
      expect((await call('GET', path)).status).toBeLessThan(500);
    }
    expect((await call('GET', `${base}/params`, undefined, { Host: 'evil.example' })).status).toBe(400);

    // S3 unreachable: the Companion routes answer 5xx, and the error filter logs the request.
    await proxy.setMode({ kind: 'refuse' });
    expect((await call('POST', `${base}/multipart`, { filename: 'down.bin' })).status).toBeGreaterThanOrEqual(500);
    expect((await call('GET', `${base}/multipart/${encodeURIComponent(uploadId)}${q}`)).status).toBeGreaterThanOrEqual(
      500,
    );
    await proxy.setMode({ kind: 'pass' });
    // The last lines are written by the time the answer is read; give the pipe a moment.
    await new Promise((resolve) => setTimeout(resolve, 200));

    const logs = service.output();
    const fingerprint = createHash('sha256').update(token).digest('hex').slice(0, 8);
    // The run was logged: the Companion routes, the 5xx and their error lines, with the token's fingerprint.
    expect(logs).toContain(`/upload-sessions/us1.…#${fingerprint}/s3/multipart`);
    expect(logs).toMatch(/"statusCode":50[234]/);
    expect(logs).toMatch(/"context":"HttpError".*us1\.…#/);
    for (const secret of [token, mac, encodeURIComponent(token), token.replace(/\./g, '%2e'), `${scope}%2E${mac}`]) {
      expect(logs).not.toContain(secret);
    }
  }, 60_000);

  it("should keep the token out of EB nginx's access log, with the kit's conf.d", async () => {
    const nginx = await startEbNginx({ servers: [`127.0.0.1:${new URL(service.url).port}`] });
    const url = `http://127.0.0.1:${nginx.port}`;
    try {
      const created = await send(`${url}/upload-sessions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
        body: Buffer.from(JSON.stringify({ key: 'avatars/1.png', maxBytes: MiB })),
      });
      expect(created.status).toBe(201);
      const { token } = json(created) as { token: string };
      const [scope, mac] = token.slice('us1.'.length).split('.');
      const paths = [
        `/upload-sessions/${token}/s3/params?filename=a.png&type=image/png`,
        `/Upload-Sessions/${token}/s3/params?filename=a.png&type=image/png`,
        `//upload-sessions/${token}/s3/params?filename=a.png&type=image/png`,
        `/upload-sessions/us1%2E${scope}%2e${mac}/s3/params?filename=a.png&type=image/png`,
        `/%75pload-sessions/${token}/s3/params?filename=a.png&type=image/png`,
        `/upload-sessions/${token}/s3/multipart/x/1?key=k&X-Amz-Signature=${mac}`,
        `/files/${token}`,
      ];
      const answers = [];
      for (const p of paths) {
        answers.push((await send(`${url}${p}`, { headers: { Authorization: `Bearer ${API_KEY}` } })).status);
      }
      // The service answered them all (nginx proxied every spelling), 200 where it routes the token.
      expect([answers[0], answers[1], answers[3]]).toEqual([200, 200, 200]);
      expect(answers.every((status) => status < 500)).toBe(true);
      // nginx writes a request's line after its answer: wait for all of them (its start-up check, the POST, the paths).
      const lines = () => nginx.accessLog().trim().split('\n');
      await eventually(() => lines().length >= paths.length + 2);
      const log = nginx.accessLog();
      expect(lines()).toHaveLength(paths.length + 2);
      expect(lines()[2]).toMatch(
        /"GET \/upload-sessions\/us1\.\[redacted\]\/s3\/params\?filename=a\.png&type=image\/png HTTP\/1\.1" 200 /,
      );
      for (const secret of [token, mac, `${scope}%2e${mac}`, scope]) {
        expect(log).not.toContain(secret);
      }
    } finally {
      await nginx.stop();
    }
  }, 60_000);
});
