import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { parseEnv } from 'node:util';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory.js';
import { releaseBootMemory } from './boot-memory.js';
import { AppConfig } from './config/app-config.js';
import { ConfigValidationError, validateEnvironment } from './config/environment.js';
import { shutdownOnSignal } from './health/graceful-shutdown.js';
import { DOCS_JSON_PATH, DOCS_PATH } from './openapi/openapi.js';

try {
  // Checked before Nest starts, so that a bad environment prints its list once, without a stack trace.
  const dotEnv = existsSync('.env') ? parseEnv(readFileSync('.env', 'utf8')) : {};
  validateEnvironment({ ...dotEnv, ...process.env });
  const app = await createApp();
  shutdownOnSignal(app);
  releaseBootMemory();
  const { docs, port } = app.get(AppConfig);
  await app.listen(port, '0.0.0.0');
  const server = app.getHttpServer();
  // A multi-GiB upload takes longer than Node's default 5-minute request timeout; idle sockets are still bounded.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  // Longer than the ALB's 60 s idle timeout, so the balancer never reuses a socket we are closing.
  server.keepAliveTimeout = 65_000;
  // The bound port, which differs from the configured one for PORT=0.
  const origin = `http://localhost:${(server.address() as AddressInfo).port}`;
  const description =
    docs === 'off'
      ? 'the API description (/docs) is off: DOCS=public or DOCS=key serves it'
      : `the API description is at ${origin}/${DOCS_PATH} (OpenAPI: /${DOCS_JSON_PATH}${docs === 'key' ? ', with an API key' : ''})`;
  new Logger('Bootstrap').log(`s3-file-service listening on ${origin}; ${description}`);
} catch (error) {
  if (error instanceof ConfigValidationError) {
    console.error(error.message);
  } else {
    console.error('s3-file-service failed to start:', error instanceof Error ? error.message : error);
  }
  process.exit(1);
}
