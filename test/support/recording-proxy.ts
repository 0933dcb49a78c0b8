import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  /** The key id of `Authorization: AWS4-HMAC-SHA256 Credential=<key id>/…`. */
  keyId?: string;
  securityToken?: string;
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
 * `forwardKeyIdAs`: s3rver knows only its own key id (and does not check SigV4 signatures), so the recorded key id
 * is swapped for that one on the way through.
 */
export async function startRecordingProxy(
  target: string,
  { forwardKeyIdAs }: { forwardKeyIdAs?: string } = {},
): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const requests: RecordedRequest[] = [];
  let inFlight = 0;
  const server = createServer((req, res) => {
    inFlight++;
    res.once('close', () => inFlight--);
    const authorization = req.headers.authorization ?? '';
    requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      keyId: /Credential=([^/]+)\//.exec(authorization)?.[1],
      securityToken: req.headers['x-amz-security-token'] as string | undefined,
    });
    const headers = { ...req.headers };
    if (forwardKeyIdAs && headers.authorization) {
      headers.authorization = headers.authorization.replace(/Credential=[^/]+\//, `Credential=${forwardKeyIdAs}/`);
    }
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
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
