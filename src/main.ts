import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { createApp, listen } from './app.factory.js';
import { ConfigValidationError } from './config/environment.js';
import { shutdownOnSignal } from './health/shutdown-on-signal.js';

try {
  const app = await createApp();
  shutdownOnSignal(app);
  await listen(app);
  // The bound port, which differs from the configured one for PORT=0.
  const { port } = app.getHttpServer().address() as AddressInfo;
  new Logger('Bootstrap').log(`s3-file-service listening on port ${port}`);
} catch (error) {
  if (error instanceof ConfigValidationError) {
    console.error(error.message);
  } else {
    console.error('s3-file-service failed to start:', error instanceof Error ? error.message : error);
  }
  process.exit(1);
}
