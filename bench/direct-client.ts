import { Agent } from 'node:http';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createDevS3Client, S3RVER_CREDENTIALS } from '../dev/s3-client.ts';
import { digestStream } from './payload.ts';

export interface UploadTuning {
  readonly partSize: number;
  readonly queueSize: number;
}

/**
 * The baseline: the AWS SDK talking straight to S3, configured as the service configures its own client (keep-alive
 * agent, no request checksums) and uploading with the same part size and queue depth.
 */
export class DirectClient {
  readonly name = 'direct';
  readonly s3: S3Client;
  private readonly bucket: string;
  private readonly tuning: UploadTuning;

  constructor(endpoint: string, bucket: string, tuning: UploadTuning) {
    this.bucket = bucket;
    this.tuning = tuning;
    this.s3 = createDevS3Client(endpoint, S3RVER_CREDENTIALS, {
      requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 256 }) },
    });
  }

  /** What the service does for a streamed upload: `@aws-sdk/lib-storage`'s `Upload`. */
  async upload(key: string, body: Readable): Promise<void> {
    await new Upload({
      client: this.s3,
      params: { Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' },
      partSize: this.tuning.partSize,
      queueSize: this.tuning.queueSize,
    }).done();
  }

  /** A single PutObject with a known length (buffer or stream). */
  async put(key: string, body: Buffer | Readable, length: number): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: length,
        ContentType: 'application/octet-stream',
      }),
    );
  }

  async get(key: string): Promise<Buffer> {
    const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  }

  async download(key: string): Promise<{ bytes: number; sha256: string }> {
    const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return digestStream(out.Body as Readable);
  }

  async list(prefix: string, limit: number, token: string | undefined): Promise<{ keys: string[]; next?: string }> {
    const out = await this.s3.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: limit, ContinuationToken: token }),
    );
    return {
      keys: (out.Contents ?? []).map((o) => o.Key ?? ''),
      next: out.IsTruncated ? out.NextContinuationToken : undefined,
    };
  }

  close(): void {
    this.s3.destroy();
  }
}
