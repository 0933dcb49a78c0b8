/**
 * The development S3 server: s3rver plus fixes for the S3 behaviour the service relies on.
 *
 *   node --openssl-legacy-provider s3rver-main.ts --directory DIR [--port N] [--bucket NAME]... [--cors]
 *        [--silent] [--exit-with-parent] [--without GAP_FILL]...
 *
 * `--without` switches a gap fill off, for tests of a backend that lacks it: `unsigned-headers` (presigned requests
 * then take unsigned x-amz-* headers, as stock s3rver and Ceph RGW do) or `conditions` (If-None-Match ignored).
 *
 * Prints `{"port":N}` on stdout once listening. Development and tests only (never compiled into dist/): Node runs
 * it type-stripped, so it uses erasable TypeScript only and imports its siblings by their `.ts` names.
 */
import { createCipheriv } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type RequestListener } from 'node:http';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createPostObjectHandler, type PostObjectDependencies } from './s3rver-post-object.ts';
import * as sigv4 from './s3rver-sigv4.ts';
import { createKeyedLock, makeStoreAtomic, type Store } from './s3rver-store.ts';

interface Context {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  querystring: string;
  origin: string;
  headers: Record<string, string | string[] | undefined>;
  params?: { bucket: string; key: string };
  req: Readable;
  status: number;
  body: unknown;
  get(field: string): string;
  set(field: string, value: string): void;
  is(type: string): string | false | null;
}
type Next = () => Promise<void>;
type Middleware = (ctx: Context, next: Next) => Promise<void>;

interface S3rverOptions {
  directory: string;
  silent: boolean;
  vhostBuckets: boolean;
  configureBuckets: { name: string; configs: string[] }[];
}
interface S3rverApp {
  middleware: Middleware[];
  store: Store;
  configureBuckets(): Promise<unknown>;
  callback(): RequestListener;
}
type S3ErrorClass = new (code: string, message: string, detail?: Record<string, unknown>) => Error;

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as new (options: S3rverOptions) => S3rverApp;
const S3Error = require('s3rver/lib/models/error.js') as S3ErrorClass;
const corsMiddleware = require('s3rver/lib/middleware/cors.js') as () => Middleware;
const S3Object = require('s3rver/lib/models/object.js') as PostObjectDependencies['S3Object'];
const accounts = (
  require('s3rver/lib/models/account.js') as { registry: Map<string, { accessKeys: Map<string, string> }> }
).registry;

const secretFor = (accessKeyId: string): string | undefined => accounts.get(accessKeyId)?.accessKeys.get(accessKeyId);

/** Runs a SigV4 check, answering its failure as the S3 error it names. */
function checkSignature<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof sigv4.SignatureFailure) {
      throw new S3Error(err.code, err.message, err.detail);
    }
    throw err;
  }
}

const CORS_CONFIG =
  '<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>' +
  ['GET', 'PUT', 'POST', 'HEAD'].map((method) => `<AllowedMethod>${method}</AllowedMethod>`).join('') +
  '<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>';

// s3rver stores `<segment>._S3rver_metadata.json` beside each object: that name must fit in 255 bytes.
const MAX_SEGMENT_BYTES = 255;
const MAX_LAST_SEGMENT_BYTES = MAX_SEGMENT_BYTES - '._S3rver_metadata.json'.length;
const MAX_KEY_BYTES = 1024;

const noSuchUpload = (uploadId: string) =>
  new S3Error(
    'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
    { UploadId: uploadId },
  );

