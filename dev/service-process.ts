import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** How production starts the service: `npm run start:prod`, i.e. `[NAME=value ...] exec node [options] dist/main.js`. */
export function productionStart(): { env: Record<string, string>; nodeOptions: string[] } {
  const packageJson = fileURLToPath(new URL('../package.json', import.meta.url));
  const pkg = JSON.parse(readFileSync(packageJson, 'utf8')) as { scripts?: Record<string, string> };
  const match = /^((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)exec\s+node((?:\s+--?\S+)*)\s+dist\/main\.js$/.exec(
    pkg.scripts?.['start:prod']?.trim() ?? '',
  );
  if (!match) {
    throw new Error(
      'package.json "start:prod" is not "[NAME=value ...] exec node [options] dist/main.js": it cannot be started the same way',
    );
  }
  const words = (text: string) => text.trim().split(/\s+/).filter(Boolean);
  const env = Object.fromEntries(
    words(match[1]).map((pair): [string, string] => [
      pair.slice(0, pair.indexOf('=')),
      pair.slice(pair.indexOf('=') + 1),
    ]),
  );
  return { env, nodeOptions: words(match[2]) };
}

export interface ServiceProcessOptions {
  /** The compiled entry point (`dist/main.js`, or a test's own build). */
  readonly main: string;
  /** The service's whole environment (plus PATH): nothing of this process's own leaks in. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Working directory; the service reads `.env` from there (default: this process's). */
  readonly cwd?: string;
  /** Node options before the entry point, e.g. `--max-semi-space-size=8`. */
  readonly nodeOptions?: readonly string[];
  /** Open the inspector on a free loopback port; its URL is `inspectorUrl`. */
  readonly inspect?: boolean;
  /**
   * Send stdout and stderr to this file instead of a pipe, as a log daemon would take them: a pipe drained late by
   * a busy parent slows the service down (its logger writes synchronously). Read back on demand.
   */
  readonly logFile?: string;
  /** Also copy the service's output to this process's stdout and stderr (for `npm start`). */
  readonly echo?: boolean;
  /**
   * A command that runs node for us, such as `['ip', 'netns', 'exec', 'ns1']` to start the service in a network
   * namespace. It must exec node in place (same pid), so `pid` and `rss()` stay the service's.
   */
  readonly launcher?: readonly string[];
  /** In its own process group: a terminal's Ctrl-C then reaches only the parent, which decides what to signal. */
  readonly detached?: boolean;
  readonly startTimeoutMs?: number;
}

export interface LogLine {
  level: number;
  msg: string;
  context?: string;
  [field: string]: unknown;
}

export interface ServiceProcess {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The JSON lines the service printed (the latest 20,000). */
  readonly logs: readonly LogLine[];
  /** The `ws://` URL of the inspector, when started with `inspect`. */
  readonly inspectorUrl?: string;
  /** What it printed, stdout and stderr, as text (the latest 1 MB). */
  output(): string;
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code, or the signal's name, once the process has ended. */
  readonly exited: Promise<number | string>;
  /** Resident set size in bytes, from /proc/<pid>/status. */
  rss(): Promise<number>;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM (graceful shutdown), then SIGKILL after `killAfterMs`; resolves once the process has ended. */
  stop(killAfterMs?: number): Promise<void>;
}

const MAX_TEXT = 1_000_000;
const MAX_LOGS = 20_000;
const QUIET = new Set(['fatal', 'error', 'warn', 'silent']);
/** The service's "listening on http://localhost:N" line, or the bench floor's "listening on port N". */
const LISTENING = /listening on (?:port |http:\/\/[^\s:/]+:)(\d+)/;

/**
 * Starts the built service as a child process and waits for its "listening on http://localhost:N" log line. The one way the
 * tests, the bench and `npm start` run the service. LOG_LEVEL is raised to `info` if set quieter, since the port
 * comes from that line.
 */
export async function startServiceProcess(options: ServiceProcessOptions): Promise<ServiceProcess> {
  const { env, startTimeoutMs = 30_000 } = options;
  const args = [...(options.inspect ? ['--inspect=127.0.0.1:0'] : []), ...(options.nodeOptions ?? []), options.main];
  const log = options.logFile === undefined ? undefined : openSync(options.logFile, 'a');
  const [command, ...prefix] = [...(options.launcher ?? []), process.execPath];
  const child = spawn(command, [...prefix, ...args], {
    cwd: options.cwd,
    env: {
      PATH: process.env.PATH ?? '',
      ...env,
      ...(QUIET.has(env.LOG_LEVEL ?? '') ? { LOG_LEVEL: 'info' } : {}),
    },
    stdio: log === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', log, log],
    detached: options.detached,
  });
  if (log !== undefined) {
    closeSync(log);
  }
  let hasEnded = false;
  // 'close', not 'exit': by then the pipes are drained, so the last lines are in.
  const exited = once(child, 'close').then(
    ([code, signal]) => {
      hasEnded = true;
      return (code ?? signal) as number | string;
    },
    (error: Error) => {
      hasEnded = true;
      return error.message;
    },
  );
  const ended = (): boolean => hasEnded;

  let text = '';
  let partial = '';
  const logs: LogLine[] = [];
  let inspectorUrl: string | undefined;
  const take = (chunk: string): void => {
    text = (text + chunk).slice(-MAX_TEXT);
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      inspectorUrl ??= /Debugger listening on (ws:\/\/\S+)/.exec(line)?.[1];
      if (line.startsWith('{')) {
        try {
          logs.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line
        }
      }
    }
    if (logs.length > MAX_LOGS) {
      logs.splice(0, logs.length - MAX_LOGS);
    }
  };
  let offset = 0;
  const refresh = (): void => {
    if (options.logFile === undefined) {
      return;
    }
    const fd = openSync(options.logFile, 'r');
    try {
      const buffer = Buffer.alloc(64 * 1024);
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, offset)) > 0; offset += n) {
        take(buffer.toString('utf8', 0, n));
      }
    } finally {
      closeSync(fd);
    }
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    take(chunk);
    if (options.echo) {
      process.stdout.write(chunk);
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    take(chunk);
    if (options.echo) {
      process.stderr.write(chunk);
    }
  });

  // Output already echoed (npm start) is not repeated in the error.
  const output = (): string => (options.echo ? ' (its output is above)' : `; output:\n${text.slice(-3000)}`);
  const waitForLog = async (match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      refresh();
      const found = logs.find(match);
      if (found) {
        return found;
      }
      if (ended()) {
        throw new Error(`the service exited before the expected log line${output()}`);
      }
      if (Date.now() > until) {
        throw new Error(`no matching log line within ${timeoutMs} ms${output()}`);
      }
      await Promise.race([new Promise((resolve) => setTimeout(resolve, 20)), exited]);
    }
  };

  const stop = async (killAfterMs = 10_000): Promise<void> => {
    if (!ended()) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      await exited;
      clearTimeout(timer);
    }
  };

  let port: number;
  try {
    const listening = await waitForLog((l) => LISTENING.test(l.msg), startTimeoutMs);
    port = Number(LISTENING.exec(listening.msg)?.[1]);
  } catch (error) {
    await stop(0);
    throw error;
  }
  const pid = child.pid ?? 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid,
    get logs() {
      refresh();
      return logs;
    },
    get inspectorUrl() {
      refresh();
      return inspectorUrl;
    },
    output() {
      refresh();
      return text;
    },
    waitForLog,
    exited,
    async rss() {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
    },
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      child.kill(signal);
    },
    stop,
  };
}
