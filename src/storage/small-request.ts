import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface SmallRequest {
  readonly method: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Aborts the exchange, the reading of the answer included. */
  readonly signal?: AbortSignal;
}

export interface SmallAnswer {
  readonly status: number;
  readonly body: string;
}

/** An answer longer than this is refused: the exchanges made here (S3 errors, IMDS values) are a few hundred bytes. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * One HTTP(S) request, its answer read as text, for the service's own few (backend probe, IMDS). Not `fetch`: undici
 * and its WebAssembly parser keep ~12 MiB resident (measured). Like `fetch`, no redirects, and `Content-Length` sent.
 * @throws the request's error: `AbortError` when `signal` aborts, a system error (`code`: `ECONNREFUSED`, ...)
 */
export function sendSmallRequest(
  url: string,
  { method, headers = {}, body, signal }: SmallRequest,
): Promise<SmallAnswer> {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  const sendsBody = body !== undefined || (method !== 'GET' && method !== 'HEAD');
  const length = sendsBody ? { 'content-length': Buffer.byteLength(body ?? '') } : {};
  return new Promise((resolve, reject) => {
    const req = send(url, { method, headers: { ...headers, ...length }, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        chunks.push(chunk);
        if (size > MAX_ANSWER_BYTES) {
          req.destroy(
            new Error(`the answer of ${method} ${new URL(url).host} is longer than ${MAX_ANSWER_BYTES} bytes`),
          );
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
