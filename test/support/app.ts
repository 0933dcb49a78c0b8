import { createHash, randomBytes } from 'node:crypto';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Response } from 'supertest';
import { devS3ServiceEnv } from '../../dev/s3-client.ts';
import { createApp } from '../../src/app.factory.js';
import type { Tuning } from '../../src/config/app-config.js';
import { BackendCapabilities } from '../../src/storage/backend-capabilities.js';
import { startS3Server, testCredentials, type TestS3Server } from './s3-server.js';

/** The environment of an app that talks to the given S3-compatible server. */
export function s3Env(endpoint: string, bucket: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...devS3ServiceEnv(endpoint, bucket, testCredentials()),
    S3_REQUEST_TIMEOUT_MS: '5000',
    UPLOAD_PART_SIZE: String(5 * 1024 * 1024),
    ...extra,
  };
}

/** What every test app runs with: a short connect timeout (the If-Match form is detected, as in production). */
export function testTuning(extra: Tuning = {}): Tuning {
  return { connectTimeoutMs: 1000, ...extra };
}

/** Boots the real app (same wiring as production) on a free loopback port. */
export async function startApp(
  env: Record<string, string>,
  tuning: Tuning = {},
): Promise<{ app: NestExpressApplication; url: string }> {
  const app = await createApp({ env, tuning: testTuning(tuning) });
  await app.listen(0, '127.0.0.1');
  // The backend probe (reserved keys under .tus/) ends before the tests start, so that a test recording its S3
  // requests sees only its own. A probe that fails (S3 unreachable on purpose) ends at once.
  const capabilities = app.get(BackendCapabilities);
  for (let attempt = 0; attempt < 3 && capabilities.details().conditionalWrites === 'unknown'; attempt++) {
    await capabilities.conditionalWrites();
  }
  const address = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${address.port}` };
}

/** The environment of an app: added to `s3Env` of the suite's S3, or (a function) the whole of it, computed once S3 runs. */
export type SuiteEnv =
  Record<string, string> | ((s3: TestS3Server) => Record<string, string> | Promise<Record<string, string>>);

export interface SuiteAppOptions {
  env?: SuiteEnv;
  tuning?: Tuning;
}

/** An app that runs for the tests of one describe; read its fields inside hooks and tests, once it runs. */
export interface SuiteApp {
  readonly app: NestExpressApplication;
  readonly url: string;
  readonly port: number;
}

/** An S3 server for the tests of one describe, on which apps can be started for them. */
export interface S3Suite {
  readonly s3: TestS3Server;
  /**
   * An app on this S3 for the describe it is called in (its own `beforeAll` and `afterAll`); closed before S3
   * stops even when declared beside the suite.
   */
  withApp(options?: SuiteAppOptions): SuiteApp;
}

export type ServiceSuite = S3Suite & SuiteApp;

function running<T>(value: T | undefined, what: string): T {
  if (value === undefined) {
    throw new Error(`${what} is not running: read it inside a hook or a test of its describe`);
  }
  return value;
}

/** Starts S3 in a `beforeAll` of the enclosing describe and stops it in an `afterAll` (`options` of `startS3Server`). */
export function s3Suite(options: Parameters<typeof startS3Server>[0] = {}): S3Suite {
  let s3: TestS3Server | undefined;
  const open = new Set<NestExpressApplication>();
  beforeAll(async () => {
    s3 = await startS3Server(options);
  });
  afterAll(async () => {
    for (const app of open) {
      await app.close();
    }
    open.clear();
    await s3?.stop();
  });
  const suite: S3Suite = {
    get s3() {
      return running(s3, 'S3');
    },
    withApp({ env = {}, tuning }: SuiteAppOptions = {}): SuiteApp {
      let started: { app: NestExpressApplication; url: string } | undefined;
      beforeAll(async () => {
        const server = suite.s3;
        started = await startApp(
          typeof env === 'function' ? await env(server) : s3Env(server.endpoint, server.bucket, env),
          tuning,
        );
        open.add(started.app);
      });
      afterAll(async () => {
        if (started && open.delete(started.app)) {
          await started.app.close();
        }
      });
      const app = (): { app: NestExpressApplication; url: string } => running(started, 'The app');
      return {
        get app() {
          return app().app;
        },
        get url() {
          return app().url;
        },
        get port() {
          return Number(new URL(app().url).port);
        },
      };
    },
  };
  return suite;
}

/**
 * S3 and the app on it for the tests of the enclosing describe: started in a `beforeAll`, stopped in an `afterAll`.
 * `env` as in `withApp` (a function may start what the app talks to, such as a proxy in front of S3).
 */
export function serviceSuite(
  options: SuiteAppOptions & { s3?: Parameters<typeof startS3Server>[0] } = {},
): ServiceSuite {
  const suite = s3Suite(options.s3);
  const main = suite.withApp(options);
  return {
    get s3() {
      return suite.s3;
    },
    withApp: suite.withApp,
    get app() {
      return main.app;
    },
    get url() {
      return main.url;
    },
    get port() {
      return main.port;
    },
  };
}

export const sha256 = (data: Buffer | Uint8Array): string => createHash('sha256').update(data).digest('hex');

export const randomKey = (name = 'file.bin'): string => `t-${randomBytes(6).toString('hex')}/${name}`;

export const encodeKey = (key: string): string => key.split('/').map(encodeURIComponent).join('/');

/** A supertest parser that keeps any body as raw bytes (for checksums). */
export function binaryParser(res: Response, callback: (err: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => callback(null, Buffer.concat(chunks)));
}

/** Polls `check` until it holds; fails after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) {
      throw new Error('condition not met in time');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
