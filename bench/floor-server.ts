/**
 * The floor: what bare Node does with the service's S3 calls and upload settings, and nothing else. `node:http` +
 * busboy + the AWS SDK v3 client configured as the service configures its own (keep-alive agent, no request
 * checksums), lib-storage `Upload` with the same part size and queue. No framework, validation, auth or logging.
 * Started by the bench exactly as the service is (same Node, same `start:prod` options, same environment), and it
 * prints the same "listening on port N" line.
 */
import { Agent, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import busboy from 'busboy';

const env = process.env;
const bucket = env.S3_BUCKET ?? 'bench';
const partSize = Number(env.UPLOAD_PART_SIZE ?? 8 * 1024 * 1024);
const queueSize = Number(env.UPLOAD_QUEUE_SIZE ?? 2);
const client = new S3Client({
  region: env.AWS_REGION ?? 'us-east-1',
  endpoint: env.S3_ENDPOINT,
  forcePathStyle: env.S3_FORCE_PATH_STYLE === 'true',
  credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '' },
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 256 }) },
});

const json = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

async function upload(key: string, body: Readable, contentType: string) {
  let size = 0;
  body.on('data', (chunk: Buffer) => (size += chunk.length));
  const out = await new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType },
    partSize,
    queueSize,
  }).done();
  return { key, size, contentType, etag: out.ETag ?? '' };
}

function form(req: IncomingMessage): Promise<Awaited<ReturnType<typeof upload>>> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    const parser = busboy({ headers: req.headers });
    parser.on('field', (name, value) => (fields[name] = value));
    parser.on('file', (_name, stream, info) => {
      upload(fields.key ?? info.filename, stream, info.mimeType).then(resolve, reject);
    });
    parser.on('error', reject);
    req.pipe(parser);
  });
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://floor');
  const key = decodeURIComponent(url.pathname.slice('/files/'.length));
  if (req.method === 'GET' && url.pathname === '/files') {
    const out = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: url.searchParams.get('prefix') ?? undefined,
        MaxKeys: Number(url.searchParams.get('limit') ?? 100),
        ContinuationToken: url.searchParams.get('cursor') ?? undefined,
      }),
    );
    json(res, 200, {
      items: (out.Contents ?? []).map((o) => ({ key: o.Key, size: o.Size, etag: o.ETag })),
      nextCursor: out.IsTruncated ? out.NextContinuationToken : null,
    });
  } else if (req.method === 'GET') {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    res.writeHead(200, {
      'content-type': out.ContentType ?? 'application/octet-stream',
      'content-length': out.ContentLength,
      etag: out.ETag,
    });
    await pipeline(out.Body as Readable, res);
  } else if (req.method === 'PUT') {
    json(res, 201, await upload(key, req, req.headers['content-type'] ?? 'application/octet-stream'));
  } else if (req.method === 'POST' && url.pathname === '/files') {
    json(res, 201, await form(req));
  } else {
    json(res, 404, { statusCode: 404 });
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((error: unknown) => {
    if (!res.headersSent) {
      json(res, 502, { statusCode: 502, message: String(error) });
    } else {
      res.destroy();
    }
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ level: 30, msg: `floor listening on port ${port}` })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  client.destroy();
});
