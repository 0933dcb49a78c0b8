import { Agent, get, type IncomingMessage, request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestStream } from './payload.ts';

export interface Reply {
  readonly status: number;
  readonly body: Buffer;
}

const encodeKey = (key: string): string => key.split('/').map(encodeURIComponent).join('/');

/** A plain HTTP client of the service (keep-alive, like a well-behaved backend calling it), with the API key. */
export class ServiceClient {
  readonly name: string;
  private readonly url: URL;
  private readonly apiKey: string;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(name: string, url: string, apiKey: string) {
    this.name = name;
    this.url = new URL(url);
    this.apiKey = apiKey;
  }

  /** Streams `body` to `PUT /files/{key}`; returns the service's JSON answer. */
  async putStream(key: string, body: Readable, length: number): Promise<{ size: number }> {
    const reply = await this.send('PUT', `/files/${encodeKey(key)}`, body, {
      'content-type': 'application/octet-stream',
      'content-length': String(length),
    });
    return expectJson(reply, [200, 201], `PUT ${key}`);
  }

  /** `POST /files` as a browser form does: a `key` field, then the `file` part streamed from `body`. */
  async postForm(key: string, body: Readable, length: number): Promise<{ size: number }> {
    const boundary = `----bench${Date.now().toString(16)}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\n${key}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="payload.bin"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    async function* form() {
      yield head;
      yield* body;
      yield tail;
    }
    const reply = await this.send('POST', '/files', Readable.from(form(), { objectMode: false }), {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + length + tail.length),
    });
    return expectJson(reply, [201], `POST ${key}`);
  }

  /** Small bodies: sends a buffer, collects the answer. */
  put(key: string, body: Buffer): Promise<Reply> {
    return this.send('PUT', `/files/${encodeKey(key)}`, body, {
      'content-type': 'application/octet-stream',
      'content-length': String(body.length),
    });
  }

  get(key: string): Promise<Reply> {
    return this.send('GET', `/files/${encodeKey(key)}`);
  }

  /** Downloads the object, hashing it as it arrives. */
  async download(key: string): Promise<{ bytes: number; sha256: string }> {
    const res = await this.open('GET', `/files/${encodeKey(key)}`);
    if (res.statusCode !== 200) {
      const body = await collect(res);
      throw new Error(`GET ${key}: HTTP ${res.statusCode}: ${body.toString('utf8').slice(0, 300)}`);
    }
    return digestStream(res);
  }

  /** `GET /files/{key}?redirect=1`, then the object from the presigned S3 URL it names (without the API key). */
  async downloadByRedirect(key: string): Promise<{ bytes: number; sha256: string }> {
    const found = await this.open('GET', `/files/${encodeKey(key)}?redirect=1`);
    const body = await collect(found);
    const location = found.headers.location;
    if (found.statusCode !== 302 || location === undefined) {
      throw new Error(`GET ${key}?redirect=1: HTTP ${found.statusCode}: ${body.toString('utf8').slice(0, 300)}`);
    }
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      get(location, { agent: this.agent }, resolve).on('error', reject);
    });
    if (res.statusCode !== 200) {
      throw new Error(`GET ${key} from S3 after the redirect: HTTP ${res.statusCode}`);
    }
    return digestStream(res);
  }

  /** One page of `GET /files`. */
  async list(
    prefix: string,
    limit: number,
    cursor: string | null,
  ): Promise<{ items: { key: string }[]; nextCursor: string | null }> {
    const query = new URLSearchParams({ prefix, limit: String(limit), ...(cursor ? { cursor } : {}) });
    return expectJson(await this.send('GET', `/files?${query.toString()}`), [200], `list ${prefix}`);
  }

  close(): void {
    this.agent.destroy();
  }

  private async send(
    method: string,
    path: string,
    body?: Readable | Buffer,
    headers: Record<string, string> = {},
  ): Promise<Reply> {
    const res = await this.open(method, path, body, headers);
    return { status: res.statusCode ?? 0, body: await collect(res) };
  }

  private open(
    method: string,
    path: string,
    body?: Readable | Buffer,
    headers: Record<string, string> = {},
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.url.hostname,
          port: this.url.port,
          method,
          path,
          agent: this.agent,
          headers: { authorization: `Bearer ${this.apiKey}`, ...headers },
        },
        resolve,
      );
      req.on('error', reject);
      if (body instanceof Readable) {
        // The answer may come before the body is sent (an error): the request's own error reports the failure.
        pipeline(body, req).catch(() => undefined);
      } else {
        req.end(body);
      }
    });
  }
}

async function collect(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function expectJson<T>(reply: Reply, statuses: number[], what: string): T {
  if (!statuses.includes(reply.status)) {
    throw new Error(`${what}: HTTP ${reply.status}: ${reply.body.toString('utf8').slice(0, 300)}`);
  }
  return JSON.parse(reply.body.toString('utf8')) as T;
}
