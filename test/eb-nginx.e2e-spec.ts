import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import type { BuiltService } from './support/built-service.js';
import { encodeKey, eventually } from './support/app.js';
import {
  describeWithNginx,
  forward,
  kitEnv,
  makePrivateNetwork,
  startEbNginx,
  startServiceInNetwork,
  viaNginx,
  type EbNginx,
  type Forwarder,
  type PrivateNetwork,
  type Reply,
} from './support/eb-nginx.js';
import { startFakeImds, type FakeImds } from './support/fake-imds.js';
import { liveMultipartUploads, startS3Server, testCredentials, type TestS3Server } from './support/s3-server.js';

const HOST = 'files.example.com';
const INSTANCE_IP = '10.0.5.23';
const API_KEY = randomBytes(24).toString('hex');
const METRICS_TOKEN = randomBytes(24).toString('hex');
/** The stalled-body timeout, shortened for the test in both nginx and the service (the kit test keeps them equal). */
const IDLE_SECONDS = 4;
const MiB = 1024 * 1024;

/** /proc/<pid>/stat from its third field (state, ppid, …), or undefined for a process that is gone. */
const readStat = (pid: string): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2);
  } catch {
    return undefined;
  }
};

const json = (reply: Reply): Record<string, unknown> => JSON.parse(reply.body.toString()) as Record<string, unknown>;

