import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServiceProcess, type ServiceProcess, type ServiceProcessOptions } from '../../dev/service-process.ts';

export type { LogLine, ServiceProcess } from '../../dev/service-process.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = path.join(ROOT, 'dist', 'main.js');
const BUILD_LOCK = path.join(ROOT, 'node_modules', '.cache', 's3-file-service-build.lock');

/** The compiled service (`dist/main.js`) running as its own process, so `/proc/<pid>` is the service alone. */
export interface BuiltService extends ServiceProcess {
  /** Open file descriptors, from /proc/<pid>/fd. */
  openFds(): Promise<number>;
  /** With `inspect`: a full garbage collection, then the process's own `process.memoryUsage()`. */
  collectGarbage(): Promise<NodeJS.MemoryUsage>;
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
 * The one way a test runs the service as its own process: builds `dist/` if needed (`nest build`, as production
 * does), then starts `node dist/main.js` with exactly `env` (plus PATH and PORT=0 unless given) in an empty working
 * directory (no stray `.env`) and a HOME with no AWS config or credentials files, so nothing of this machine's stands
 * in for what the test gives it. Resolves on the service's "listening on" line.
 */
export async function startBuiltService(
  env: Record<string, string>,
  options: Pick<ServiceProcessOptions, 'inspect' | 'startTimeoutMs' | 'launcher' | 'nodeOptions'> = {},
): Promise<BuiltService> {
  await ensureBuilt();
  const cwd = await mkdtemp(path.join(tmpdir(), 's3-file-service-'));
  // The inspector (loopback, free port) lets a test force a full GC to tell a leak from memory not yet collected.
  const service = await startServiceProcess({
    main: MAIN,
    env: {
      PORT: '0',
      HOME: cwd,
      AWS_CONFIG_FILE: path.join(cwd, 'no-aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(cwd, 'no-aws-credentials'),
      ...env,
    },
    cwd,
    ...options,
  }).catch(async (error: unknown) => {
    await rm(cwd, { recursive: true, force: true });
    throw error;
  });
  return Object.assign(Object.create(service) as ServiceProcess, {
    async openFds() {
      return (await readdir(`/proc/${service.pid}/fd`)).length;
    },
    async collectGarbage() {
      if (!service.inspectorUrl) {
        throw new Error('start the service with { inspect: true } to collect garbage');
      }
      return inspectorCall(service.inspectorUrl);
    },
    async stop(killAfterMs?: number) {
      await service.stop(killAfterMs);
      await rm(cwd, { recursive: true, force: true });
    },
  });
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
