import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createApp } from '../src/app.factory.js';
import { METRICS, MetricsServer } from '../src/metrics/metrics.module.js';
import { encodeKey, randomKey, s3Env, s3Suite, sha256, startApp } from './support/app.js';
import { FaultProxy } from './support/fault-proxy.js';
import { send, type HttpResult } from './support/http.js';

const TOKEN = 'metrics-token-0123456789abcdef';
const API_KEY = 'api-key-0123456789abcdef';
const HOST = 'files.example.com';
const SIZE = 40_000;
const UPLOADS = 3;
const DOWNLOADS = 2;

/** One sample per series: `name{a="1",b="2"}` (labels in order) → value. */
type Samples = Map<string, number>;

function parse(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) {
      throw new Error(`not a Prometheus sample: ${line}`);
    }
    const [, name, labels = '', value] = match;
    const numbers: Record<string, number> = { '+Inf': Infinity, '-Inf': -Infinity, NaN: NaN };
    samples.set(labels ? `${name}{${labels}}` : name, numbers[value] ?? Number(value));
  }
  return samples;
}

const series = (name: string, labels: Record<string, string> = {}): string => {
  const text = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  return text ? `${name}{${text}}` : name;
};

/** Sum of every sample of `name` whose labels include `labels`. */
function total(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const [key, value] of samples) {
    const at = key.indexOf('{');
    const sampleName = at === -1 ? key : key.slice(0, at);
    if (sampleName === name && wanted.every((w) => key.includes(w))) {
      sum += value;
    }
  }
  return sum;
}

const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