describeWithNginx(
  "EB's nginx in front of the built service (e2e: Debian nginx, AL2023 Docker config, the kit's conf.d)",
  () => {
    let s3: TestS3Server;
    let imds: FakeImds;
    let network: PrivateNetwork;
    let toS3: Forwarder;
    let toImds: Forwarder;
    let service: BuiltService;
    let nginx: EbNginx;
    let port: number;

    const clientBodyTemp = () => path.join(nginx.prefix, 'client_body_temp');
    /**
     * Request-body temporary files nginx holds open now. nginx unlinks them as soon as it creates them, so they show
     * only among its workers' open files (/proc/<pid>/fd), never in the directory.
     */
    const spooledFiles = (): number => {
      const workers = readdirSync('/proc').filter(
        (pid) => /^\d+$/.test(pid) && readStat(pid)?.split(' ')[1] === String(nginx.pid),
      );
      return workers
        .flatMap((pid) => {
          try {
            return readdirSync(`/proc/${pid}/fd`).map((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`));
          } catch {
            return [];
          }
        })
        .filter((target) => target.startsWith(clientBodyTemp())).length;
    };
    const lb = (extra: Record<string, string | number> = {}) => ({
      Host: HOST,
      // What the load balancer adds; nginx passes it on, and the service believes it only from a trusted peer.
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-For': '203.0.113.9',
      ...extra,
    });
    const withKey = (extra: Record<string, string | number> = {}) =>
      lb({ Authorization: `Bearer ${API_KEY}`, ...extra });

    beforeAll(async () => {
      network = makePrivateNetwork();
      [s3, imds] = await Promise.all([startS3Server(), startFakeImds({ localIpv4: INSTANCE_IP })]);
      [toS3, toImds] = await Promise.all([
        forward(network.hostAddress, s3.port),
        forward(network.hostAddress, Number(new URL(imds.endpoint).port)),
      ]);
      const credentials = testCredentials();
      service = await startServiceInNetwork(network, {
        ...kitEnv,
        S3_BUCKET: s3.bucket,
        S3_ENDPOINT: `http://${network.hostAddress}:${toS3.port}`,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        ALLOWED_HOSTS: HOST,
        API_KEYS: API_KEY,
        METRICS_TOKEN,
        AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://${network.hostAddress}:${toImds.port}`,
      });
      nginx = await startEbNginx({
        servers: [`${network.serviceAddress}:${service.port}`],
        clientBodyTimeoutSeconds: IDLE_SECONDS,
      });
      port = nginx.port;
    }, 120_000);

    afterAll(async () => {
      await nginx?.stop();
      await service?.stop();
      await Promise.all([toS3?.close(), toImds?.close(), imds?.close()]);
      await s3?.stop();
      network?.remove();
    });

    it('should have the service reach nginx from a private address, not loopback', () => {
      expect(network.hostAddress).toMatch(/^172\.(1[6-9]|2\d|3[01])\./);
      // The service listens inside its namespace: this machine's loopback does not lead to it.
      return expect(viaNginx(service.port, 'GET', '/health/live', lb())).rejects.toThrow(/ECONNREFUSED/);
    });

    it("should stream a 200 MiB upload through nginx without a temporary file, the service's memory flat", async () => {
      const key = `nginx/${randomBytes(4).toString('hex')}/big.bin`;
      const size = 200 * MiB;
      const before = await service.rss();
      let peakRss = before;
      let spooled = 0;
      const hash = createHash('sha256');
      const reply = await new Promise<Reply>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'PUT',
            path: `/files/${encodeKey(key)}`,
            headers: withKey({ 'Content-Type': 'application/octet-stream', 'Content-Length': size }),
            agent: false,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
            );
          },
        );
        req.on('error', reject);
        let sent = 0;
        const chunk = () => {
          // Fresh random bytes per MiB: nothing the size of the upload is ever held, here or anywhere on the way.
          const piece = randomBytes(Math.min(MiB, size - sent));
          hash.update(piece);
          sent += piece.length;
          return piece;
        };
        const pump = async () => {
          while (sent < size) {
            if (sent % (16 * MiB) === 0) {
              peakRss = Math.max(peakRss, await service.rss());
              spooled += spooledFiles();
            }
            if (!req.write(chunk())) {
              await once(req, 'drain');
            }
          }
          req.end();
        };
        pump().catch(reject);
      });
      expect({ status: reply.status, body: json(reply) }).toMatchObject({ status: 201, body: { key, size } });
      expect(spooled).toBe(0);
      // The bench measured large transfers at 30-95 MiB above idle; a buffered body would add its 200 MiB.
      expect(peakRss - before).toBeLessThan(128 * MiB);

      const read = await viaNginx(port, 'GET', `/files/${encodeKey(key)}`, withKey());
      expect(read.status).toBe(200);
      expect(createHash('sha256').update(read.body).digest('hex')).toBe(hash.digest('hex'));
    }, 180_000);

    it('should pass an over-limit upload to the service, which answers its JSON 413 before taking the body', async () => {
      const limit = Number(kitEnv.MAX_UPLOAD_BYTES);
      const reply = await viaNginx(
        port,
        'PUT',
        `/files/nginx-${randomBytes(4).toString('hex')}.bin`,
        withKey({ 'Content-Length': limit + 1 }),
      ).catch((error: Error): Reply => ({ status: 0, headers: {}, body: Buffer.from(error.message) }));
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      expect({ status: reply.status, body: json(reply) }).toMatchObject({
        status: 413,
        body: { statusCode: 413, error: 'Payload Too Large' },
      });
    });

    it('should cut a stalled upload body at the configured timeout, leaving no object and no open upload', async () => {
      const key = `nginx/${randomBytes(4).toString('hex')}/stalled.bin`;
      const started = Date.now();
      const outcome = await new Promise<string>((resolve) => {
        const req = httpRequest({
          host: '127.0.0.1',
          port,
          method: 'PUT',
          path: `/files/${encodeKey(key)}`,
          headers: withKey({ 'Content-Length': 10 * MiB }),
          agent: false,
        });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(String(res.statusCode)));
          res.on('error', () => resolve(`${res.statusCode} cut`));
        });
        req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
        // Part of the body, then nothing: the client stalls.
        req.write(randomBytes(MiB));
      });
      const seconds = (Date.now() - started) / 1000;
      expect(['408', '400', 'ECONNRESET', '408 cut']).toContain(outcome);
      expect(seconds).toBeGreaterThanOrEqual(IDLE_SECONDS - 0.5);
      expect(seconds).toBeLessThan(IDLE_SECONDS + 5);
      await new Promise((r) => setTimeout(r, 1000));
      expect((await viaNginx(port, 'HEAD', `/files/${encodeKey(key)}`, withKey())).status).toBe(404);
      expect(await liveMultipartUploads(s3.s3, s3.bucket, key)).toEqual([]);
    }, 30_000);

    it("should accept the health checker's Host, the instance IP read from IMDS, and refuse others", async () => {
      const health = await viaNginx(port, 'GET', '/health/', {
        Host: INSTANCE_IP,
        'User-Agent': 'ELB-HealthChecker/2.0',
      });
      expect({ status: health.status, body: json(health) }).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect((await viaNginx(port, 'GET', '/health/', { Host: '10.0.5.24' })).status).toBe(400);
    });

    it("should ignore a client's X-Forwarded-Host: only Host counts", async () => {
      const smuggled = await viaNginx(port, 'GET', '/health/', { Host: 'evil.example', 'X-Forwarded-Host': HOST });
      expect(smuggled.status).toBe(400);
      const harmless = await viaNginx(port, 'GET', '/health/', lb({ 'X-Forwarded-Host': 'evil.example' }));
      expect(harmless.status).toBe(200);
    });

    it('should believe X-Forwarded-Proto from nginx on the private network (TRUST_PROXY uniquelocal)', async () => {
      const reply = await viaNginx(
        port,
        'POST',
        '/upload-sessions',
        withKey({ 'Content-Type': 'application/json' }),
        Buffer.from(JSON.stringify({ keyPrefix: 'nginx/' })),
      );
      expect(reply.status).toBe(201);
      expect(json(reply).url).toMatch(new RegExp(`^https://${HOST.replaceAll('.', '\\.')}/upload-sessions/`));
    });

    it("should log the session routes to the run's own access log, never to this host's /var/log/nginx", async () => {
      const marker = randomBytes(8).toString('hex');
      const reply = await viaNginx(port, 'GET', `/upload-sessions/us1.a.b/s3/params?marker=${marker}`, lb());
      expect(reply.status).toBeLessThan(500);
      await eventually(() => nginx.accessLog().includes(marker));
      expect(nginx.accessLog()).toContain(`"GET /upload-sessions/us1.[redacted]/s3/params?marker=${marker} HTTP/1.1"`);
      const hostLog = '/var/log/nginx/access.log';
      expect(existsSync(hostLog) ? readFileSync(hostLog, 'utf8') : '').not.toContain(marker);
    });

    it('should serve /metrics through nginx with its token, and only with it', async () => {
      const metrics = await viaNginx(port, 'GET', '/metrics', lb({ Authorization: `Bearer ${METRICS_TOKEN}` }));
      expect(metrics.status).toBe(200);
      expect(metrics.body.toString()).toMatch(/^http_requests_total\{/m);
      expect((await viaNginx(port, 'GET', '/metrics', lb())).status).toBe(401);
      expect((await viaNginx(port, 'GET', '/metrics', withKey())).status).toBe(401);
    });
  },
);
