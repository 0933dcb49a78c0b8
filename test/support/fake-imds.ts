import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ImdsCredentials {
  Code: 'Success';
  LastUpdated: string;
  Type: 'AWS-HMAC';
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
}

export interface FakeImdsOptions {
  role?: string;
  localIpv4?: string;
  /** Lifetime of each credentials set (default 6 hours, as EC2 gives). */
  credentialsTtlMs?: number;
  /**
   * Never answer the token PUT, as a container behind the Docker bridge sees IMDS with a hop limit of 1
   * (the response is dropped on the way back).
   */
  dropTokenResponses?: boolean;
}

export interface ImdsRequestRecord {
  method: string;
  path: string;
  token?: string;
}

export interface FakeImds {
  /** For AWS_EC2_METADATA_SERVICE_ENDPOINT. */
  endpoint: string;
  role: string;
  requests: ImdsRequestRecord[];
  /** The credentials handed out now (a new set after `rotate()`). */
  readonly current: ImdsCredentials;
  /** Every credentials set handed out, in order (one entry per fetch). */
  served: ImdsCredentials[];
  rotate(): ImdsCredentials;
  /** Start or stop dropping token responses: the hop limit of 1, then the hop-limit hook's change applied. */
  setDropTokenResponses(drop: boolean): void;
  close(): Promise<void>;
}

const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';

/**
 * A fake EC2 instance metadata service, IMDSv2 only (`HttpTokens: required`): `PUT /latest/api/token` with a TTL
 * header gives a token; every GET needs it (401 without), as on an instance with IMDSv1 disabled.
 */
export async function startFakeImds(options: FakeImdsOptions = {}): Promise<FakeImds> {
  const role = options.role ?? 's3-file-service-instance-role';
  const ttlMs = options.credentialsTtlMs ?? 6 * 3600_000;
  const tokens = new Set<string>();
  const requests: ImdsRequestRecord[] = [];
  const served: ImdsCredentials[] = [];
  const held = new Set<ServerResponse>();
  let current = newCredentials(ttlMs);
  let dropTokenResponses = options.dropTokenResponses ?? false;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0];
    const token = req.headers[TOKEN_HEADER] as string | undefined;
    requests.push({ method: req.method ?? '', path, token });
    const reply = (status: number, body: string, type = 'text/plain') => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.method === 'PUT' && path === '/latest/api/token') {
      if (dropTokenResponses) {
        held.add(res);
        return;
      }
      const ttl = Number(req.headers[TOKEN_TTL_HEADER]);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) {
        reply(400, 'Bad Request');
        return;
      }
      const issued = randomBytes(24).toString('base64url');
      tokens.add(issued);
      reply(200, issued);
      return;
    }
    if (req.method !== 'GET') {
      reply(405, 'Method Not Allowed');
      return;
    }
    if (token === undefined || !tokens.has(token)) {
      reply(401, 'Unauthorized');
      return;
    }
    if (path === '/latest/meta-data/local-ipv4' && options.localIpv4) {
      reply(200, options.localIpv4);
    } else if (path === '/latest/meta-data/iam/security-credentials/') {
      reply(200, role);
    } else if (path === `/latest/meta-data/iam/security-credentials/${role}`) {
      served.push(current);
      reply(200, JSON.stringify(current), 'application/json');
    } else {
      reply(404, 'Not Found');
    }
  };

  const server = createServer(handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    role,
    requests,
    served,
    get current() {
      return current;
    },
    rotate() {
      current = newCredentials(ttlMs);
      return current;
    },
    setDropTokenResponses(drop: boolean) {
      dropTokenResponses = drop;
    },
    async close() {
      for (const res of held) {
        res.destroy();
      }
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function newCredentials(ttlMs: number): ImdsCredentials {
  const now = Date.now();
  return {
    Code: 'Success',
    LastUpdated: new Date(now).toISOString(),
    Type: 'AWS-HMAC',
    AccessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
    SecretAccessKey: randomBytes(30).toString('base64'),
    Token: `IQoJb3JpZ2luX2Vj${randomBytes(48).toString('base64url')}`,
    Expiration: new Date(now + ttlMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}