describe('Prometheus metrics (e2e)', () => {
  let proxy: FaultProxy;

  afterAll(async () => {
    await proxy?.close();
  });

  const suite = s3Suite();

  beforeAll(async () => {
    proxy = await FaultProxy.start(suite.s3.port);
  });

  describe('on the main port, behind METRICS_TOKEN', () => {
    const service = suite.withApp({
      env: (s3) =>
        s3Env(proxy.endpoint, s3.bucket, {
          METRICS_TOKEN: TOKEN,
          API_KEYS: API_KEY,
          ALLOWED_HOSTS: HOST,
          AWS_MAX_ATTEMPTS: '3',
        }),
    });

    afterAll(async () => {
      await proxy.setMode({ kind: 'pass' });
    });

    const api = (path: string, options: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}) =>
      send(`${service.url}${path}`, {
        method: options.method,
        body: options.body,
        headers: {
          Host: HOST,
          ...bearer(API_KEY),
          ...(options.body ? { 'Content-Length': String(options.body.length) } : {}),
          ...options.headers,
        },
      });

    const scrape = async (): Promise<Samples> => {
      // A Host that ALLOWED_HOSTS does not list (a scraper uses the instance's address): the token is what counts.
      const res = await send(`${service.url}/metrics`, { headers: { Host: '10.0.3.17:3000', ...bearer(TOKEN) } });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      return parse(res.body.toString());
    };

    it('should refuse a scrape without the token, with a wrong one, or with an API key', async () => {
      for (const headers of [{}, bearer('wrong-token-0123456789'), bearer(API_KEY), { Authorization: TOKEN }]) {
        const res = await send(`${service.url}/metrics`, { headers: { Host: HOST, ...headers } });
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer realm="metrics"');
        expect(JSON.parse(res.body.toString())).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
        expect(res.body.toString()).not.toContain('http_requests_total');
      }
    });

    it('should count known traffic by route template, method and status, with its bytes and latency', async () => {
      const before = await scrape();
      const prefix = `t-${randomBytes(4).toString('hex')}`;
      const bodies = Array.from({ length: UPLOADS }, () => randomBytes(SIZE));
      for (const [i, body] of bodies.entries()) {
        expect((await api(`/files/${prefix}/${i}.bin`, { method: 'PUT', body })).status).toBe(201);
      }
      for (let i = 0; i < DOWNLOADS; i++) {
        const res = await api(`/files/${prefix}/${i}.bin`);
        expect(res.status).toBe(200);
        expect(sha256(res.body)).toBe(sha256(bodies[i]));
      }
      expect((await api(`/files/${encodeKey(randomKey())}`)).status).toBe(404);
      const after = await scrape();

      const delta = (name: string, labels: Record<string, string>): number =>
        total(after, name, labels) - total(before, name, labels);
      const key = { route: '/files/{key}' };
      expect(delta('http_requests_total', { ...key, method: 'PUT', status: '201' })).toBe(UPLOADS);
      expect(delta('http_requests_total', { ...key, method: 'GET', status: '200' })).toBe(DOWNLOADS);
      expect(delta('http_requests_total', { ...key, method: 'GET', status: '404' })).toBe(1);
      expect(delta('http_request_duration_seconds_count', { ...key, method: 'PUT', status: '201' })).toBe(UPLOADS);
      expect(delta('http_request_duration_seconds_bucket', { ...key, method: 'PUT', status: '201', le: '+Inf' })).toBe(
        UPLOADS,
      );
      expect(delta('http_request_duration_seconds_sum', { ...key, method: 'PUT', status: '201' })).toBeGreaterThan(0);
      // Bytes on the connection: the bodies plus each exchange's headers (well under 2 KiB each).
      const bytesIn = delta('http_request_bytes_total', { ...key, method: 'PUT' });
      expect(bytesIn).toBeGreaterThanOrEqual(UPLOADS * SIZE);
      expect(bytesIn).toBeLessThan(UPLOADS * (SIZE + 2048));
      const bytesOut = delta('http_response_bytes_total', { ...key, method: 'GET' });
      expect(bytesOut).toBeGreaterThanOrEqual(DOWNLOADS * SIZE);
      expect(bytesOut).toBeLessThan((DOWNLOADS + 1) * (SIZE + 2048));
      expect(after.get('http_uploads_in_flight')).toBe(0);
      expect(after.get('http_downloads_in_flight')).toBe(0);

      // The S3 calls behind them: one PutObject per upload, one GetObject per download, and the missing key.
      const s3delta = (operation: string, outcome: string, name = 's3_requests_total'): number =>
        delta(name, { operation, outcome });
      expect(s3delta('PutObject', 'success')).toBe(UPLOADS);
      expect(s3delta('GetObject', 'success')).toBe(DOWNLOADS);
      expect(s3delta('GetObject', 'NotFound')).toBe(1);
      expect(s3delta('PutObject', 'success', 's3_request_duration_seconds_count')).toBe(UPLOADS);
      expect(delta('s3_retries_total', { operation: 'PutObject' })).toBe(0);
    });

    it('should keep route labels bounded: 50 random unknown paths add no series', async () => {
      expect((await api('/no-such-route')).status).toBe(404);
      const before = await scrape();
      const paths = Array.from(
        { length: 50 },
        () => `/${randomBytes(6).toString('hex')}/${randomBytes(4).toString('hex')}`,
      );
      for (const path of paths) {
        expect((await api(path)).status).toBe(404);
      }
      const after = await scrape();
      const httpSeries = (samples: Samples): string[] =>
        [...samples.keys()].filter((k) => k.startsWith('http_')).sort();
      expect(httpSeries(after)).toEqual(httpSeries(before));
      const unmatched = { method: 'GET', route: 'unmatched', status: '404' };
      expect(total(after, 'http_requests_total', unmatched) - total(before, 'http_requests_total', unmatched)).toBe(50);
      const labels = [...after.keys()].join('\n');
      expect(paths.filter((p) => labels.includes(p.split('/')[1]))).toEqual([]);
      // Refused before routing (a Host not allowed): the same one label.
      const refused = await send(`${service.url}/files/x`, {
        headers: { Host: 'evil.example.net', ...bearer(API_KEY) },
      });
      expect(refused.status).toBe(400);
      const last = await scrape();
      expect(last.get(series('http_requests_total', { method: 'GET', route: 'unmatched', status: '400' }))).toBe(1);
      // Scrapes themselves are not counted.
      expect([...last.keys()].filter((k) => k.includes('metrics'))).toEqual([]);
    });

    it('should count S3 errors by outcome and the SDK retries', async () => {
      const key = randomKey();
      const body = randomBytes(1000);
      const before = await scrape();
      // One 503 SlowDown, met by the conditional PutObject: the SDK retries it (one call, two attempts).
      await proxy.setMode({ kind: 'error', status: 503, code: 'SlowDown', times: 1 });
      expect((await api(`/files/${encodeKey(key)}`, { method: 'PUT', body })).status).toBe(201);
      // One 403 AccessDenied: not retried, counted under its storage error code.
      await proxy.setMode({ kind: 'error', status: 403, code: 'AccessDenied', times: 1 });
      const denied = await api(`/files/${encodeKey(key)}`);
      await proxy.setMode({ kind: 'pass' });
      const after = await scrape();
      const delta = (name: string, labels: Record<string, string>): number =>
        total(after, name, labels) - total(before, name, labels);
      expect(delta('s3_requests_total', { operation: 'PutObject', outcome: 'success' })).toBe(1);
      expect(delta('s3_retries_total', { operation: 'PutObject' })).toBe(1);
      expect(delta('s3_retries_total', {})).toBe(1);
      expect(delta('s3_requests_total', { operation: 'GetObject', outcome: 'AccessDenied' })).toBe(1);
      expect(delta('s3_retries_total', { operation: 'GetObject' })).toBe(0);
      expect(
        delta('http_requests_total', { method: 'GET', route: '/files/{key}', status: String(denied.status) }),
      ).toBe(1);
    });

    it('should show an upload in flight until its body has arrived', async () => {
      const key = encodeKey(randomKey());
      const req = request(`${service.url}/files/${key}`, {
        method: 'PUT',
        headers: { Host: HOST, ...bearer(API_KEY), 'Content-Length': String(SIZE) },
      });
      const answered = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      });
      req.write(randomBytes(SIZE / 2));
      let during = await scrape();
      for (let i = 0; i < 50 && during.get('http_uploads_in_flight') === 0; i++) {
        during = await scrape();
      }
      expect(during.get('http_uploads_in_flight')).toBe(1);
      req.end(randomBytes(SIZE / 2));
      expect(await answered).toBe(201);
      const after = await scrape();
      expect(after.get('http_uploads_in_flight')).toBe(0);
    });

    it('should show a download in flight while its client is not reading', async () => {
      const key = randomKey();
      // Larger than the socket buffers between the two, so the service waits on the client.
      await suite.s3.s3.send(
        new PutObjectCommand({ Bucket: suite.s3.bucket, Key: key, Body: Buffer.alloc(16 * 1024 * 1024) }),
      );
      const req = request(`${service.url}/files/${encodeKey(key)}`, { headers: { Host: HOST, ...bearer(API_KEY) } });
      const response = new Promise<IncomingMessage>((resolve, reject) => {
        req.on('response', resolve);
        req.on('error', reject);
      });
      req.end();
      const res = await response;
      res.pause();
      expect(res.statusCode).toBe(200);
      expect((await scrape()).get('http_downloads_in_flight')).toBe(1);
      res.resume();
      await once(res, 'end');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await scrape()).get('http_downloads_in_flight')).toBe(0);
    });

    it("should report the credentials' remaining life (+Inf for long-term static keys) and Node's process metrics", async () => {
      const samples = await scrape();
      expect(
        samples.get(series('s3_credentials_expires_in_seconds', { source: 'static keys (AWS_ACCESS_KEY_ID)' })),
      ).toBe(Infinity);
      expect(samples.get('process_cpu_seconds_total')).toBeGreaterThan(0);
      expect(samples.has('nodejs_eventloop_lag_seconds')).toBe(true);
      expect(samples.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    });
  });

  describe('on METRICS_PORT', () => {
    const startWith = async (extra: Record<string, string>) => {
      const started = await startApp(
        s3Env(suite.s3.endpoint, suite.s3.bucket, {
          API_KEYS: API_KEY,
          ALLOWED_HOSTS: HOST,
          METRICS_PORT: '0',
          ...extra,
        }),
      );
      const address = started.app.get(MetricsServer).address();
      expect(address).toBeDefined();
      return { ...started, metricsUrl: `http://127.0.0.1:${address!.port}` };
    };

    it('should serve the metrics only there, to any Host, and never on the main port', async () => {
      const { app, url, metricsUrl } = await startWith({});
      try {
        expect((await send(`${url}/health/live`, { headers: { Host: HOST } })).status).toBe(200);
        const scraped = await send(`${metricsUrl}/metrics`, { headers: { Host: '10.0.3.17:9464' } });
        expect(scraped.status).toBe(200);
        expect(
          parse(scraped.body.toString()).get(
            series('http_requests_total', {
              method: 'GET',
              route: '/health/live',
              status: '200',
            }),
          ),
        ).toBe(1);
        const head = await send(`${metricsUrl}/metrics`, { method: 'HEAD' });
        expect(head.status).toBe(200);
        expect(head.body.length).toBe(0);
        expect((await send(`${metricsUrl}/files`)).status).toBe(404);
        const main: HttpResult = await send(`${url}/metrics`, { headers: { Host: HOST, ...bearer(API_KEY) } });
        expect(main.status).toBe(404);
        expect(main.body.toString()).not.toContain('http_requests_total');
      } finally {
        await app.close();
      }
    });

    it('should require the token there too when METRICS_TOKEN is set, and keep the main port closed', async () => {
      const { app, url, metricsUrl } = await startWith({ METRICS_TOKEN: TOKEN });
      try {
        expect((await send(`${metricsUrl}/metrics`)).status).toBe(401);
        expect((await send(`${metricsUrl}/metrics`, { headers: bearer('x'.repeat(30)) })).status).toBe(401);
        expect((await send(`${metricsUrl}/metrics`, { headers: bearer(TOKEN) })).status).toBe(200);
        expect((await send(`${url}/metrics`, { headers: { Host: HOST, ...bearer(TOKEN) } })).status).toBe(404);
      } finally {
        await app.close();
      }
      // Closed with the app.
      await expect(send(metricsUrl, { timeoutMs: 2000 })).rejects.toThrow(/ECONNREFUSED/);
    });

    /** This machine's addresses other than loopback, where a listener on every address would answer. */
    const outsideAddresses = (): string[] =>
      Object.values(networkInterfaces())
        .flat()
        .filter((i) => i !== undefined && !i.internal && i.family === 'IPv4')
        .map((i) => i!.address);

    it('should listen on loopback only by default, so no one else reaches metrics without a token', async () => {
      const { app, metricsUrl } = await startWith({});
      try {
        const { address, port } = app.get(MetricsServer).address()!;
        expect(address).toBe('127.0.0.1');
        expect((await send(`${metricsUrl}/metrics`)).status).toBe(200);
        for (const outside of outsideAddresses()) {
          await expect(send(`http://${outside}:${port}/metrics`, { timeoutMs: 2000 })).rejects.toThrow(/ECONNREFUSED/);
        }
      } finally {
        await app.close();
      }
    });

    it('should listen on the address METRICS_PORT names, and refuse to boot there without METRICS_TOKEN', async () => {
      await expect(
        createApp({ env: s3Env(suite.s3.endpoint, suite.s3.bucket, { METRICS_PORT: '0.0.0.0:0' }) }),
      ).rejects.toThrow('METRICS_TOKEN is required when METRICS_PORT listens on an address other than loopback');
      const { app } = await startWith({ METRICS_PORT: '0.0.0.0:0', METRICS_TOKEN: TOKEN });
      try {
        const { address, port } = app.get(MetricsServer).address()!;
        expect(address).toBe('0.0.0.0');
        for (const host of ['127.0.0.1', ...outsideAddresses()]) {
          expect((await send(`http://${host}:${port}/metrics`)).status).toBe(401);
          expect((await send(`http://${host}:${port}/metrics`, { headers: bearer(TOKEN) })).status).toBe(200);
        }
      } finally {
        await app.close();
      }
    });
  });

  it('should stop the boot with a clear error when METRICS_PORT is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    const app = await createApp({
      env: s3Env(suite.s3.endpoint, suite.s3.bucket, { METRICS_PORT: String(port) }),
    });
    try {
      await expect(app.listen(0, '127.0.0.1')).rejects.toThrow(
        `METRICS_PORT ${port} on 127.0.0.1 cannot be used: listen EADDRINUSE`,
      );
    } finally {
      await app.close();
      taken.close();
    }
  });

  describe('by default', () => {
    const service = suite.withApp({ env: { API_KEYS: API_KEY, ALLOWED_HOSTS: HOST } });

    it('should be off: no /metrics on either port, no Metrics to record into', async () => {
      expect(service.app.get(METRICS)).toBeNull();
      expect(service.app.get(MetricsServer).address()).toBeUndefined();
      const res = await send(`${service.url}/metrics`, { headers: { Host: HOST, ...bearer(API_KEY) } });
      expect(res.status).toBe(404);
    });
  });
});
