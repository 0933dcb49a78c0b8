import {
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type MultipartUpload,
  type S3Client,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDevS3Client } from '../../dev/s3-client.ts';
import { LocalS3Server } from '../../dev/s3rver/local-s3.server.ts';

export interface TestS3Server {
  endpoint: string;
  port: number;
  /** The data directory (removed by `stop()`). */
  directory: string;
  /** The first bucket. */
  bucket: string;
  buckets: string[];
  /** A client for this server, as the service would configure one for s3rver. */
  s3: S3Client;
  /** Stops the server for good and deletes its data. */
  stop(): Promise<void>;
  /** Stops the process but keeps its data and port: an outage until `restart()`. */
  halt(): Promise<void>;
  /** Starts it again (halting it first if it runs) on the same port with the same data. */
  restart(): Promise<void>;
}

export function randomBucketName(): string {
  return `test-${randomBytes(6).toString('hex')}`;
}

/**
 * Starts the development S3 server (s3rver) on a free port with a fresh data directory and the given (default: one random) buckets;
 * `cors: false` leaves the buckets without the permissive CORS rule, for a test to set its own.
 */
export async function startS3Server(options: { buckets?: string[]; cors?: boolean } = {}): Promise<TestS3Server> {
  const buckets = options.buckets?.length ? options.buckets : [randomBucketName()];
  const directory = await mkdtemp(path.join(tmpdir(), 'local-s3-'));
  const server = new LocalS3Server({ directory, buckets, cors: options.cors });
  try {
    await server.start();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  const s3 = createDevS3Client(server.endpoint);
  return {
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

/** The multipart uploads in progress in a bucket (the first page, which on the local server holds them all). */
export async function listMultipartUploads(s3: S3Client, bucket: string, prefix?: string): Promise<MultipartUpload[]> {
  const { Uploads = [] } = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return Uploads;
}

/** Whether `key` is in the bucket, asked of S3 directly (not through the service). */
export function objectExists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  return s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    () => false,
  );
}
