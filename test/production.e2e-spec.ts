import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { binaryParser, encodeKey, randomKey, sha256 } from './support/app.js';
import { startFakeImds, type FakeImds } from './support/fake-imds.js';
import { startRecordingProxy, type RecordingProxy } from './support/recording-proxy.js';
import { startS3Server, testCredentials, type TestS3Server } from './support/s3-server.js';
import { startBuiltService, type BuiltService } from './support/built-service.js';

const HOST = 'files.example.com';
const INSTANCE_IP = '10.0.7.42';
const LOAD_BALANCER_PUBLIC_IP = '52.95.110.1';
const READ_WRITE_KEY = `rw-${randomBytes(16).toString('hex')}`;
const READ_ONLY_KEY = `ro-${randomBytes(16).toString('hex')}`;

/** Exactly what a production deployment sets: a bucket, allowed hosts, API keys; credentials from the instance role. */
function productionEnv(s3Endpoint: string, bucket: string, imdsEndpoint: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    PORT: '0',
    LOG_LEVEL: 'info',
    S3_BUCKET: bucket,
    S3_ENDPOINT: s3Endpoint,
    ALLOWED_HOSTS: HOST,
    ALLOWED_HOSTS_FROM_EC2: 'true',
    API_KEYS: READ_WRITE_KEY,
    API_KEYS_READONLY: READ_ONLY_KEY,
    AWS_EC2_METADATA_SERVICE_ENDPOINT: imdsEndpoint,
    S3_REQUEST_TIMEOUT_MS: '5000',
  };
}

const auth = (key: string) => ({ Authorization: `Bearer ${key}`, Host: HOST });

