import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';

export interface RecordedRequest {
  method: string;
  path: string;
  /** The key id of `Authorization: AWS4-HMAC-SHA256 Credential=<key id>/…`. */
  keyId?: string;
  securityToken?: string;
  /** The request's headers as received. */
  headers: IncomingHttpHeaders;
}

export interface RecordingProxy {
  endpoint: string;
  requests: RecordedRequest[];
  /** Requests received whose answer has not ended yet. */
  readonly inFlight: number;
  close(): Promise<void>;
}

/**
 * A pass-through HTTP proxy on loopback in front of an S3 endpoint that records who signed each request.
 * `resignWith`: keys the S3 server knows. Requests signed with other keys (the fake instance role's) are recorded,
 * then signed again with these, without the session token, on the way through.
 */
export async function startRecordingProxy(
  target: string,
  { resignWith }: { resignWith?: { accessKeyId: string; secretAccessKey: string } } = {},
): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const requests: RecordedRequest[] = [];
  let inFlight = 0;
  const signer =
    resignWith &&
    new SignatureV4({
      credentials: resignWith,
      region: 'us-east-1',
      service: 's3',
      sha256: NodeSha256,
      uriEscapePath: false,
    });
  const server = createServer((req, res) => {
    inFlight++;
    res.once('close', () => inFlight--);
    const authorization = req.headers.authorization ?? '';
    requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      keyId: /Credential=([^/]+)\//.exec(authorization)?.[1],
      securityToken: req.headers['x-amz-security-token'] as string | undefined,
      headers: req.headers,
    });
    void resign(signer, req.method ?? 'GET', req.url ?? '/', req.headers).then(
      (headers) => {
        const forward = httpRequest(
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', () => res.destroy());
        req.pipe(forward);
      },
      () => res.destroy(),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    get inFlight() {
      return inFlight;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Signs a header-signed request again (the body's hash comes from its `x-amz-content-sha256`, so it is not read). */
async function resign(
  signer: SignatureV4 | undefined,
  method: string,
  url: string,
  received: IncomingHttpHeaders,
): Promise<IncomingHttpHeaders> {
  if (!signer || !received.authorization) {
    return received;
  }
  const { authorization: _, 'x-amz-security-token': _token, 'x-amz-date': _date, ...kept } = received;
  const headers = Object.fromEntries(Object.entries(kept).map(([name, value]) => [name, String(value)]));
  const { pathname, searchParams } = new URL(url, 'http://proxy');
  const signed = await signer.sign({
    method,
    protocol: 'http:',
    hostname: 'proxy',
    path: pathname,
    query: Object.fromEntries(searchParams),
    headers,
  });
  return signed.headers;
}

/** The SDK's hash interface (SHA-256, or HMAC-SHA256 with a secret) on node:crypto. */
class NodeSha256 {
  private readonly hash: Hash | Hmac;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(toBuffer(data));
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.hash.digest());
  }

  reset(): void {
    throw new Error('not supported');
  }
}

const toBuffer = (data: string | ArrayBuffer | ArrayBufferView): Buffer =>
  typeof data === 'string'
    ? Buffer.from(data)
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);
