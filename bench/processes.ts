import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServiceOptions {
  /** Names the service in the report (`service`, or `baseline` for a comparison build). */
  readonly name: string;
  /** The compiled entry point, e.g. `dist/main.js`. */
  readonly mainJs: string;
  /** Working directory (a scratch folder, so no developer `.env` is picked up); the service's log goes there. */
  readonly cwd: string;
  readonly s3Endpoint: string;
  readonly bucket: string;
  /** Extra service environment (e.g. `UPLOAD_PART_SIZE`). */
  readonly env: Readonly<Record<string, string>>;
  /** Extra Node options (e.g. `--max-semi-space-size=4`). */
  readonly nodeOptions: readonly string[];
  /** Open the inspector on a loopback port (CPU profiling). */
  readonly inspect: boolean;
}

export interface ServiceProcess {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  readonly apiKey: string;
  /** `ws://127.0.0.1:…` when started with `inspect`. */
  readonly inspectorUrl?: string;
  /** The last lines the service printed. */
  output(): string;
  /** Throws if the process has exited. */
  assertAlive(): void;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
// If the bench dies (an error, Ctrl-C, a CI timeout), its services must not outlive it holding ports.
process.on('exit', () => running.forEach((child) => child.kill('SIGKILL')));

/** A port the OS says is free right now (the service takes its port from `PORT`, so it cannot report a port 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Starts the compiled service in production mode on a loopback port and waits until it accepts connections. */
export async function startService(options: ServiceOptions): Promise<ServiceProcess> {
  const port = await freePort();
  const apiKey = randomBytes(24).toString('base64url');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    PORT: String(port),
    S3_BUCKET: options.bucket,
    S3_ENDPOINT: options.s3Endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    ALLOWED_HOSTS: '127.0.0.1,localhost',
    API_KEYS: apiKey,
    ...options.env,
  };
  const args = [...(options.inspect ? ['--inspect=127.0.0.1:0'] : []), ...options.nodeOptions, options.mainJs];
  // The log goes to a file, as a log daemon would take it: a pipe the busy load generator drains late would
  // slow the service down (its logger writes synchronously) and skew what is measured.
  const logFile = path.join(options.cwd, `${options.name}-${port}.log`);
  const log = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, { cwd: options.cwd, env, stdio: ['ignore', log, log] });
  closeSync(log);
  running.add(child);
  const output = (): string => {
    try {
      return readFileSync(logFile, 'utf8').slice(-8000);
    } catch {
      return '';
    }
  };
  let inspectorUrl: string | undefined;
  let exit: string | undefined;
  const exited = once(child, 'exit').then(([code, signal]) => {
    running.delete(child);
    exit = `exited with ${signal === null ? `code ${code as number}` : (signal as string)}`;
  });

  const service: ServiceProcess = {
    name: options.name,
    url: `http://127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    apiKey,
    get inspectorUrl() {
      return inspectorUrl;
    },
    output,
    assertAlive() {
      if (exit) {
        throw new Error(`the ${options.name} process ${exit}:\n${output()}`);
      }
    },
    stop: () => stopChild(child, exited),
  };
  // Ready when it answers an authenticated request with 200 (anything else on that port is not our service).
  const deadline = Date.now() + 30_000;
  while (!(await answers(service)) || (options.inspect && !inspectorUrl)) {
    inspectorUrl ??= /Debugger listening on (ws:\/\/\S+)/.exec(output())?.[1];
    service.assertAlive();
    if (Date.now() > deadline) {
      await service.stop();
      throw new Error(`the ${options.name} process did not answer within 30 s:\n${output()}`);
    }
    await sleep(50);
  }
  return service;
}

function answers(service: ServiceProcess): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(
      `${service.url}/files?limit=1`,
      { headers: { authorization: `Bearer ${service.apiKey}` }, agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