describe('production process (e2e: real process, fake IMDSv2, S3 behind a recording proxy)', () => {
  let s3: TestS3Server;
  let proxy: RecordingProxy;
  let imds: FakeImds;
  let service: BuiltService;

  beforeAll(async () => {
    s3 = await startS3Server();
    // Credentials that expire inside the SDK's 5-minute refresh window are fetched again before each use.
    [proxy, imds] = await Promise.all([
      startRecordingProxy(s3.endpoint, { resignWith: testCredentials() }),
      startFakeImds({ localIpv4: INSTANCE_IP, credentialsTtlMs: 4 * 60_000 }),
    ]);
    service = await startBuiltService(productionEnv(proxy.endpoint, s3.bucket, imds.endpoint));
  });

  afterAll(async () => {
    await service?.stop(0);
    await Promise.all([proxy?.close(), imds?.close(), s3?.stop()]);
  });

  it('should log the credential source, key id prefix and expiry at boot, never the secret', async () => {
    const line = await service.waitForLog((l) => l.msg.startsWith('S3 credentials:'));
    const first = imds.served[0];
    expect(line.msg).toBe(
      `S3 credentials: instance role (IMDS), key id ${first.AccessKeyId.slice(0, 4)}…, expires ${new Date(first.Expiration).toISOString()}`,
    );
    expect(service.output()).not.toContain(first.AccessKeyId);
  });

  it('should talk to IMDS with a session token only (IMDSv1 is off)', () => {
    expect(imds.requests.length).toBeGreaterThan(0);
    expect(imds.requests.filter((r) => r.method === 'GET' && r.token === undefined)).toEqual([]);
    expect(imds.requests[0]).toMatchObject({ method: 'PUT', path: '/latest/api/token' });
  });

  it('should add the instance IP from IMDS to the allowed hosts, so EB health checks pass', async () => {
    const res = await request(service.url).get('/health/').set('Host', INSTANCE_IP).expect(200);
    expect(res.body).toMatchObject({ status: 'ok', details: { process: { status: 'up' }, storage: { status: 'up' } } });
    await request(service.url).get('/health/live').set('Host', `${INSTANCE_IP}:80`).expect(200);
  });

  it("should refuse the load balancer's public IP and unlisted hosts as Host with a 400 JSON error", async () => {
    for (const host of [LOAD_BALANCER_PUBLIC_IP, 'evil.example.org', '127.0.0.1']) {
      const res = await request(service.url).get('/health/').set('Host', host).expect(400);
      expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining(host) });
    }
  });

  it('should upload and download byte-exact, signing S3 requests with the instance-role credentials', async () => {
    const data = randomBytes(300_000);
    const key = randomKey('role.bin');
    const before = proxy.requests.length;
    await request(service.url)
      .put(`/files/${encodeKey(key)}`)
      .set(auth(READ_WRITE_KEY))
      .send(data)
      .expect(201);
    const got = await request(service.url)
      .get(`/files/${encodeKey(key)}`)
      .set(auth(READ_ONLY_KEY))
      .buffer(true)
      .parse(binaryParser)
      .expect(200);
    expect(sha256(got.body)).toBe(sha256(data));

    const signed = proxy.requests.slice(before);
    expect(signed.length).toBeGreaterThanOrEqual(2);
    const { AccessKeyId, Token } = imds.current;
    expect(signed.every((r) => r.keyId === AccessKeyId && r.securityToken === Token)).toBe(true);
  });

  it('should pick up rotated instance-role credentials without a restart', async () => {
    const old = imds.current;
    const rotated = imds.rotate();
    const before = proxy.requests.length;
    const upload = async (name: string) => {
      const key = randomKey(name);
      await request(service.url)
        .put(`/files/${encodeKey(key)}`)
        .set(auth(READ_WRITE_KEY))
        .send('x')
        .expect(201);
      await request(service.url)
        .head(`/files/${encodeKey(key)}`)
        .set(auth(READ_ONLY_KEY))
        .expect(200);
    };
    // Old credentials stay valid until they expire: the SDK may use them once more while it refreshes.
    await upload('during-rotation.bin');
    const until = Date.now() + 5000;
    while (!imds.served.includes(rotated) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const middle = proxy.requests.length;
    await upload('after-rotation.bin');

    // The uploads' requests: the backend probe (boot, or a retry) signs its own, maybe with the old keys meanwhile.
    const uploads = (r: { path: string }) => !/\/\.tus\/probe-/.test(decodeURIComponent(r.path));
    const during = proxy.requests.slice(before, middle).filter(uploads);
    expect(during.every((r) => [old.AccessKeyId, rotated.AccessKeyId].includes(r.keyId!))).toBe(true);
    const after = proxy.requests.slice(middle).filter(uploads);
    expect(after.length).toBeGreaterThanOrEqual(2); // the PutObject and the HeadObject
    expect(after.every((r) => r.keyId === rotated.AccessKeyId && r.securityToken === rotated.Token)).toBe(true);
    expect(service.logs.filter((l) => /listening on http:\/\/localhost:\d+/.test(l.msg))).toHaveLength(1);
  });

  it('should require an API key, and a read-write one to write', async () => {
    const key = encodeKey(randomKey());
    await request(service.url).get('/files').set('Host', HOST).expect(401);
    await request(service.url).get('/files').set({ Host: HOST, Authorization: 'Bearer not-a-key-of-ours' }).expect(401);
    const res = await request(service.url).put(`/files/${key}`).set(auth(READ_ONLY_KEY)).send('x').expect(403);
    expect(res.body).toEqual({ statusCode: 403, error: 'Forbidden', message: expect.stringContaining('read-only') });
    await request(service.url).get('/files').set(auth(READ_ONLY_KEY)).expect(200);
  });

  it('should log one JSON line per request with id, method, path, status, duration and bytes', async () => {
    const key = randomKey('logged.bin');
    await request(service.url)
      .put(`/files/${encodeKey(key)}`)
      .set({ ...auth(READ_WRITE_KEY), 'X-Request-Id': 'trace-123' })
      .send(randomBytes(4096))
      .expect(201);
    const line = await service.waitForLog((l) => (l.req as { id?: string } | undefined)?.id === 'trace-123');
    expect(line).toMatchObject({
      req: { id: 'trace-123', method: 'PUT', path: `/files/${encodeKey(key)}` },
      res: { statusCode: 201 },
      responseTime: expect.any(Number),
      bytesIn: expect.any(Number),
      bytesOut: expect.any(Number),
    });
    expect(line.bytesIn as number).toBeGreaterThanOrEqual(4096);
    expect(line.bytesOut as number).toBeGreaterThan(0);
  });

  it('should keep API keys and AWS secrets out of every log line', () => {
    const output = service.output();
    for (const secret of [READ_WRITE_KEY, READ_ONLY_KEY, 'not-a-key-of-ours']) {
      expect(output).not.toContain(secret);
    }
    for (const credentials of imds.served) {
      expect(output).not.toContain(credentials.SecretAccessKey);
      expect(output).not.toContain(credentials.Token);
      expect(output).not.toContain(credentials.AccessKeyId);
    }
  });

  it('should finish an upload in flight on SIGTERM, answer 503 meanwhile, then exit 0', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const key = randomKey('draining.bin');
    const upload = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${service.url}/files/${encodeKey(key)}`, {
        method: 'PUT',
        headers: { ...auth(READ_WRITE_KEY), 'Content-Length': String(data.length) },
      });
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      // Half now; the rest only once the service is draining.
      req.write(data.subarray(0, data.length / 2));
      void service
        .waitForLog((l) => l.msg.startsWith('SIGTERM: draining'))
        .then(() => setTimeout(() => req.end(data.subarray(data.length / 2)), 500), reject);
    });
    await new Promise((r) => setTimeout(r, 300));
    service.kill('SIGTERM');
    await service.waitForLog((l) => l.msg.startsWith('SIGTERM: draining'));

    const health = await request(service.url).get('/health/').set('Host', INSTANCE_IP).expect(503);
    expect(health.body).toMatchObject({ status: 'error', error: { process: { status: 'down' } } });
    const refused = await request(service.url).get('/files').set(auth(READ_ONLY_KEY)).expect(503);
    expect(refused.body).toEqual({ statusCode: 503, error: 'Service Unavailable', message: expect.any(String) });

    const finished = await upload;
    expect(finished.status).toBe(201);
    expect(JSON.parse(finished.body)).toMatchObject({ key, size: data.length });
    expect(await service.exited).toBe(0);
    expect(service.logs.some((l) => l.msg === 'stopped')).toBe(true);

    const stored = await s3.s3.send(
      new (await import('@aws-sdk/client-s3')).GetObjectCommand({ Bucket: s3.bucket, Key: key }),
    );
    expect(sha256(Buffer.from(await stored.Body!.transformToByteArray()))).toBe(sha256(data));
  });
});

describe('production process without a reachable instance role (e2e)', () => {
  let s3: TestS3Server;
  let imds: FakeImds;
  let service: BuiltService;

  beforeAll(async () => {
    [s3, imds] = await Promise.all([
      startS3Server(),
      startFakeImds({ localIpv4: INSTANCE_IP, dropTokenResponses: true }),
    ]);
  });

  afterAll(async () => {
    await service?.stop(0);
    await Promise.all([imds?.close(), s3?.stop()]);
  });

  it('should still boot in bounded time, naming the IMDSv2 hop limit as the likely cause', async () => {
    const started = Date.now();
    service = await startBuiltService(productionEnv(s3.endpoint, s3.bucket, imds.endpoint));
    expect(Date.now() - started).toBeLessThan(15_000);
    const warnings = service.logs.filter((l) => l.level === 40).map((l) => l.msg);
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/S3 credentials could not be resolved.*hop limit/s),
        expect.stringMatching(/ALLOWED_HOSTS_FROM_EC2: could not read.*hop limit/s),
      ]),
    );
    expect(imds.requests.filter((r) => r.method === 'GET' && r.token === undefined)).toEqual([]);
  });

  it('should report 503 on health, not 500, and refuse the unknown instance IP', async () => {
    const res = await request(service.url).get('/health/').set('Host', HOST).expect(503);
    expect(res.body).toMatchObject({ status: 'error', error: { storage: { status: 'down' } } });
    await request(service.url).get('/health/').set('Host', INSTANCE_IP).expect(400);
  });
});
