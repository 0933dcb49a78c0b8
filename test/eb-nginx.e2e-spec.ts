import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { load as loadYaml } from 'js-yaml';
import { startServiceProcess, type ServiceProcess } from '../dev/service-process.ts';
import { encodeKey } from './support/app.js';
import { ensureBuilt } from './support/built-service.js';
import { startFakeImds, type FakeImds } from './support/fake-imds.js';
import { liveMultipartUploads, startS3Server, testCredentials, type TestS3Server } from './support/s3-server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NGINX = '/usr/sbin/nginx';
const HOST = 'files.example.com';
const INSTANCE_IP = '10.0.5.23';
const API_KEY = randomBytes(24).toString('hex');
const METRICS_TOKEN = randomBytes(24).toString('hex');
/** The stalled-body timeout, shortened for the test in both nginx and the service (the kit test keeps them equal). */
const IDLE_SECONDS = 4;
const MiB = 1024 * 1024;

/** The kit's environment defaults (.ebextensions/01-environment.config), as EB hands them to the container. */
const kitEnv = (
  loadYaml(readFileSync(path.join(ROOT, '.ebextensions/01-environment.config'), 'utf8')) as {
    option_settings: Record<string, Record<string, string>>;
  }
).option_settings['aws:elasticbeanstalk:application:environment'];

/**
 * The nginx.conf of EB's Docker platform on Amazon Linux 2023, rebuilt from AWS's documentation
 * ("Extending Elastic Beanstalk Linux platforms", Reverse proxy configuration: an `http` block that includes
 * conf.d/*.conf, a default server on port 80 that proxies to the `docker` upstream with EB's headers and includes
 * conf.d/elasticbeanstalk/*.conf) and the file as it stands on such instances. Differences, all test scaffolding:
 * a loopback port instead of 80, paths under a temporary prefix, no `user nginx` (Debian has no such user), and
 * EB's enhanced-health access log (conf.d/elasticbeanstalk/healthd.conf) left out.
 */
const ebNginxConf = (prefix: string, port: number): string => `# Elastic Beanstalk Nginx Configuration File
worker_processes  auto;
error_log  ${prefix}/logs/error.log;
pid        ${prefix}/nginx.pid;
worker_rlimit_nofile    200000;

events {
    worker_connections  1024;
}

http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    access_log    ${prefix}/logs/access.log;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    include  conf.d/*.conf;

    map $http_upgrade $connection_upgrade {
            default       "upgrade";
    }

    server {
        listen 127.0.0.1:${port} default_server;
        gzip on;
        gzip_comp_level 4;
        gzip_types text/plain text/css application/json application/x-javascript text/xml application/xml application/xml+rss text/javascript;

        access_log    ${prefix}/logs/access.log main;

        location / {
            proxy_pass            http://docker;
            proxy_http_version    1.1;

            proxy_set_header    Connection             $connection_upgrade;
            proxy_set_header    Upgrade                $http_upgrade;
            proxy_set_header    Host                   $host;
            proxy_set_header    X-Real-IP              $remote_addr;
            proxy_set_header    X-Forwarded-For        $proxy_add_x_forwarded_for;
        }

        # Include the Elastic Beanstalk generated locations
        include conf.d/elasticbeanstalk/*.conf;
    }
}
`;

/** The private network EB's nginx reaches the container on: a network namespace joined to this one by a veth pair. */
interface PrivateNetwork {
  readonly name: string;
  /** This side's address (nginx, and the forwarders to S3 and IMDS). */
  readonly hostAddress: string;
  /** The service's address inside the namespace. */
  readonly serviceAddress: string;
  remove(): void;
}

const run = (command: string, args: string[]): void => {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr || result.error?.message}`);
  }
};

/** Why a network namespace cannot be made here, or undefined when it can. */
function namespacesUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) {
    return 'not root: `ip netns` needs CAP_NET_ADMIN';
  }
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : `\`ip netns\` is unavailable (${probe.stderr || probe.error?.message})`;
}

