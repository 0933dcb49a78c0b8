import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  ListObjectsV2Command,
  type MultipartUpload,
  PutBucketCorsCommand,
  type S3Client,
  type S3ServiceException,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDevS3Client, S3RVER_CREDENTIALS } from '../../dev/s3-client.ts';
import { LocalS3Server, type LocalS3ServerOptions } from '../../dev/s3rver/local-s3.server.ts';
import { RGW_ENV } from './backend-setup.js';
import { FaultProxy } from './fault-proxy.js';

/**
 * The S3 server the e2e suites run against: `S3_TEST_BACKEND=s3rver` (default; one embedded server per suite) or
 * `rgw` (one Ceph RGW for the whole run, started by the jest globalSetup; fresh buckets per suite).
 */
export type TestBackend = 's3rver' | 'rgw';

export function testBackend(): TestBackend {
  const backend = process.env.S3_TEST_BACKEND ?? 's3rver';
  if (backend !== 's3rver' && backend !== 'rgw') {
    throw new Error(`S3_TEST_BACKEND must be s3rver or rgw, not ${backend}`);
  }
  return backend;
}

/** The backend's keys, as the service and the tests' own clients use them. */
export function testCredentials(): { accessKeyId: string; secretAccessKey: string } {
  if (testBackend() === 's3rver') {
    return S3RVER_CREDENTIALS;
  }
  const accessKeyId = process.env[RGW_ENV.accessKeyId];
  const secretAccessKey = process.env[RGW_ENV.secretAccessKey];
  if (!accessKeyId || !secretAccessKey) {
    throw new Error(
      `S3_TEST_BACKEND=rgw without ${RGW_ENV.accessKeyId}/${RGW_ENV.secretAccessKey}: is the jest globalSetup configured?`,
    );
  }
  return { accessKeyId, secretAccessKey };
}

/** `describe` on the embedded s3rver only: suites about its own gap fills, which a real S3 does not need. */
export function describeOnS3rver(name: string, fn: () => void): void {
  if (testBackend() === 's3rver') {
    describe(name, fn);
  } else {
    // The reason reaches the end of the test summary (test/support/skipped-reporter.ts).
    describe.skip(`${name} [SKIPPED on ${testBackend()}: s3rver's own gap fills, which a real S3 does not need]`, fn);
  }
}

/**
 * `describe` where the service hands out presigned PUTs: on a backend that applies unsigned headers to presigned
 * requests (Ceph RGW), it signs POST forms instead (test/backend-capabilities.e2e-spec.ts).
 */
export function describeWithPresignedPuts(name: string, fn: () => void): void {
  if (testBackend() === 's3rver') {
    describe(name, fn);
  } else {
    describe.skip(
      `${name} [SKIPPED on ${testBackend()}: it applies unsigned headers to presigned PUTs, so uploads are POST forms]`,
      fn,
    );
  }
}

export interface TestS3Server {
  backend: TestBackend;
  endpoint: string;
  port: number;
  /** s3rver's data directory (removed by `stop()`); empty on RGW, which keeps its data in memory. */
  directory: string;
  /** The first bucket. */
  bucket: string;
  buckets: string[];
  /** A client for this server, as the service would configure one for it. */
  s3: S3Client;
  /** Stops the server for good and deletes its data (on RGW: empties and removes the buckets). */
  stop(): Promise<void>;
  /** Stops the process but keeps its data and port: an outage until `restart()` (on RGW: the handle's proxy). */
  halt(): Promise<void>;
  /** Starts it again (halting it first if it runs) on the same port with the same data. */
  restart(): Promise<void>;
}

export function randomBucketName(): string {
  return `test-${randomBytes(6).toString('hex')}`;
}

/**
 * Starts the development S3 server (s3rver) on a free port with a fresh data directory and the given (default: one random) buckets;
 * `cors: false` leaves the buckets without the permissive CORS rule, for a test to set its own; `without` switches
 * gap fills of s3rver off (s3rver only: RGW has none). On RGW, creates the
 * buckets on the run's RGW instead, behind a loopback proxy of this handle's own (whose closing is the outage).
 */
