import { once } from 'node:events';
import {
  type Agent,
  createServer,
  type IncomingHttpHeaders,
  request,
  type RequestListener,
  type Server,
} from 'node:http';
import { type AddressInfo, connect } from 'node:net';

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** False when the connection broke before the whole body arrived. */
  complete: boolean;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string | number>;
  /** Written in order, without copying. */
  body?: Buffer | Buffer[];
  agent?: Agent;
  /** The whole exchange must end within this, or the promise rejects (a hung request fails the test). */
  timeoutMs?: number;
}

/** One HTTP request with node:http; a body cut short resolves with `complete: false` instead of throwing. */
export function send(url: string, options: SendOptions = {}): Promise<HttpResult> {
  const { method = 'GET', headers = {}, body, agent, timeoutMs = 30_000 } = options;
  return new Promise((resolve, reject) => {
    // Built before the timer: a request that node:http refuses at once (a bad header) throws here, leaving no timer.
    const req = request(url, { method, headers, agent: agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', () => undefined);
      res.on('close', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          complete: res.complete,
        });
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${method} ${url}: no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    const parts = body === undefined ? [] : Array.isArray(body) ? body : [body];
    void (async () => {
      for (const part of parts) {
        if (!req.write(part)) {
          await Promise.race([once(req, 'drain'), once(req, 'close')]);
        }
        if (req.destroyed) {
          return;
        }
      }
      req.end();
    })();
  });
}

/** The pieces of a multipart/form-data body: text fields first, then one file part per entry of `files`. */
export function multipartBody(
  fields: Record<string, string>,
  files: { name: string; fileName: string; contentType?: string; data: Buffer }[],
  boundary = `----fault${Math.random().toString(16).slice(2)}`,
): { contentType: string; parts: Buffer[]; length: number } {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  for (const file of files) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${file.name}"; filename="${file.fileName}"\r\n` +
          `Content-Type: ${file.contentType ?? 'application/octet-stream'}\r\n\r\n`,
      ),
      file.data,
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    parts,
    length: parts.reduce((n, p) => n + p.length, 0),
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  /** Decoded as UTF-8. */
  body: string;
  /** Everything the server sent, decoded as latin1. */
  raw: string;
}

/**
 * Sends bytes exactly as given on a fresh TCP connection (for requests node:http refuses to build) and reads until
 * the server closes. The request should say `Connection: close`.
 */
export async function rawRequest(port: number, request: string | Buffer, timeoutMs = 15_000): Promise<RawResponse> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(request);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  // Not `once()`: it rejects on 'error', and a reset after the answer arrived still leaves the answer to read.
  await new Promise((resolve) => socket.once('close', resolve));
  clearTimeout(timer);
  return parseRawAnswer(Buffer.concat(chunks));
}

/** The final answer (after any 100 Continue) in the bytes a server sent. */
export function parseRawAnswer(received: Buffer): RawResponse {
  const all = received.toString('latin1');
  // Skip interim answers (100 Continue) to reach the final one.
  const skipped = /^(HTTP\/1\.[01] 1\d\d[^\r]*\r\n(?:[^\r]+\r\n)*\r\n)*/.exec(all)![0].length;
  const raw = all.slice(skipped);
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = raw.slice(0, end === -1 ? raw.length : end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0),
    headers,
    body: end === -1 ? '' : received.subarray(skipped + end + 4).toString('utf8'),
    raw: all,
  };
}

/** A 4xx answer in the service's one error shape: JSON `{statusCode, error, message}`. */
export function expectJsonError(
  res: { status: number; headers: Record<string, unknown>; body: unknown },
  status?: number,
) {
  if (status !== undefined) {
    expect(res.status).toBe(status);
  }
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  expect(JSON.parse(String(res.body))).toEqual({
    statusCode: res.status,
    error: expect.any(String),
    message: expect.any(String),
  });
}

/**
 * Opens a raw connection, writes `head` (and then `tick` every `everyMs`, for `forMs` if given), and resolves when the
 * server ends it: at its FIN (`end`), or at its close (`close`: the connection is half-open until then, so a client
 * still writing sees the reset). Gives up (destroys it) after `guardMs`.
 */
export async function rawUntilClosed(
  port: number,
  head: string | Buffer,
  options: { tick?: { data: Buffer; everyMs: number; forMs?: number }; until?: 'end' | 'close'; guardMs?: number } = {},
) {
  const { tick, until = 'end', guardMs = 20_000 } = options;
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => undefined);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  await once(socket, 'connect');
  const started = Date.now();
  socket.write(head);
  const timer =
    tick &&
    setInterval(() => {
      if (tick.forMs !== undefined && Date.now() - started >= tick.forMs) {
        clearInterval(timer);
      } else if (socket.writable) {
        socket.write(tick.data);
      }
    }, tick.everyMs);
  const guard = setTimeout(() => socket.destroy(), guardMs);
  await new Promise((resolve) => {
    socket.once('close', resolve);
    if (until === 'end') {
      socket.once('end', resolve);
    }
  });
  const afterMs = Date.now() - started;
  clearInterval(timer);
  clearTimeout(guard);
  socket.destroy();
  return { afterMs, answer: Buffer.concat(received).toString('latin1') };
}

/**
 * Sends a whole request before reading anything of the answer, as many clients do (Python's requests, curl without
 * `Expect`): the answer is read only once every byte of `body` is written. With `chunked`, each part is one chunk.
 * Resolves with the error a write met (a reset: the server closed with bytes unread) and what the server sent.
 */
export async function writeAllThenRead(
  port: number,
  head: string,
  body: Buffer[],
  options: { chunked?: boolean; timeoutMs?: number } = {},
): Promise<{ writeError?: string; answer: RawResponse }> {
  const socket = connect({ port, host: '127.0.0.1' });
  let writeError: string | undefined;
  socket.on('error', (error: NodeJS.ErrnoException) => (writeError ??= error.code ?? error.message));
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.pause();
  await once(socket, 'connect');
  const guard = setTimeout(() => socket.destroy(), options.timeoutMs ?? 60_000);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  const frames = options.chunked
    ? [
        ...body.flatMap((part) => [Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]),
        Buffer.from('0\r\n\r\n'),
      ]
    : body;
  for (const frame of [Buffer.from(head), ...frames]) {
    if (socket.destroyed) {
      break;
    }
    if (!socket.write(frame)) {
      await Promise.race([once(socket, 'drain'), closed]);
    }
  }
  socket.resume();
  await closed;
  clearTimeout(guard);
  return { writeError, answer: parseRawAnswer(Buffer.concat(received)) };
}

/** A `node:http` server on a free loopback port, for unit tests; `close()` also drops its keep-alive connections. */
export async function listenOnLoopback(
  handler: RequestListener,
): Promise<{ server: Server; port: number; url: string; close: () => Promise<void> }> {
  const server = createServer(handler).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  };
  return { server, port, url: `http://127.0.0.1:${port}`, close };
}
