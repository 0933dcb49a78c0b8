import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from './metrics.js';

export const METRICS_PATH = '/metrics';
const BEARER = /^Bearer +(\S+) *$/i;

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Whether the request carries `Authorization: Bearer <token>`, compared in constant time. */
function presentsToken(req: IncomingMessage, token: string): boolean {
  const presented = BEARER.exec(req.headers.authorization ?? '')?.[1];
  return presented !== undefined && timingSafeEqual(digest(presented), digest(token));
}

/** The service's error body (`http/problem.ts`), written here: metrics sit below the HTTP layer, which uses storage. */
export const sendJson = (res: ServerResponse, statusCode: number, error: string, message: string): void => {
  res.statusCode = statusCode;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(JSON.stringify({ statusCode, error, message }));
};

/** GET/HEAD /metrics in plain node:http, past the Host check and API keys: the token is its access control. */
export async function serveMetrics(
  metrics: Metrics,
  token: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (token !== undefined && !presentsToken(req, token)) {
    res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
    sendJson(res, 401, 'Unauthorized', 'the metrics token is required: send "Authorization: Bearer <METRICS_TOKEN>"');
    return;
  }
  try {
    const { contentType, body } = await metrics.exposition();
    res.statusCode = 200;
    res.setHeader('Content-Type', contentType);
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch {
    sendJson(res, 500, 'Internal Server Error', 'the metrics could not be collected');
  }
}

export function isScrape(req: IncomingMessage): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return false;
  }
  const url = req.url ?? '';
  return url === METRICS_PATH || url.startsWith(`${METRICS_PATH}?`);
}