function text(value: string | string[] | undefined): string {
  return typeof value === 'string' ? value : '';
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The bucket and key segments of x-amz-copy-source (`[/]bucket/key`, URL-encoded), decoded. */
function copySource(ctx: Context): string[] {
  return ctx.get('x-amz-copy-source').replace(/^\//, '').split('?')[0].split('/').map(decode);
}

function keyFitsOnDisk(key: string): boolean {
  const segments = key.split('/');
  const last = segments.pop() ?? '';
  return (
    Buffer.byteLength(key) <= MAX_KEY_BYTES &&
    Buffer.byteLength(last) <= MAX_LAST_SEGMENT_BYTES &&
    segments.every((segment) => Buffer.byteLength(segment) <= MAX_SEGMENT_BYTES)
  );
}

/** Koa middleware placed before s3rver's router: the operations and checks s3rver lacks. */
export type GapFill = 'unsigned-headers' | 'conditions';

function fillGaps(store: Store, without: ReadonlySet<GapFill>): Middleware {
  const cors = corsMiddleware();
  const postObject = createPostObjectHandler({
    store,
    S3Error,
    S3Object,
    verifyPolicy: (fields, bucket) => checkSignature(() => sigv4.verifyPostPolicy(fields, bucket, secretFor)),
  });
  const serialize = createKeyedLock();

  async function requireBucket(bucket: string): Promise<void> {
    if (!(await store.getBucket(bucket))) {
      throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
    }
  }

  async function findUpload(bucket: string, key: string, uploadId: string): Promise<string> {
    await requireBucket(bucket);
    const dir = path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
    const storedKey = /^[0-9a-f]+$/.test(uploadId)
      ? await readFile(path.join(dir, 'key'), 'utf8').catch(() => undefined)
      : undefined;
    if (storedKey !== key) {
      throw noSuchUpload(uploadId);
    }
    return dir;
  }

  /** ListMultipartUploads, in one page (S3 pages by 1000; a development server never holds that many). */
  async function listUploads(ctx: Context, bucket: string): Promise<void> {
    await requireBucket(bucket);
    const prefix = text(ctx.query['prefix']);
    const uploadsDir = store.getResourcePath(bucket, undefined, 'uploads');
    const uploads = [];
    for (const uploadId of await readdir(uploadsDir).catch(() => [])) {
      const keyFile = path.join(uploadsDir, uploadId, 'key');
      const [key, info] = await Promise.all([readFile(keyFile, 'utf8'), stat(keyFile)]).catch(() => []);
      if (key?.startsWith(prefix) && info) {
        uploads.push({ Key: key, UploadId: uploadId, StorageClass: 'STANDARD', Initiated: info.mtime });
      }
    }
    uploads.sort((a, b) => (a.Key === b.Key ? a.Initiated.getTime() - b.Initiated.getTime() : a.Key < b.Key ? -1 : 1));
    ctx.body = {
      ListMultipartUploadsResult: {
        '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
        Bucket: bucket,
        Prefix: prefix,
        MaxUploads: 1000,
        IsTruncated: false,
        Upload: uploads.map((upload) => ({ ...upload, Initiated: upload.Initiated.toISOString() })),
      },
    };
  }

  /** ListParts, in one page (a development upload never holds 1000 parts); s3rver has none. */
  async function listParts(ctx: Context, bucket: string, key: string, uploadId: string, dir: string): Promise<void> {
    const numbers = (await readdir(dir))
      .filter((name) => /^\d+$/.test(name))
      .map(Number)
      .sort((a, b) => a - b);
    const parts = [];
    for (const number of numbers) {
      const partPath = path.join(dir, String(number));
      const [md5, info] = await Promise.all([readFile(`${partPath}.md5`, 'utf8'), stat(partPath)]).catch(() => []);
      if (md5 && info) {
        parts.push({ PartNumber: number, LastModified: info.mtime.toISOString(), ETag: `"${md5}"`, Size: info.size });
      }
    }
    ctx.body = {
      ListPartsResult: {
        '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        PartNumberMarker: 0,
        NextPartNumberMarker: parts.at(-1)?.PartNumber ?? 0,
        MaxParts: 1000,
        IsTruncated: false,
        Part: parts,
      },
    };
  }

  /** Turns any single range into the explicit `bytes=start-end` form s3rver handles correctly. */
  async function normalizeRange(ctx: Context, bucket: string, key: string): Promise<void> {
    const header = ctx.get('range');
    const size = await stat(store.getResourcePath(bucket, key, 'object')).then(
      (info) => info.size,
      () => undefined,
    );
    if (size === undefined) {
      return; // s3rver answers NoSuchKey
    }
    const [, first = '', last = ''] = /^bytes=(\d*)-(\d*)$/.exec(header.trim()) ?? [];
    if ((!first && !last) || (first && last && Number(last) < Number(first))) {
      delete ctx.headers['range']; // as S3: an invalid or multiple range is ignored, the whole object is served
      return;
    }
    const start = first ? Number(first) : Math.max(0, size - Number(last));
    const end = first && last ? Math.min(Number(last), size - 1) : size - 1;
    if (start >= size) {
      throw new S3Error('InvalidRange', 'The requested range is not satisfiable', {
        RangeRequested: header,
        ActualObjectSize: size,
      });
    }
    ctx.headers['range'] = `bytes=${start}-${end}`;
  }

  /** UploadPartCopy (s3rver answers NotImplemented): one range of an object, stored as a part. */
  async function uploadPartCopy(ctx: Context, bucket: string, uploadId: string, partNumber: string): Promise<void> {
    const [sourceBucket = '', ...sourceKey] = copySource(ctx);
    await requireBucket(sourceBucket);
    const [, start, end] = /^bytes=(\d+)-(\d+)$/.exec(ctx.get('x-amz-copy-source-range')) ?? [];
    const range = start === undefined ? undefined : { start: Number(start), end: Number(end) };
    const object = await store.getObject(sourceBucket, sourceKey.join('/'), range);
    if (!object?.content) {
      throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: sourceKey.join('/') });
    }
    const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    const { md5 } = await store.putPart(bucket, uploadId, partNumber, source);
    ctx.body = { CopyPartResult: { LastModified: new Date().toISOString(), ETag: JSON.stringify(md5) } };
  }

  async function handle(ctx: Context, next: Next, bucket: string, key: string): Promise<void> {
    const has = (name: string) => name in ctx.query;
    const { method } = ctx;
    if (method === 'PUT' && ctx.get('x-amz-copy-source') && !has('uploadId')) {
      // s3rver reads x-amz-copy-source with decodeURI, which leaves %3F, %23, %2B... encoded: give it what it decodes.
      ctx.headers['x-amz-copy-source'] = encodeURI(copySource(ctx).join('/'));
    }
    if (!key) {
      if (method === 'GET' && has('uploads')) {
        return listUploads(ctx, bucket);
      }
      if (method === 'POST' && has('delete')) {
        // s3rver decodes each chunk of the DeleteObjects XML alone, splitting a UTF-8 character cut by a chunk.
        ctx.req.setEncoding('utf8');
      }
      return next();
    }

    if (has('uploadId')) {
      const uploadId = text(ctx.query['uploadId']);
      const uploadDir = await findUpload(bucket, key, uploadId);
      if (method === 'DELETE') {
        await rm(uploadDir, { recursive: true, force: true });
        ctx.status = 204;
        return;
      }
      if (method === 'GET') {
        return listParts(ctx, bucket, key, uploadId, uploadDir);
      }
      const partNumber = text(ctx.query['partNumber']);
      if (method === 'PUT' && !(/^\d{1,5}$/.test(partNumber) && +partNumber >= 1 && +partNumber <= 10000)) {
        throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
          ArgumentName: 'partNumber',
          ArgumentValue: partNumber,
        });
      }
      if (method === 'PUT' && ctx.get('x-amz-copy-source')) {
        return uploadPartCopy(ctx, bucket, uploadId, partNumber);
      }
    }

    if (!keyFitsOnDisk(key)) {
      if (method === 'GET' || method === 'HEAD') {
        throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
      }
      if (method === 'DELETE') {
        ctx.status = 204;
        return;
      }
      throw new S3Error('KeyTooLongError', 'Your key is too long', { MaxSizeAllowed: MAX_KEY_BYTES });
    }

    if ((method === 'GET' || method === 'HEAD') && ctx.get('range')) {
      await normalizeRange(ctx, bucket, key);
    }

    const upload = method === 'PUT' && !has('tagging') && !has('acl');
    const proceed = () => next();
    const conditional = (upload && !has('uploadId')) || (method === 'POST' && has('uploadId'));
    if (without.has('conditions') || !conditional || ctx.get('if-none-match').trim() !== '*') {
      return proceed();
    }
    // One conditional write at a time per key, so exactly one of two racing creates wins.
    await serialize(`${bucket}/${key}`, async () => {
      if (await store.existsObject(bucket, key)) {
        throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
          Condition: 'If-None-Match',
        });
      }
      await proceed();
    });
  }

  return async (ctx, next) => {
    const [, rawBucket = '', ...rawKey] = ctx.path.split('/');
    if (!rawBucket) {
      return next();
    }
    const bucket = decode(rawBucket);
    const key = rawKey.map(decode).join('/');
    // s3rver's CORS middleware reads the bucket from params; running it here puts CORS headers on our answers too.
    ctx.params ??= { bucket, key };
    await cors(ctx, async () => {
      // s3rver accepts any V4 signature; a presigned URL is verified here (preflights are never signed).
      if (ctx.method !== 'OPTIONS' && 'X-Amz-Algorithm' in ctx.query) {
        checkSignature(() => sigv4.verifyPresignedRequest(ctx, secretFor));
        if (!without.has('unsigned-headers')) {
          checkSignature(() => sigv4.refuseUnsignedHeaders(ctx));
        }
      }
      if (!key && ctx.method === 'POST' && ctx.is('multipart/form-data')) {
        return postObject(ctx, bucket);
      }
      return handle(ctx, next, bucket, key);
    });
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      directory: { type: 'string' },
      port: { type: 'string', default: '0' },
      bucket: { type: 'string', multiple: true, default: [] },
      cors: { type: 'boolean', default: false },
      silent: { type: 'boolean', default: false },
      'exit-with-parent': { type: 'boolean', default: false },
      without: { type: 'string', multiple: true, default: [] },
    },
  });
  if (!values.directory) {
    throw new Error('--directory is required');
  }
  try {
    createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
  } catch {
    throw new Error(
      'DES is unavailable (s3rver needs it for list continuation tokens): run node with --openssl-legacy-provider',
    );
  }

  const directory = path.resolve(values.directory);
  await mkdir(directory, { recursive: true });
  const app = new S3rver({
    directory,
    silent: values.silent,
    vhostBuckets: false,
    configureBuckets: values.bucket.map((name) => ({ name, configs: values.cors ? [CORS_CONFIG] : [] })),
  });
  makeStoreAtomic(app.store);
  // The last middleware is s3rver's router.
  const without = new Set(values.without as GapFill[]);
  app.middleware.splice(app.middleware.length - 1, 0, fillGaps(app.store, without));

  await app.configureBuckets();
  // Our own server rather than s3rver's run(), which lets a listen error crash the process.
  const server = createServer(app.callback());

  let stopping = false;
  const stop = () => {
    if (stopping) {
      return;
    }
    stopping = true;
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  if (values['exit-with-parent']) {
    process.stdin.on('end', stop).on('error', stop).resume();
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) {
        stop();
      }
    }, 1000).unref();
  }

  server.listen(Number(values.port), '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

try {
  await main();
} catch (err) {
  process.stderr.write(`local S3 server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
