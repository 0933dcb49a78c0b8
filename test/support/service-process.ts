import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { transformFile, type Options } from '@swc/core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ServiceBuild {
  /** The compiled entry point, as `dist/main.js` is in production. */
  main: string;
  remove(): Promise<void>;
}

/**
 * Compiles `src/` (no specs) with swc into a fresh temporary folder, as `nest build` does into `dist/`, so a test
 * can run the real entry point as its own process without touching `dist/`.
 */
export async function buildService(): Promise<ServiceBuild> {
  const out = await mkdtemp(path.join(tmpdir(), 's3-file-service-build-'));
  const swcrc = JSON.parse(await readFile(path.join(ROOT, '.swcrc'), 'utf8')) as Options;
  const options: Options = { ...swcrc, swcrc: false, sourceMaps: false, module: { type: 'es6' } };
  const sources = (await readdir(path.join(ROOT, 'src'), { recursive: true })).filter(
    (file) => file.endsWith('.ts') && !file.endsWith('.spec.ts') && !file.endsWith('.d.ts'),
  );
  await Promise.all(
    sources.map(async (file) => {
      const { code } = await transformFile(path.join(ROOT, 'src', file), options);
      const target = path.join(out, file.replace(/\.ts$/, '.js'));
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, code);
    }),
  );
  await writeFile(path.join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  await symlink(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules'), 'dir');
  return { main: path.join(out, 'main.js'), remove: () => rm(out, { recursive: true, force: true }) };
}

export interface LogLine {
  level: number;
  msg: string;
  context?: string;
  [field: string]: unknown;
}

export interface ServiceProcess {
  url: string;
  port: number;
  pid: number;
  /** Every JSON line the service printed on stdout. */
  logs: LogLine[];
  /** Everything it printed, stdout and stderr, as text. */
  output(): string;
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Runs the built service with exactly `env` (plus PATH), never the test runner's environment: no AWS profile,
 * no credentials file, no stray AWS_* variable can stand in for what the test gives it.
 */
export async function startService(
  build: ServiceBuild,
  env: Record<string, string>,
  { startTimeoutMs = 20_000 } = {},
): Promise<ServiceProcess> {
  const nowhere = path.join(tmpdir(), `no-aws-config-${process.pid}-${Date.now()}`);
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [build.main], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: nowhere,
      AWS_CONFIG_FILE: path.join(nowhere, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(nowhere, 'credentials'),
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  const logs: LogLine[] = [];
  let text = '';
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    text += `${line}\n`;
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      // not a log line
    }
    notify();
  });

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = logs.find(match);
        if (found) {
          done();
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching log line within ${timeoutMs} ms; output:\n${text.slice(-3000)}`));
      }, timeoutMs);
      const onExit = () => {
        done();
        reject(new Error(`the service exited before the expected log line; output:\n${text.slice(-3000)}`));
      };
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', onExit);
      };
      waiters.add(check);
      child.once('exit', onExit);
      check();
    });

  let listening: LogLine;
  try {
    listening = await waitForLog((l) => /listening on port \d+/.test(l.msg), startTimeoutMs);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const port = Number(/listening on port (\d+)/.exec(listening.msg)?.[1]);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? 0,
    logs,
    output: () => text,
    waitForLog,
    exited,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => {
      child.kill(signal);
    },
  };
}
