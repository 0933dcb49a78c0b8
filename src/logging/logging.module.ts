import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { stdTimeFunctions } from 'pino';
import type { Options } from 'pino-http';
import { AppConfig } from '../config/app-config.js';

/** A caller's request id is kept when it looks like one (EB's nginx and the ALB pass it on); else a new UUID. */
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * Bytes on the wire for one request and its response, headers included: the socket's counters now, minus where
 * they stood when the previous response on this keep-alive connection ended (HTTP/1.1 answers in order).
 */
const WATERMARKS = new WeakMap<Socket, { read: number; written: number }>();
const START = Symbol('wireStart');
interface Counted {
  [START]?: { socket: Socket; read: number; written: number; started?: true };
}

const pathOf = (req: IncomingMessage): string => (req.url ?? '').split('?')[0];

/** Request logging: one JSON line per request; no headers, no query string, no body, so no secret. */
export function requestLogOptions(config: AppConfig): Options {
  return {
    level: config.logLevel,
    timestamp: stdTimeFunctions.isoTime,
    // A safety net: the serializers below never emit headers.
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-amz-security-token"]'],
      censor: '[redacted]',
    },
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      const { socket } = req;
      (req as Counted)[START] = { socket, ...(WATERMARKS.get(socket) ?? { read: 0, written: 0 }) };
      return id;
    },
    serializers: {
      req: (req: { id: string; method: string; raw: IncomingMessage; remoteAddress?: string }) => ({
        id: req.id,
        method: req.method,
        path: pathOf(req.raw),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      err: (error: Error) => ({ type: error.name, message: error.message }),
    },
    // Called once when the request starts (nothing to say yet) and once when it ends.
    customProps: (req: IncomingMessage) => {
      const start = (req as Counted)[START];
      if (!start?.started) {
        if (start) {
          start.started = true;
        }
        return {};
      }
      // The socket is kept: by the time a response closes, it may be detached from the request.
      const now = { read: start.socket.bytesRead, written: start.socket.bytesWritten };
      WATERMARKS.set(start.socket, now);
      return { bytesIn: now.read - start.read, bytesOut: now.written - start.written };
    },
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
    customSuccessMessage: (req: IncomingMessage, res: ServerResponse) =>
      `${req.method} ${pathOf(req)} ${res.statusCode}`,
    customErrorMessage: (req: IncomingMessage, res: ServerResponse) => `${req.method} ${pathOf(req)} ${res.statusCode}`,
  };
}

/** Structured JSON logs (pino) for the app's own messages and one line per request. */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({ pinoHttp: requestLogOptions(config) }),
    }),
  ],
})
export class LoggingModule {}