export async function startS3Server(
  options: { buckets?: string[]; cors?: boolean; without?: LocalS3ServerOptions['without'] } = {},
): Promise<TestS3Server> {
  const buckets = options.buckets?.length ? options.buckets : [randomBucketName()];
  if (testBackend() === 'rgw') {
    return openRgwBuckets(buckets, options.cors ?? true);
  }
  const directory = await mkdtemp(path.join(tmpdir(), 'local-s3-'));
  const server = new LocalS3Server({ directory, buckets, cors: options.cors, without: options.without });
  try {
    await server.start();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  const s3 = createDevS3Client(server.endpoint);
  return {
    backend: 's3rver',
    endpoint: server.endpoint,
    port: server.port,
    directory,
    bucket: buckets[0],
    buckets,
    s3,
    async stop() {
      s3.destroy();
      await server.stop();
      await rm(directory, { recursive: true, force: true });
    },
    halt: () => server.stop(),
    async restart() {
      await server.stop();
      await server.start();
    },
  };
}

const PERMISSIVE_CORS = {
  CORSRules: [
    {
      AllowedOrigins: ['*'],
      AllowedMethods: ['GET', 'PUT', 'POST', 'HEAD'],
      AllowedHeaders: ['*'],
      ExposeHeaders: ['ETag'],
    },
  ],
};

async function openRgwBuckets(buckets: string[], cors: boolean): Promise<TestS3Server> {
  const rgwEndpoint = process.env[RGW_ENV.endpoint];
  if (!rgwEndpoint) {
    throw new Error(`S3_TEST_BACKEND=rgw without ${RGW_ENV.endpoint}: is the jest globalSetup configured?`);
  }
  const direct = createDevS3Client(rgwEndpoint, testCredentials());
  for (const bucket of buckets) {
    await direct.send(new CreateBucketCommand({ Bucket: bucket }));
    if (cors) {
      await direct.send(new PutBucketCorsCommand({ Bucket: bucket, CORSConfiguration: PERMISSIVE_CORS }));
    }
  }
  const proxy = await FaultProxy.start(Number(new URL(rgwEndpoint).port));
  const s3 = createDevS3Client(proxy.endpoint, testCredentials());
  return {
    backend: 'rgw',
    endpoint: proxy.endpoint,
    port: proxy.port,
    directory: '',
    bucket: buckets[0],
    buckets,
    s3,
    async stop() {
      s3.destroy();
      await proxy.close();
      try {
        for (const bucket of buckets) {
          await emptyAndRemoveBucket(direct, bucket);
        }
      } finally {
        direct.destroy();
      }
    },
    halt: () => proxy.setMode({ kind: 'refuse' }),
    restart: () => proxy.setMode({ kind: 'pass' }),
  };
}

async function emptyAndRemoveBucket(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const { Uploads = [] } = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    await Promise.all(
      Uploads.map((u) =>
        s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId })),
      ),
    );
    const { Contents = [] } = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    await Promise.all(Contents.map(({ Key }) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key }))));
    if (Uploads.length === 0 && Contents.length === 0) {
      break;
    }
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** The multipart uploads in progress in a bucket (the first page, which on the local server holds them all). */
export async function listMultipartUploads(s3: S3Client, bucket: string, prefix?: string): Promise<MultipartUpload[]> {
  const { Uploads = [] } = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return Uploads;
}

/**
 * The multipart uploads under `prefix` that still exist. Ceph RGW can keep listing an upload that was aborted while
 * it was still receiving a part the service had given up on (a stale bucket-index entry): ListParts then answers
 * NoSuchKey, and the upload holds nothing and can never complete.
 */
export async function liveMultipartUploads(s3: S3Client, bucket: string, prefix?: string): Promise<MultipartUpload[]> {
  const listed = await listMultipartUploads(s3, bucket, prefix);
  const live = await Promise.all(
    listed.map((upload) =>
      s3.send(new ListPartsCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId })).then(
        () => true,
        (error: { name?: string }) => error.name !== 'NoSuchKey' && error.name !== 'NoSuchUpload',
      ),
    ),
  );
  return listed.filter((_, i) => live[i]);
}

/**
 * Whether `key` is in the bucket, asked of S3 directly (not through the service). Only S3's "not found" is false:
 * any other failure (S3 down, access refused) throws, so "nothing was stored" cannot pass without an answer.
 */
export async function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as S3ServiceException).$metadata?.httpStatusCode === 404) {
      return false;
    }
    throw error;
  }
}
