import { createHash, randomBytes } from 'node:crypto';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Response } from 'supertest';
import { devS3ServiceEnv } from '../../dev/s3-client.ts';
import { createApp } from '../../src/app.factory.js';
import type { Tuning } from '../../src/config/app-config.js';
import { BackendCapabilities } from '../../src/storage/backend-capabilities.js';
import { testCredentials } from './s3-server.js';

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
