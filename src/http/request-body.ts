import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { RequestBodyRules } from '../config/app-config.js';
import { HttpProblem, sendProblem } from './problem.js';

/** `idleMs` is nginx's client_body_timeout. */
type BodyRules = RequestBodyRules & { readonly idleMs: number };

/** Kestrel checks the minimum rate once a second (its heartbeat); a shorter idle timeout checks more often. */
const TICK_MS = 1000;
const CHECKS_PER_TIMEOUT = 4;
/** After a 408 the connection is still read this long, so the answer arrives before the close (no reset). */
const CUT_LINGERING = { timeMs: 1000, timeoutMs: 1000 };

/** The rules of each request that passed the front door; `closeAfterAnswer` reads its lingering from them. */
const rulesOf = new WeakMap<IncomingMessage, BodyRules>();

const hasBody = (req: IncomingMessage): boolean =>
  !req.complete && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0);

/**
 * A 408 for a body that sends nothing for `idleMs` or averages under `minRate` (Kestrel's MinRequestBodyDataRate). As
 * in Kestrel, only time spent ready to read counts, and a late check is one tick: our stalls never blame the client.
 */
export function requestBodyRules(rules: BodyRules) {
  return (req: Request, res: Response, next: NextFunction): void => {
    rulesOf.set(req, rules);
    if (hasBody(req)) {
      watchBody(req, res, rules);
    }
    next();
  };
}

function watchBody(req: IncomingMessage, res: ServerResponse, rules: BodyRules): void {
  const socket = req.socket;
  const start = socket.bytesRead;
  const tickMs = Math.min(TICK_MS, rules.idleMs / CHECKS_PER_TIMEOUT);
  const { bytesPerSecond, graceMs } = rules.minRate;
  let last = performance.now();
  let received = 0;
  let waitedMs = 0;
  let idleMs = 0;
  const timer = setInterval(() => {
    if (req.complete) {
      stop();
      return;
    }
    const now = performance.now();
    const elapsed = Math.min(now - last, tickMs);
    last = now;
    const total = socket.bytesRead - start;
    // Ready to read: someone consumes the body, nothing of it waits unread, and Node has not stopped the socket.
    const waiting = req.readableFlowing === true && req.readableLength === 0 && !socket.isPaused();
    idleMs = waiting && total === received ? idleMs + elapsed : 0;
    waitedMs += waiting ? elapsed : 0;
    received = total;
    if (idleMs >= rules.idleMs) {
      cut(req, res, `the request body sent nothing for ${rules.idleMs / 1000} s`);
    } else if (bytesPerSecond > 0 && waitedMs > graceMs && total / (waitedMs / 1000) < bytesPerSecond) {
      cut(req, res, `the request body arrived slower than ${bytesPerSecond} bytes per second`);
    } else {
      return;
    }
    stop();
  }, tickMs);
  timer.unref();
  // A keep-alive socket outlives its requests: a listener left on it would keep each request alive until it closes.
  const stop = (): void => {
    clearInterval(timer);
    req.off('end', stop);
    res.off('finish', stop);
    socket.off('close', stop);
  };
  req.once('end', stop);
  res.once('finish', stop);
  socket.once('close', stop);
}

/** Answers 408 (or, once an answer has started, just closes); the upload still reading ends when the socket closes. */
function cut(req: IncomingMessage, res: ServerResponse, message: string): void {
  req.socket.once('close', () => {
    if (!req.complete && !req.destroyed) {
      req.destroy(new HttpProblem(400, message));
    }
  });
  if (res.headersSent) {
    req.socket.destroy();
    return;
  }
  closeAfterAnswer(req, res, CUT_LINGERING);
  sendProblem(req, res, 408, message);
}

/**
 * Answers, then closes, a connection whose body is still arriving: closing with unread bytes resets it, so a client
 * still writing gets ECONNRESET, not the answer. As nginx's lingering close: half-close, then drain while it sends.
 */
export function closeAfterAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  lingering = rulesOf.get(req)?.lingering ?? { timeMs: 30_000, timeoutMs: 5_000 },
): void {
  res.setHeader('Connection', 'close');
  const socket = req.socket;
  if (!hasBody(req) || socket.destroyed) {
    return;
  }
  const close = () => socket.destroy();
  // Node destroys a `Connection: close` socket as soon as the answer is flushed; only half-close it.
  socket.destroySoon = function (this: typeof socket) {
    if (this.writable) {
      this.end();
    }
  };
  res.once('finish', () => {
    if (req.complete) {
      close();
      return;
    }
    // Counted on the socket: once Node has dumped an unread body, its bytes no longer reach `req`.
    const started = performance.now();
    let bytesRead = socket.bytesRead;
    let lastData = started;
    const timer = setInterval(
      () => {
        const now = performance.now();
        if (socket.bytesRead !== bytesRead) {
          bytesRead = socket.bytesRead;
          lastData = now;
        }
        if (now - started >= lingering.timeMs || now - lastData >= lingering.timeoutMs) {
          close();
        }
      },
      Math.min(100, lingering.timeoutMs / 4),
    ).unref();
    socket.once('close', () => clearInterval(timer));
    req.unpipe();
    req.removeAllListeners('data');
    req.once('end', close);
    req.once('error', close);
    req.resume();
  });
}
