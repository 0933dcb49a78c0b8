import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = path.join(ROOT, 'dist', 'main.js');
const BUILD_LOCK = path.join(ROOT, 'node_modules', '.cache', 's3-file-service-build.lock');

/** The compiled service (`dist/main.js`) running as its own process, so `/proc/<pid>` is the service alone. */
export interface ServiceProcess {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resident set size, from /proc/<pid>/status. */
  rssBytes(): Promise<number>;
  /** Open file descriptors, from /proc/<pid>/fd. */
  openFds(): Promise<number>;
  /** With `inspect`: a full garbage collection, then the process's own `process.memoryUsage()`. */
  collectGarbage(): Promise<NodeJS.MemoryUsage>;
  /** SIGTERM (graceful shutdown), then SIGKILL after 10 s. */
  stop(): Promise<void>;
}

const newestMtime = async (dir: string): Promise<number> => {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const times = await Promise.all(
    entries.filter((e) => e.isFile()).map(async (e) => (await stat(path.join(e.parentPath, e.name))).mtimeMs),
  );
  return Math.max(0, ...times);
};

async function mtimeOf(file: string): Promise<number> {
  return (await stat(file).catch(() => undefined))?.mtimeMs ?? 0;
}

async function run(command: string, args: string[]): Promise<void> {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) {
    throw new Error(`${args.join(' ')} failed:\n${output}`);
  }
}

/** Runs `nest build` when `dist/main.js` is older than the sources; one build at a time across Jest workers. */
export async function ensureBuilt(): Promise<void> {
  const sources = async () =>
    Math.max(
      await newestMtime(path.join(ROOT, 'src')),
      ...(await Promise.all(
        ['tsconfig.json', 'tsconfig.build.json', 'package.json'].map((f) => mtimeOf(path.join(ROOT, f))),
      )),
    );
  if ((await mtimeOf(MAIN)) >= (await sources())) {
    return;
  }
  await mkdir(path.dirname(BUILD_LOCK), { recursive: true });
  const until = Date.now() + 120_000;
  for (;;) {
    try {
      await mkdir(BUILD_LOCK);
      break;
    } catch {
      if (Date.now() > until) {
        throw new Error(`waited 2 minutes for the build lock ${BUILD_LOCK}; remove it if no build is running`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if ((await mtimeOf(MAIN)) < (await sources())) {
      await run(process.execPath, [path.join(ROOT, 'node_modules', '@nestjs', 'cli', 'bin', 'nest.js'), 'build']);
    }
  } finally {
    await rm(BUILD_LOCK, { recursive: true, force: true });
  }
}

/**
 * Builds if needed, then starts `node dist/main.js` with exactly `env` (plus PORT=0) in an empty working directory
 * (no stray `.env`), and waits for its "listening on port" line.
 */
export async function startServiceProcess(
  env: Record<string, string>,
  options: { inspect?: boolean; startTimeoutMs?: number } = {},
): Promise<ServiceProcess> {
  const { inspect = false, startTimeoutMs = 30_000 } = options;
  await ensureBuilt();
  const cwd = await mkdtemp(path.join(tmpdir(), 's3-file-service-'));
  // The inspector (loopback, free port) lets a test force a full GC to tell a leak from memory not yet collected.
  const child: ChildProcess = spawn(process.execPath, [...(inspect ? ['--inspect=127.0.0.1:0'] : []), MAIN], {
    cwd,
    // At least `info`: the port comes from the "listening on port" line.
    env: {
      PATH: process.env.PATH ?? '',
      ...env,
      LOG_LEVEL: /^(debug|trace)$/.test(env.LOG_LEVEL ?? '') ? env.LOG_LEVEL : 'info',
      PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').catch(() => undefined);
  let output = '';
  // Kept apart: a long run's logs push the inspector's first line out of the bounded `output`.
  let inspectorUrl: string | undefined;
  let onOutput = (): void => undefined;
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-200_000);
    inspectorUrl ??= /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(output)?.[0];
    onOutput();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(cwd, { recursive: true, force: true });
  };

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`service did not start in ${startTimeoutMs} ms:\n${output}`)),
      startTimeoutMs,
    );
    onOutput = () => {
      const match = /listening on port (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`service exited before listening:\n${output}`));
    });
  }).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  onOutput = () => undefined;

  const pid = child.pid!;
  return {
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => output,
    async rssBytes() {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
    },
    async openFds() {
      return (await readdir(`/proc/${pid}/fd`)).length;
    },
    async collectGarbage() {
      if (!inspectorUrl) {
        throw new Error('start the service with { inspect: true } to collect garbage');
      }
      return inspectorCall(inspectorUrl);
    },
    stop,
  };
}

/** Over the inspector protocol: HeapProfiler.collectGarbage, then evaluates `process.memoryUsage()`. */
async function inspectorCall(url: string): Promise<NodeJS.MemoryUsage> {
  const socket = new WebSocket(url);
  const replies = new Map<number, (result: unknown) => void>();
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) {
      replies.get(message.id)?.(message.result);
    }
  });
  let nextId = 0;
  const call = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve) => {
      const id = ++nextId;
      replies.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true });
    socket.addEventListener('error', reject, { once: true });
  });
  try {
    await call('HeapProfiler.collectGarbage');
    const result = (await call('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    })) as { result: { value: string } };
    return JSON.parse(result.result.value) as NodeJS.MemoryUsage;
  } finally {
    socket.close();
  }
}
