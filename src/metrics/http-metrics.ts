import type { NextFunction, Request, Response } from 'express';
import { wireBytes } from '../http/wire-bytes.js';
import type { Metrics } from './metrics.js';

/** The route label of every request no route matched (404s, refused Hosts...): one series, whatever the path. */
export const UNMATCHED_ROUTE = 'unmatched';

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS']);

const templates = new WeakMap<object, string>();
const CATCH_ALL = /^\/?\{?\/?\*\w*\}?$/;

/** `/files/*key` → `/files/{key}`, `/a/:id{/*rest}` → `/a/{id}/{rest}`: Express 5 paths as OpenAPI-style templates. */
export const toTemplate = (path: string): string => path.replace(/[{}]/g, '').replace(/[:*](\w+)/g, '{$1}') || '/';

/** The route template the request matched, from the route itself, so never a raw key or path. */
export function routeLabel(req: Request): string {
  const route = req.route as { path?: unknown } | undefined;
  if (route === undefined || typeof route.path !== 'string') {
    return UNMATCHED_ROUTE;
  }
  let template = templates.get(route);
  if (template === undefined) {
    const path = req.baseUrl + route.path;
    // A catch-all (nestjs-pino's `/{*splat}`) stays in `req.route` when no real route matches afterwards.
    template = CATCH_ALL.test(path) ? UNMATCHED_ROUTE : toTemplate(path);
    templates.set(route, template);
  }
  return template;
}

/** Whether a request moves a file through the service, from its method and target alone (before routing). */
export function transferKind(method: string, url: string): 'upload' | 'download' | undefined {
  switch (method) {
    case 'GET':
      return url.length > 7 && url.startsWith('/files/') && url[7] !== '?' ? 'download' : undefined;
    case 'PUT':
      return url.startsWith('/files/') ? 'upload' : undefined;
    case 'POST':
      return url === '/files' || url.startsWith('/files?') ? 'upload' : undefined;
    case 'PATCH':
      return url.startsWith('/uploads/') ? 'upload' : undefined;
    default:
      return undefined;
  }
}

/** Bytes are the socket's counters since its previous response, so bodies no one reads (a refused upload) count. */
export function httpMetricsMiddleware(metrics: Metrics): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    const start = performance.now();
    const kind = transferKind(req.method, req.url);
    const inFlight = kind === 'upload' ? 'uploadsInFlight' : kind === 'download' ? 'downloadsInFlight' : undefined;
    if (inFlight) {
      metrics[inFlight]++;
    }
    // 'close' comes once per response, finished or not ('finish' never comes for a response cut short).
    res.on('close', () => {
      if (inFlight) {
        metrics[inFlight]--;
      }
      const { bytesIn, bytesOut } = wireBytes(req, res);
      metrics.recordHttp({
        method: METHODS.has(req.method) ? req.method : 'other',
        route: routeLabel(req),
        status: res.statusCode,
        seconds: (performance.now() - start) / 1000,
        bytesIn,
        bytesOut,
        complete: res.writableFinished,
        anonymous: req.anonymous || req.publicRead,
      });
    });
    next();
  };
}
