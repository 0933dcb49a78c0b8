import { Logger, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';
import { AppConfig } from './config/app-config.js';
import type { ConfigModuleOptions } from './config/config.module.js';
import { answerClientErrors } from './http/client-error.js';
import { HttpErrorFilter } from './http/http-error.filter.js';
import { GracefulShutdown } from './health/graceful-shutdown.js';
import { frontDoor, securityHeaders } from './http/front-door.js';
import { requestBodyRules } from './http/request-body.js';
import { ServiceLogger } from './logging/logging.module.js';
import { installMetrics } from './metrics/metrics.module.js';
import { serveIndex, setupOpenApi } from './openapi/openapi.js';
import { HostGuard } from './security/host.guard.js';
import { checkRequestTarget } from './security/request-target.js';

/** Builds the whole service, configured exactly as in production; tests use it too. */
export async function createApp(options: ConfigModuleOptions = {}): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(options), {
    // Upload bodies are streams: nothing may read them before the controller (JSON is parsed per route).
    bodyParser: false,
    abortOnError: false,
    bufferLogs: true,
  });
  const config = app.get(AppConfig);
  app.useLogger(app.get(ServiceLogger));
  app.flushLogs();
  for (const warning of config.warnings) {
    new Logger('Config').warn(warning);
  }
  installMetrics(app);
  app.getHttpServer().maxConnections = config.maxConnections;
  app.disable('x-powered-by');
  // EB's nginx and the load balancer: X-Forwarded-For/-Proto are believed only from these peers (-Host: HostGuard).
  app.set('trust proxy', config.trustProxy);
  app.set('query parser', 'simple');
  // Express's ETag of a JSON answer hashes its bytes: on a write it passed for the stored object's (set there instead).
  app.set('etag', false);
  app.use(
    frontDoor([
      app.get(GracefulShutdown).middleware,
      requestBodyRules({ ...config.requestBodies, idleMs: config.uploads.idleTimeoutMs }),
      securityHeaders(),
      app.get(HostGuard).middleware,
      checkRequestTarget,
    ]),
  );
  if (config.corsOrigins.length > 0) {
    app.enableCors({
      origin: config.corsOrigins.includes('*') ? '*' : [...config.corsOrigins],
      methods: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: [
        'Authorization',
        'Content-Type',
        'Range',
        'If-None-Match',
        'If-Modified-Since',
        'If-Match',
        'If-Unmodified-Since',
        'If-Range',
        'X-Request-Id',
        // Object parameters of PUT /files/{key} (X-Meta-* names cannot be listed ahead: docs/api.md, Object parameters).
        'Cache-Control',
        'Content-Disposition',
        'Tus-Resumable',
        'Upload-Length',
        'Upload-Defer-Length',
        'Upload-Offset',
        'Upload-Metadata',
      ],
      exposedHeaders: [
        'ETag', // read by multipart browser uploads
        'Location',
        'Content-Length',
        'Content-Range',
        'Content-Disposition',
        'Accept-Ranges',
        'Last-Modified',
        'X-Request-Id',
        // tus (/uploads): a browser client reads the offset, the upload's URL and its expiry.
        'Upload-Offset',
        'Upload-Length',
        'Upload-Expires',
        'Upload-Metadata',
        'Tus-Resumable',
        'Tus-Version',
        'Tus-Extension',
        'Tus-Max-Size',
      ],
      maxAge: 600,
    });
  }
  app.useGlobalFilters(new HttpErrorFilter());
  answerClientErrors(app.getHttpServer());
  app.useGlobalPipes(new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true }));
  await setupOpenApi(app);
  serveIndex(app);
  return app;
}