/** A 172.16.0.0/12 /30 (proxy-addr's `uniquelocal`, like Docker's 172.17.0.0/16 bridge), random per run. */
function makePrivateNetwork(): PrivateNetwork {
  const id = randomBytes(3).toString('hex');
  const name = `s3fs-${id}`;
  const [b, c] = [20 + (parseInt(id.slice(0, 2), 16) % 11), parseInt(id.slice(2, 4), 16)];
  const base = (parseInt(id.slice(4, 6), 16) % 64) * 4;
  const hostAddress = `172.${b}.${c}.${base + 1}`;
  const serviceAddress = `172.${b}.${c}.${base + 2}`;
  const [outer, inner] = [`vh${id}`, `vn${id}`];
  const remove = (): void => {
    spawnSync('ip', ['link', 'del', outer]);
    spawnSync('ip', ['netns', 'del', name]);
  };
  try {
    run('ip', ['netns', 'add', name]);
    run('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner]);
    run('ip', ['link', 'set', inner, 'netns', name]);
    run('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', outer]);
    run('ip', ['link', 'set', outer, 'up']);
    run('ip', ['netns', 'exec', name, 'ip', 'addr', 'add', `${serviceAddress}/30`, 'dev', inner]);
    run('ip', ['netns', 'exec', name, 'ip', 'link', 'set', inner, 'up']);
    run('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (error) {
    remove();
    throw error;
  }
  return { name, hostAddress, serviceAddress, remove };
}

/** A TCP forwarder on `address` to a loopback port: how the namespaced service reaches S3 and the fake IMDS. */
async function forward(address: string, targetPort: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, address);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const s of sockets) {
        s.destroy();
      }
      server.close();
      await once(server, 'close');
    },
  };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request through nginx, with the headers the load balancer would send. */
