import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface LocalS3ServerOptions {
  /** Data directory, created if missing and kept on stop (default `.local-s3` in the working directory). */
  directory?: string;
  /** 0 (default) picks a free port; a restart reuses the port of the previous run. */
  port?: number;
  /** Buckets created at start (existing ones are kept). */
  buckets?: string[];
  /** Give the buckets a permissive CORS rule so browsers can use signed URLs directly (default true). */
  cors?: boolean;
  /** Suppress s3rver's request log (default true). */
  silent?: boolean;
  /**
   * In its own process group, so a terminal's Ctrl-C reaches only the launcher, which stops the server in order.
   * It still exits with its parent (it watches its stdin).
   */
  detached?: boolean;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Gap fills switched off, to test a backend without them (see s3rver-main.ts). */
  without?: readonly ('unsigned-headers' | 'conditions')[];
}

/**
 * The development S3 server (s3rver with our fixes) in a child process, for `npm start`, the tests and the bench.
 * Never part of the service: s3rver is a dev dependency. Nothing happens until `start()`.
 */
export class LocalS3Server {
  private child?: ChildProcessWithoutNullStreams;
  private exitPromise?: Promise<unknown>;
  private boundPort?: number;
  private readonly options: LocalS3ServerOptions;

  constructor(options: LocalS3ServerOptions = {}) {
    this.options = options;
  }

  get port(): number {
    if (this.boundPort === undefined) {
      throw new Error('The local S3 server has not been started');
    }
    return this.boundPort;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** The server process's id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves when the current server process ends, whether stopped or crashed. */
  get exited(): Promise<unknown> {
    return this.exitPromise ?? Promise.resolve();
  }

  async start(): Promise<void> {
    if (this.child) {
      throw new Error('The local S3 server is already running');
    }
    const { directory = '.local-s3', buckets = [], cors = true, silent = true, startTimeoutMs = 15_000 } = this.options;
    const script = fileURLToPath(new URL('s3rver-main.ts', import.meta.url));
    const args = [
      '--openssl-legacy-provider',
      script,
      `--directory=${path.resolve(directory)}`,
      `--port=${this.boundPort ?? this.options.port ?? 0}`,
      ...buckets.map((bucket) => `--bucket=${bucket}`),
      ...(cors ? ['--cors'] : []),
      ...(silent ? ['--silent'] : []),
      '--exit-with-parent',
      ...(this.options.without ?? []).map((fill) => `--without=${fill}`),
    ];
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: this.options.detached });
    this.child = child;
    this.exitPromise = once(child, 'exit')
      .catch(() => undefined)
      .finally(() => {
        child.stdin.destroy();
        if (this.child === child) {
          this.child = undefined;
        }
      });

    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
      process.stderr.write(chunk);
    });
    const lines = createInterface({ input: child.stdout });
    try {
      this.boundPort = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`The local S3 server did not start within ${startTimeoutMs} ms`)),
          startTimeoutMs,
        );
        lines.once('line', (line) => {
          clearTimeout(timer);
          try {
            resolve((JSON.parse(line) as { port: number }).port);
          } catch {
            reject(new Error(`The local S3 server printed an unexpected line: ${line}`));
          }
        });
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(
            new Error(`The local S3 server exited with ${signal ?? `code ${code}`} before listening: ${stderr.trim()}`),
          );
        });
        child.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      lines.close();
      child.stdout.resume();
    }
  }

  /** SIGTERM, then SIGKILL if the process has not exited within `stopTimeoutMs`. The data directory is kept. */
  async stop(): Promise<void> {
    const { child, exitPromise: exited } = this;
    if (!child || !exited) {
      return;
    }
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), this.options.stopTimeoutMs ?? 5_000);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
