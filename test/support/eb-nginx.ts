import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { load as loadYaml } from 'js-yaml';
import { startBuiltService, type BuiltService } from './built-service.js';

/**
 * EB's nginx for the e2e suites: Debian's nginx with the configuration of EB's AL2023 Docker platform and the kit's
 * `.platform/nginx/conf.d`, in front of built service processes in a network namespace (EB's nginx reaches the
 * container over the Docker bridge, a private address, not loopback).
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const NGINX = '/usr/sbin/nginx';

/** The kit's environment defaults (.ebextensions/01-environment.config), as EB hands them to the container. */
export const kitEnv = (
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
export interface PrivateNetwork {
  readonly name: string;
  /** This side's address (nginx, and the forwarders to S3 and IMDS). */
  readonly hostAddress: string;
  /** The service's address inside the namespace. */
  readonly serviceAddress: string;
  remove(): void;
}

export const run = (command: string, args: string[]): void => {
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
export function makePrivateNetwork(): PrivateNetwork {
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

export interface Forwarder {
  readonly port: number;
  close(): Promise<void>;
}

/** A TCP forwarder on `address` to a loopback port: how the namespaced service reaches S3 and the fake IMDS. */
export async function forward(address: string, targetPort: number): Promise<Forwarder> {
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

/** The built service (`dist/main.js`) started inside the network's namespace with exactly `env` (plus PORT=0). */
export function startServiceInNetwork(network: PrivateNetwork, env: Record<string, string>): Promise<BuiltService> {
  return startBuiltService({ ...env, PORT: '0' }, { launcher: ['ip', 'netns', 'exec', network.name] });
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One request through nginx, with the headers the load balancer would send. */
export function viaNginx(
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

export interface EbNginxOptions {
  /** The `docker` upstream's servers (`address:port`), as EB's generated upstream file lists its container. */
  readonly servers: readonly string[];
  /** Replaces the kit's `client_body_timeout` (to test the stalled-body cut quickly). */
  readonly clientBodyTimeoutSeconds?: number;
  /** Test scaffolding added to the upstream block and to the `http` block (in conf.d, after the kit's files). */
  readonly upstreamExtra?: string;
  readonly httpExtra?: string;
}

export interface EbNginx {
  readonly port: number;
  /** nginx's `-p` prefix: its configuration, logs and temporary files are under it. */
  readonly prefix: string;
  readonly pid: number;
  /** The access log of EB's server block (format "main"). */
  accessLog(): string;
  stop(): Promise<void>;
}

/**
 * nginx as EB lays it out under /etc/nginx: nginx.conf, conf.d/ (EB's upstream file and the kit's
 * .platform/nginx/conf.d/*.conf), conf.d/elasticbeanstalk/ (the kit's), started and answering.
 */
export async function startEbNginx(options: EbNginxOptions): Promise<EbNginx> {
  const prefix = mkdtempSync(path.join(tmpdir(), 'eb-nginx-'));
  // nginx's workers run as an unprivileged user and write their temporary files under the prefix.
  chmodSync(prefix, 0o755);
  const conf = path.join(prefix, 'conf');
  mkdirSync(path.join(conf, 'conf.d', 'elasticbeanstalk'), { recursive: true });
  mkdirSync(path.join(prefix, 'logs'));
  const free = createServer().listen(0, '127.0.0.1');
  await once(free, 'listening');
  const port = (free.address() as AddressInfo).port;
  free.close();
  writeFileSync(path.join(conf, 'nginx.conf'), ebNginxConf(prefix, port));
  const servers = options.servers.map((server) => `    server ${server};\n`).join('');
  writeFileSync(
    path.join(conf, 'conf.d', 'elasticbeanstalk-nginx-docker-upstream.conf'),
    `upstream docker {\n${servers}    keepalive 256;\n${options.upstreamExtra ?? ''}}\n`,
  );
  // The kit's files as they are, but for the test's knobs and for their logs, which go to the run's own prefix (the
  // session location logs to /var/log/nginx/access.log as on EB: this host's real log).
  const kitFile = (from: string, to: string): void => {
    const timeout = options.clientBodyTimeoutSeconds;
    const text = readFileSync(from, 'utf8').replaceAll('/var/log/nginx/', `${prefix}/logs/`);
    writeFileSync(
      to,
      timeout === undefined ? text : text.replace(/^(\s*client_body_timeout\s+)\d+s;/m, `$1${timeout}s;`),
    );
  };
  const kit = path.join(ROOT, '.platform/nginx/conf.d');
  for (const file of readdirSync(kit).filter((f) => f.endsWith('.conf'))) {
    kitFile(path.join(kit, file), path.join(conf, 'conf.d', file));
  }
  const kitEb = path.join(kit, 'elasticbeanstalk');
  for (const file of existsSync(kitEb) ? readdirSync(kitEb).filter((f) => f.endsWith('.conf')) : []) {
    kitFile(path.join(kitEb, file), path.join(conf, 'conf.d', 'elasticbeanstalk', file));
  }
  // Test scaffolding: the temporary files nginx would write, inside the prefix where a test can watch them.
  writeFileSync(
    path.join(conf, 'conf.d', 'zz-test-temp-paths.conf'),
    ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
      .map((kind) => `${kind}_temp_path ${prefix}/${kind}_temp;\n`)
      .join('') + (options.httpExtra ?? ''),
  );
  const args = ['-p', `${prefix}/`, '-c', path.join(conf, 'nginx.conf'), '-e', path.join(prefix, 'logs/error.log')];
  const remove = () => rmSync(prefix, { recursive: true, force: true });
  let nginx: ChildProcess;
  try {
    run(NGINX, [...args, '-t', '-q']);
    nginx = spawn(NGINX, [...args, '-g', 'daemon off;'], { stdio: 'ignore' });
  } catch (error) {
    remove();
    throw error;
  }
  const stop = async () => {
    if (nginx.exitCode === null && nginx.signalCode === null) {
      nginx.kill('SIGTERM');
      await once(nginx, 'exit');
    }
    remove();
  };
  for (let i = 0; ; i++) {
    const up = await viaNginx(port, 'GET', '/health/live', {}).catch(() => undefined);
    if (up) {
      break;
    }
    if (i > 100) {
      const log = readFileSync(path.join(prefix, 'logs/error.log'), 'utf8');
      await stop();
      throw new Error(`nginx did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    prefix,
    pid: nginx.pid as number,
    accessLog: () => readFileSync(path.join(prefix, 'logs/access.log'), 'utf8'),
    stop,
  };
}

const unavailable = namespacesUnavailable() ?? (existsSync(NGINX) ? undefined : `${NGINX} is not installed`);
const inCi = /^(true|1)$/i.test(process.env.CI ?? '');

/**
 * `describe` when nginx and network namespaces are available. Without them: in CI a failing test (.ci/run installs
 * nginx and runs as root); elsewhere a skipped suite whose name says why.
 */
export function describeWithNginx(name: string, body: () => void): void {
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
