import { Logger } from '@nestjs/common';
import { createApp, listen } from './app.factory.js';
import { AppConfig } from './config/app-config.js';
import { ConfigValidationError } from './config/environment.js';
import { shutdownOnSignal } from './health/shutdown-on-signal.js';

try {
  const app = await createApp();
  shutdownOnSignal(app);
  await listen(app);
  const config = app.get(AppConfig);
  new Logger('Bootstrap').log(`s3-file-service listening on port ${config.port}`);
} catch (error) {
  if (error instanceof ConfigValidationError) {
    console.error(error.message);
  } else {
    console.error('s3-file-service failed to start:', error instanceof Error ? error.message : error);
  }
  process.exit(1);
}
