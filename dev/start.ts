/**
 * `npm start`: the built service (dist/main.js). With no S3_BUCKET (environment or `.env`, as the service reads
 * them), first a development S3 (s3rver on loopback, data in `.local-s3/`), and the service pointed at it through
 * S3_ENDPOINT and friends. SIGINT/SIGTERM stop both; if either dies, the other is stopped and the exit is non-zero.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { devS3ServiceEnv } from './s3-client.ts';
import { LocalS3Server } from './s3rver/local-s3.server.ts';
import { startServiceProcess } from './service-process.ts';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const NODE_OPTIONS = ['--enable-source-maps'];
const BUCKET = 'local-files';
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

const say = (message: string): void => {
  process.stderr.write(`[npm start] ${message}\n`);
};

/** A variable as the service will see it: the environment wins over `.env` in the working directory. */
function configured(name: string): string | undefined {
  const file = path.resolve('.env');
  const value = process.env[name] ?? (existsSync(file) ? parseEnv(readFileSync(file, 'utf8'))[name] : undefined);
  return value?.trim() ? value.trim() : undefined;
}

/** A configured bucket (or production, where the service itself says what is missing): the service alone. */
function runServiceAlone(): void {
  const child = spawn(process.execPath, [...NODE_OPTIONS, MAIN], { stdio: 'inherit' });
  for (const signal of SIGNALS) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

async function runWithDevelopmentS3(): Promise<void> {
  const directory = path.resolve('.local-s3');
  const s3 = new LocalS3Server({ directory, buckets: [BUCKET], cors: true, detached: true });
  let stopping = false;
  let finish = async (code: number): Promise<void> => {
    await s3.stop();
    process.exit(code);
  };
  // Until the service runs, a signal only has the S3 server to stop.
  for (const signal of SIGNALS) {
    process.on(signal, () => {
      if (!stopping) {
        stopping = true;
        void finish(0);
      }
    });
  }
  // Last resort on an unexpected exit of this process (the S3 server also exits with its parent).
  process.on('exit', () => {
    if (s3.pid !== undefined) {
      process.kill(s3.pid, 'SIGKILL');
    }
  });

  await s3.start();
  say(
    `S3_BUCKET is not set: started a development S3 (s3rver, not for production) at ${s3.endpoint}, ` +
      `bucket "${BUCKET}", data in ${directory}. Set S3_BUCKET to use a real bucket.`,
  );
  const service = await startServiceProcess({
    main: MAIN,
    env: { ...process.env, ...devS3ServiceEnv(s3.endpoint, BUCKET) },
    nodeOptions: NODE_OPTIONS,
    echo: true,
    detached: true,
    startTimeoutMs: 60_000,
  }).catch(async (error: unknown) => {
    await s3.stop();
    throw error;
  });
  process.on('exit', () => service.kill('SIGKILL'));
  say(`the service (pid ${service.pid}) uses the development S3 (s3rver pid ${s3.pid ?? '?'}); Ctrl-C stops both`);

  finish = async (code: number): Promise<void> => {
    await service.stop();
    await s3.stop();
    process.exit(code);
  };
  for (const signal of SIGNALS) {
    process.removeAllListeners(signal);
    process.on(signal, () => {
      if (!stopping) {
        stopping = true;
        // The service drains in flight requests first, then the S3 server they use stops.
        service.kill(signal);
        void service.exited.then((code) => finish(code === 0 ? 0 : 1));
      }
    });
  }
  void service.exited.then((code) => {
    if (!stopping) {
      stopping = true;
      say(`the service stopped unexpectedly (${code}); stopping the development S3`);
      void finish(1);
    }
  });
  void s3.exited.then(() => {
    if (!stopping) {
      stopping = true;
      say('the development S3 stopped unexpectedly; stopping the service');
      void finish(1);
    }
  });
}

if (configured('S3_BUCKET') !== undefined || configured('NODE_ENV') === 'production') {
  runServiceAlone();
} else {
  try {
    await runWithDevelopmentS3();
  } catch (error) {
    say(`could not start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
