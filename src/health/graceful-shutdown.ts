import type { Server } from 'node:http';
import { Injectable, Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config.js';
import { sendProblem } from '../http/problem.js';

/** On SIGTERM, new requests get 503 (health too, so the load balancer stops routing here); those in flight finish. */
@Injectable()
export class GracefulShutdown {
  isDraining = false;
  private readonly inFlight = new Set<Response>();
  private onIdle?: () => void;

  /** The first middleware of the app: counts requests, refuses new work while draining. */
  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    if (this.isDraining) {
      res.shouldKeepAlive = false;
      if (req.path !== '/health' && !req.path.startsWith('/health/')) {
        sendProblem(req, res, 503, 'the service is shutting down', { 'Retry-After': '5' });
        return;
      }
    }
    this.inFlight.add(res);
    res.once('close', () => {
      this.inFlight.delete(res);
      if (this.inFlight.size === 0) {
        this.onIdle?.();
      }
    });
    next();
  };

  /** Waits until no request is in flight, or `timeoutMs`; returns how many were still running then. */
  async drain(server: Server, timeoutMs: number): Promise<number> {
    this.isDraining = true;
    for (const res of this.inFlight) {
      res.shouldKeepAlive = false;
    }
    server.closeIdleConnections();
    if (this.inFlight.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.onIdle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.inFlight.size;
  }
}

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
