import { Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppConfig } from '../config/app-config.js';
import { GracefulShutdown } from './graceful-shutdown.js';

/** On SIGTERM (`docker stop`, EB) or SIGINT: drain, close the app, exit 0 (Nest's hooks would re-raise the signal). */
export function shutdownOnSignal(app: NestExpressApplication): void {
  const logger = new Logger('Shutdown');
  const { shutdownTimeoutMs } = app.get(AppConfig);
  const onSignal = (signal: NodeJS.Signals): void => {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    void (async () => {
      try {
        logger.log(`${signal}: draining, up to ${shutdownTimeoutMs} ms for requests in flight`);
        const server = app.getHttpServer();
        const cutOff = await app.get(GracefulShutdown).drain(server, shutdownTimeoutMs);
        if (cutOff > 0) {
          logger.warn(`${cutOff} request(s) still running after ${shutdownTimeoutMs} ms were cut off`);
        }
        server.closeAllConnections();
        await app.close();
        logger.log('stopped');
        process.exit(0);
      } catch (error) {
        logger.error(`shutdown failed: ${(error as Error).message}`);
        process.exit(1);
      }
    })();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
