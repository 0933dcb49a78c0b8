import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Injectable, Module } from '@nestjs/common';
import { Logger, LoggerModule } from 'nestjs-pino';
import { stdSerializers, stdTimeFunctions } from 'pino';
import type { Options } from 'pino-http';
import { AppConfig } from '../config/app-config.js';
import { redactCapabilities } from './redact.js';

/** A caller's request id is kept when it looks like one (EB's nginx and the ALB pass it on); else a new UUID. */
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Where a socket's byte counters stood when its previous response ended (HTTP/1.1 answers in order). */
const WATERMARKS = new WeakMap<Socket, { read: number; written: number }>();
const STARTS = new WeakMap<IncomingMessage, { socket: Socket; read: number; written: number }>();

const pathOf = (req: IncomingMessage): string => (req.url ?? '').split('?')[0];

/** The line with the bytes in and out since the request started (its socket kept: it may be detached by then). */
function withWireBytes(req: IncomingMessage, line: object): object {
  const start = STARTS.get(req);
  if (start === undefined) {
    return line;
  }
  const now = { read: start.socket.bytesRead, written: start.socket.bytesWritten };
  WATERMARKS.set(start.socket, now);
  return { bytesIn: now.read - start.read, bytesOut: now.written - start.written, ...line };
}

const message = (req: IncomingMessage, res: ServerResponse): string => `${req.method} ${pathOf(req)} ${res.statusCode}`;

/** Request logging: one JSON line per request; no headers, no query string, no body, so no secret. */
export function requestLogOptions(config: AppConfig): Options {
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
      const { socket } = req;
      STARTS.set(req, { socket, ...(WATERMARKS.get(socket) ?? { read: 0, written: 0 }) });
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
    customSuccessObject: (req, _res, line: object) => withWireBytes(req, line),
    customErrorObject: (req, _res, _error, line: object) => withWireBytes(req, line),
    // EB checks health every few seconds: those lines only at debug, unless they fail.
    customLogLevel: (req: IncomingMessage, res: ServerResponse, error?: Error) => {
      const health = pathOf(req).startsWith('/health');
      if ((error || res.statusCode >= 500) && !health) {
        return 'error';
      }
      if (error || res.statusCode >= 400) {
        return 'warn';
      }
      return health ? 'debug' : 'info';
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
