import { Logger, ValidationPipe, type LogLevel as NestLogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';
import { AppConfig, type LogLevel } from './config/app-config.js';
import type { ConfigModuleOptions } from './config/config.module.js';
import { answerClientErrors } from './errors/client-error.js';
import { HttpErrorFilter } from './errors/http-error.filter.js';

export type CreateAppOptions = ConfigModuleOptions;

const NEST_LEVELS: Record<LogLevel, NestLogLevel[]> = {
  silent: [],
  fatal: ['fatal'],
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  info: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  trace: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

/** Builds the whole service, configured exactly as in production; tests use it too. */
export async function createApp(options: CreateAppOptions = {}): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(options), {
    // Upload bodies are streams: nothing may read them before the controller (JSON is parsed per route).
    bodyParser: false,
    abortOnError: false,
    bufferLogs: true,
  });
  const config = app.get(AppConfig);
  Logger.overrideLogger(NEST_LEVELS[config.logLevel]);
  app.flushLogs();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('query parser', 'simple');
  app.useGlobalFilters(new HttpErrorFilter());
  answerClientErrors(app.getHttpServer());
  app.useGlobalPipes(
    new ValidationPipe({ transform: true, whitelist: true, forbidNonWhitelisted: true, stopAtFirstError: false }),
  );
  app.enableShutdownHooks();
  return app;
}

/** Listens on the configured port with server timeouts fit for long uploads behind EB's nginx and the ALB. */
export async function listen(app: NestExpressApplication, port?: number, host?: string): Promise<void> {
  const config = app.get(AppConfig);
  await app.listen(port ?? config.port, host ?? '0.0.0.0');
  const server = app.getHttpServer();
  // A multi-GiB upload takes longer than Node's default 5-minute request timeout; idle sockets are still bounded.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  // Longer than the ALB's 60 s idle timeout, so the balancer never reuses a socket we are closing.
  server.keepAliveTimeout = 65_000;
}
