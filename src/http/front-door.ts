import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';

/** The checks before routing as one Express layer (each layer costs a path match and a dispatch per request). */
export function frontDoor(steps: readonly RequestHandler[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    let index = 0;
    const step = (error?: unknown): void => {
      const handler = steps[index++];
      if (error !== undefined || handler === undefined) {
        next(error);
        return;
      }
      void handler(req, res, step);
    };
    step();
  };
}

/** helmet's default headers, worked out once at boot: its twelve chained middlewares redo that on each request. */
export function securityHeaders(): RequestHandler {
  const set: [string, string][] = [];
  const removed: string[] = [];
  const recorder = {
    setHeader: (name: string, value: string) => set.push([name, value]),
    removeHeader: (name: string) => removed.push(name),
  };
  let failure: unknown;
  helmet()({ headers: {} } as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    failure = error;
  });
  if (failure !== undefined || set.length === 0) {
    throw new Error('helmet did not set its headers synchronously: security headers cannot be precomputed');
  }
  return (_req: Request, res: Response, next: NextFunction): void => {
    for (const [name, value] of set) {
      res.setHeader(name, value);
    }
    for (const name of removed) {
      res.removeHeader(name);
    }
    next();
  };
}