function viaNginx(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string | number>,
  body?: Buffer,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

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

const unavailable = namespacesUnavailable() ?? (existsSync(NGINX) ? undefined : `${NGINX} is not installed`);
const inCi = /^(true|1)$/i.test(process.env.CI ?? '');

/**
 * `describe` when nginx and network namespaces are available. Without them: in CI a failing test (.ci/run installs
 * nginx and runs as root); elsewhere a skipped suite whose name says why.
 */
function describeWithNginx(name: string, body: () => void): void {
  if (unavailable === undefined) {
    describe(name, body);
  } else if (inCi) {
    describe(name, () => {
      it('should have nginx and network namespaces: CI must run this suite', () => {
        throw new Error(unavailable);
      });
    });
  } else {
    describe.skip(`${name} [SKIPPED: ${unavailable}]`, body);
  }
}

describeWithNginx(
  "EB's nginx in front of the built service (e2e: Debian nginx, AL2023 Docker config, the kit's conf.d)",
  () => {
    let s3: TestS3Server;
    let imds: FakeImds;
    let network: PrivateNetwork;
    let toS3: Awaited<ReturnType<typeof forward>>;
    let toImds: Awaited<ReturnType<typeof forward>>;
    let service: ServiceProcess;
    let nginx: ChildProcess;
    let prefix: string;
    let port: number;

    const clientBodyTemp = () => path.join(prefix, 'client_body_temp');
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
      [s3, imds] = await Promise.all([startS3Server(), startFakeImds({ localIpv4: INSTANCE_IP }), ensureBuilt()]);
      [toS3, toImds] = await Promise.all([
        forward(network.hostAddress, s3.port),
        forward(network.hostAddress, Number(new URL(imds.endpoint).port)),
      ]);
      const credentials = testCredentials();
      const cwd = mkdtempSync(path.join(tmpdir(), 's3-file-service-netns-'));
      service = await startServiceProcess({
        main: path.join(ROOT, 'dist/main.js'),
        cwd,
        launcher: ['ip', 'netns', 'exec', network.name],
        env: {
          ...kitEnv,
          PORT: '0',
          HOME: cwd,
          S3_BUCKET: s3.bucket,
          S3_ENDPOINT: `http://${network.hostAddress}:${toS3.port}`,
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
          ALLOWED_HOSTS: HOST,
          API_KEYS: API_KEY,
          METRICS_TOKEN,
          AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://${network.hostAddress}:${toImds.port}`,
        },
      });

      // nginx as EB lays it out under /etc/nginx: nginx.conf, conf.d/ (EB's upstream file and the kit's
      // .platform/nginx/conf.d/*.conf), conf.d/elasticbeanstalk/ (the kit's, if any).
      prefix = mkdtempSync(path.join(tmpdir(), 'eb-nginx-'));
      // nginx's workers run as an unprivileged user and write their temporary files under the prefix.
      chmodSync(prefix, 0o755);
      const conf = path.join(prefix, 'conf');
      mkdirSync(path.join(conf, 'conf.d', 'elasticbeanstalk'), { recursive: true });
      mkdirSync(path.join(prefix, 'logs'));
      const free = createServer().listen(0, '127.0.0.1');
      await once(free, 'listening');
      port = (free.address() as AddressInfo).port;
      free.close();
      writeFileSync(path.join(conf, 'nginx.conf'), ebNginxConf(prefix, port));
      writeFileSync(
        path.join(conf, 'conf.d', 'elasticbeanstalk-nginx-docker-upstream.conf'),
        `upstream docker {\n    server ${network.serviceAddress}:${service.port};\n    keepalive 256;\n}\n`,
      );
      const kit = path.join(ROOT, '.platform/nginx/conf.d');
      for (const file of readdirSync(kit).filter((f) => f.endsWith('.conf'))) {
        const text = readFileSync(path.join(kit, file), 'utf8');
        writeFileSync(
          path.join(conf, 'conf.d', file),
          text.replace(/^(\s*client_body_timeout\s+)\d+s;/m, `$1${IDLE_SECONDS}s;`),
        );
      }
      const kitEb = path.join(kit, 'elasticbeanstalk');
      for (const file of existsSync(kitEb) ? readdirSync(kitEb).filter((f) => f.endsWith('.conf')) : []) {
        copyFileSync(path.join(kitEb, file), path.join(conf, 'conf.d', 'elasticbeanstalk', file));
      }
      // Test scaffolding: the temporary files nginx would write, inside the prefix where the test can watch them.
      writeFileSync(
        path.join(conf, 'conf.d', 'zz-test-temp-paths.conf'),
        ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
          .map((kind) => `${kind}_temp_path ${prefix}/${kind}_temp;\n`)
          .join(''),
      );
      const args = ['-p', `${prefix}/`, '-c', path.join(conf, 'nginx.conf'), '-e', path.join(prefix, 'logs/error.log')];
      run(NGINX, [...args, '-t', '-q']);
      nginx = spawn(NGINX, [...args, '-g', 'daemon off;'], { stdio: 'ignore' });
      for (let i = 0; ; i++) {
        const up = await viaNginx(port, 'GET', '/health/live', lb()).catch(() => undefined);
        if (up) {
          break;
        }
        if (i > 100) {
          throw new Error(`nginx did not start: ${readFileSync(path.join(prefix, 'logs/error.log'), 'utf8')}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }, 120_000);

    afterAll(async () => {
      if (nginx) {
        nginx.kill('SIGTERM');
        await once(nginx, 'exit');
      }
      await service?.stop();
      await Promise.all([toS3?.close(), toImds?.close(), imds?.close()]);
      await s3?.stop();
      network?.remove();
      if (prefix) {
        rmSync(prefix, { recursive: true, force: true });
      }
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

    it('should serve /metrics through nginx with its token, and only with it', async () => {
      const metrics = await viaNginx(port, 'GET', '/metrics', lb({ Authorization: `Bearer ${METRICS_TOKEN}` }));
      expect(metrics.status).toBe(200);
      expect(metrics.body.toString()).toMatch(/^http_requests_total\{/m);
      expect((await viaNginx(port, 'GET', '/metrics', lb())).status).toBe(401);
      expect((await viaNginx(port, 'GET', '/metrics', withKey())).status).toBe(401);
    });
  },
);
