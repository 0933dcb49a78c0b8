import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

/** How long and how much of an unwanted body is still read after answering, as nginx's lingering close does. */
export const LINGER_MS = 5_000;
export const LINGER_BYTES = 8 * 1024 * 1024;

/** The idle check runs this many times per timeout, counting periods (not wall time) a blocked event loop skips. */
const CHECKS_PER_TIMEOUT = 4;

const hasBody = (req: IncomingMessage): boolean =>
  !req.complete && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0);

/**
 * Cuts the connection of a request whose body sends nothing for `idleMs` while the service waits for it (nginx's
 * client_body_timeout). Time the service itself does not read (a slow S3 holding the stream back) does not count.
 * The cut makes the upload reading the body abort.
 */
export function idleBodyTimeout(idleMs: number) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (hasBody(req)) {
      watchIdleBody(req, idleMs);
    }
    next();
  };
}

function watchIdleBody(req: IncomingMessage, idleMs: number): void {
  const socket = req.socket;
  let bytesRead = socket.bytesRead;
  let idleChecks = 0;
  const timer = setInterval(() => {
    const waitingForClient = !socket.isPaused() && !req.isPaused() && req.readableLength === 0;
    if (socket.bytesRead !== bytesRead || !waitingForClient) {
      bytesRead = socket.bytesRead;
      idleChecks = 0;
    } else if (++idleChecks >= CHECKS_PER_TIMEOUT) {
      stop();
      socket.destroy();
    }
  }, idleMs / CHECKS_PER_TIMEOUT);
  timer.unref();
  const stop = (): void => clearInterval(timer);
  req.once('end', stop);
  socket.once('close', stop);
}

/**
 * Answers on a connection whose request body is still arriving, then closes it without losing the answer. Closing a
 * socket with unread bytes makes the kernel reset the connection, and a client still writing (node:http, fetch) then
 * gets EPIPE or ECONNRESET instead of the answer. So: say `Connection: close`, send the answer and half-close, then
 * read and discard the rest of the body for at most `LINGER_MS` and `LINGER_BYTES` before closing.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('Connection', 'close');
  const socket = req.socket;
  if (!hasBody(req) || socket.destroyed) {
    return;
  }
  const close = (): void => {
    socket.destroy();
  };
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
    const start = socket.bytesRead;
    const deadline = Date.now() + LINGER_MS;
    const timer = setInterval(() => {
      if (socket.bytesRead - start > LINGER_BYTES || Date.now() >= deadline) {
        close();
      }
    }, 50).unref();
    socket.once('close', () => clearInterval(timer));
    req.unpipe();
    req.removeAllListeners('data');
    req.once('end', close);
    req.once('error', close);
    req.resume();
  });
}
