import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Global,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config.js';
import { httpMetricsMiddleware } from './http-metrics.js';
import { isScrape, sendJson, serveMetrics } from './metrics-endpoint.js';
import { Metrics } from './metrics.js';

/** DI token: the `Metrics`, or null when metrics are off (nothing recorded, prom-client not loaded). */
export const METRICS = Symbol('METRICS');

/** The METRICS_PORT listener: GET /metrics only, behind METRICS_TOKEN if set (required beyond loopback). */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server?: Server;

  constructor(
    @Inject(METRICS) private readonly metrics: Metrics | null,
    private readonly config: AppConfig,
  ) {}

  /** The bound address (METRICS_PORT=0 picks a free port), once listening. */
  address(): AddressInfo | undefined {
    return (this.server?.address() ?? undefined) as AddressInfo | undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    const { port, host, token } = this.config.metrics;
    const metrics = this.metrics;
    if (metrics === null || port === undefined) {
      return;
    }
    const server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
      if (isScrape(req)) {
        void serveMetrics(metrics, token, req, res);
      } else {
        sendJson(res, 404, 'Not Found', 'this port serves only GET /metrics');
      }
    });
    // A scraper needs one connection; this bounds what anyone else who reaches the port can hold open.
    server.maxConnections = 64;
    server.listen(port, host);
    await once(server, 'listening').catch((error: Error) => {
      throw new Error(`METRICS_PORT ${port} on ${host} cannot be used: ${error.message}`, { cause: error });
    });
    this.server = server;
    const bound = this.address()?.port ?? port;
    const origin = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
    this.logger.log(`Prometheus metrics on ${origin}/metrics${token ? ' (bearer token required)' : ''}`);
  }

  async onApplicationShutdown(): Promise<void> {
    this.server?.closeAllConnections();
    await this.server?.[Symbol.asyncDispose]();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: METRICS,
      inject: [AppConfig],
      useFactory: async (config: AppConfig): Promise<Metrics | null> =>
        config.metrics.enabled ? await Metrics.create() : null,
    },
    MetricsServer,
  ],
  exports: [METRICS],
})
export class MetricsModule {}

/** The HTTP hook, first to see refusals too; without METRICS_PORT, the token's GET /metrics (uncounted) before it. */
export function installMetrics(app: NestExpressApplication): void {
  const metrics = app.get<Metrics | null>(METRICS);
  const { port, token } = app.get(AppConfig).metrics;
  if (metrics === null) {
    return;
  }
  if (port === undefined && token !== undefined) {
    app.use((req: Request, res: Response, next: NextFunction) => {
      if (isScrape(req)) {
        void serveMetrics(metrics, token, req, res);
      } else {
        next();
      }
    });
  }
  app.use(httpMetricsMiddleware(metrics));
}
