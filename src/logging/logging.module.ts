import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, Module } from '@nestjs/common';
import { Logger, LoggerModule } from 'nestjs-pino';
import { levels, stdSerializers, stdTimeFunctions, type Level } from 'pino';
import type { Options } from 'pino-http';
import { AppConfig } from '../config/app-config.js';
import { wireBytes } from '../http/wire-bytes.js';
import { redactCapabilities } from './redact.js';

/** A caller's request id is kept when it looks like one (EB's nginx and the ALB pass it on); else a new UUID. */
const REQUEST_ID = /^[\w.:-]{1,128}$/;

const pathOf = (req: IncomingMessage): string => (req.url ?? '').split('?')[0];

const message = (req: IncomingMessage, res: ServerResponse): string => `${req.method} ${pathOf(req)} ${res.statusCode}`;

/** EB checks health every few seconds: those lines only at debug, unless they fail. */
function lineLevel(req: IncomingMessage, res: ServerResponse, error?: Error): Level {
  const health = pathOf(req).startsWith('/health');
  if ((error || res.statusCode >= 500) && !health) {
    return 'error';
  }
  if (error || res.statusCode >= 400) {
    return 'warn';
  }
  return health ? 'debug' : 'info';
}

/** Request logging: one JSON line per request; no headers, no query string, no body, so no secret. */
export function requestLogOptions(config: AppConfig): Options {
  const threshold = levels.values[config.logLevel] ?? Infinity; // `silent` has no number: nothing is written
  return {
    level: config.logLevel,
    timestamp: stdTimeFunctions.isoTime,
    // Every line of the process passes here: a session token in a URL becomes its fingerprint, whoever wrote it.
    hooks: { streamWrite: redactCapabilities },
    // No `redact` paths: the `req` serializer keeps no headers, and they would cost ~1 % of a small GET's CPU.
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    // The serializers read the raw objects: pino-http's wrappers would copy each (headers included) per request.
    wrapSerializers: false,
    serializers: {
      req: (req: IncomingMessage & { id?: string; anonymous?: boolean; publicRead?: boolean }) => ({
        id: req.id,
        method: req.method,
        path: pathOf(req),
        // A read without an API key (PUBLIC_PREFIXES): who asked is unknown, and that is what the line says.
        ...(req.anonymous || req.publicRead ? { anonymous: true } : {}),
      }),
      res: (res: ServerResponse) => ({ statusCode: res.statusCode }),
      err: (error: Error) => {
        const { name, message } = stdSerializers.err(error) as { name?: string; message: string };
        return { type: name, message };
      },
    },
    // The byte counts join the line written when the request ends (a `customProps` would cost a child logger).
    customSuccessObject: (req, res, line: object) => ({ ...wireBytes(req, res), ...line }),
    customErrorObject: (req, res, _error, line: object) => ({ ...wireBytes(req, res), ...line }),
    customLogLevel: (req: IncomingMessage, res: ServerResponse, error?: Error) => {
      const level = lineLevel(req, res, error);
      if (levels.values[level] >= threshold) {
        return level;
      }
      // No line (pino-http then builds none of it), but the exchange's bytes are settled all the same.
      wireBytes(req, res);
      return 'silent';
    },
    customSuccessMessage: message,
    customErrorMessage: message,
  };
}

/** Nest's own boot lines: a line per module loaded and per route mapped. */
const BOOT_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

/** The app's logger with Nest's boot chatter at debug, so that at info the boot log is the service's own lines. */
@Injectable()
export class ServiceLogger extends Logger {
  override log(message: unknown, ...rest: unknown[]): void {
    const context = rest.at(-1);
    if (typeof context === 'string' && BOOT_CONTEXTS.has(context)) {
      this.debug(message, ...rest);
    } else {
      super.log(message, ...rest);
    }
  }
}

/** Structured JSON logs (pino) for the app's own messages and one line per request. */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({ pinoHttp: requestLogOptions(config) }),
    }),
  ],
  providers: [ServiceLogger],
})
export class LoggingModule {}
