import {
  AbortMultipartUploadCommand,
  type AbortMultipartUploadCommandInput,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Inject, Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { storageParameters, writeHeaders, writeParameters, type ObjectParameters } from './object-settings.js';
import { toStorageError } from './storage.errors.js';
import { S3_CLIENT } from './storage.tokens.js';

const ABORT_ATTEMPTS = 3;
const ABORT_RECHECK_MS = 250;

/** What every object request shares. A key is the API's (relative to `S3_PREFIX`); an object key is the bucket's. */
@Injectable()
export class S3Gateway {
  readonly bucket: string;
  private readonly prefix: string;

  constructor(
    @Inject(S3_CLIENT) readonly client: S3Client,
    private readonly config: AppConfig,
  ) {
    this.bucket = config.s3.bucket;
    this.prefix = config.s3.prefix;
  }

  objectKey(key: string): string {
    return this.prefix + key;
  }

  keyOf(objectKey: string): string | undefined {
    return objectKey.startsWith(this.prefix) ? objectKey.slice(this.prefix.length) : undefined;
  }

  at(key: string): { Bucket: string; Key: string } {
    return { Bucket: this.bucket, Key: this.prefix + key };
  }

  copySource(key: string): string {
    return `${this.bucket}/${this.objectKey(key).split('/').map(encodeURIComponent).join('/')}`;
  }

  writeParameters(parameters?: ObjectParameters) {
    return writeParameters(this.config.objects, parameters);
  }

  writeHeaders(parameters?: ObjectParameters): Record<string, string> {
    return writeHeaders(this.config.objects, parameters);
  }

  storageParameters() {
    return storageParameters(this.config.objects);
  }

  /** The write settings on a client the service does not drive (tus's): PutObject (`.info`, `.part`, locks) too. */
  addWriteSettings(client: S3Client): void {
    client.middlewareStack.add(
      (next, context) => (args) => {
        const input = args.input as { CacheControl?: string };
        if (context.commandName === 'CreateMultipartUploadCommand') {
          Object.assign(input, this.writeParameters({ cacheControl: input.CacheControl }));
        } else if (context.commandName === 'PutObjectCommand') {
          Object.assign(input, this.storageParameters());
        }
        return next(args);
      },
      { step: 'initialize', name: 'serviceWriteSettings' },
    );
  }

  /** The object's headers; undefined when there is none. @throws StorageError Unavailable | Timeout | AccessDenied */
  async head(key: string): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.client.send(new HeadObjectCommand(this.at(key)));
    } catch (error) {
      const mapped = toStorageError(error, key);
      if (mapped.code === 'NotFound') {
        return undefined;
      }
      throw mapped;
    }
  }

  abortMultipart(objectKey: string, uploadId: string): Promise<void> {
    return abortMultipartUpload(this.client, { Bucket: this.bucket, Key: objectKey, UploadId: uploadId });
  }
}

/** Aborts until ListParts no longer finds it: a part still arriving revives it (AWS, Ceph RGW). @throws last error */
export async function abortMultipartUpload(client: S3Client, upload: AbortMultipartUploadCommandInput): Promise<void> {
  let failure: Error | undefined;
  for (let attempt = 1; attempt <= ABORT_ATTEMPTS; attempt++) {
    try {
      await client.send(new AbortMultipartUploadCommand(upload));
      failure = undefined;
    } catch (error) {
      if (isMissing(error)) {
        return;
      }
      failure = error as Error;
    }
    await new Promise((resolve) => setTimeout(resolve, ABORT_RECHECK_MS * attempt));
    const found = await client.send(new ListPartsCommand({ ...upload, MaxParts: 1 })).then(
      () => true,
      (error: unknown) => !isMissing(error),
    );
    if (!found) {
      return;
    }
  }
  if (failure !== undefined) {
    throw failure;
  }
}

/** No such upload or object (Ceph RGW lists the parts of an aborted upload as a 404 NoSuchKey). */
export const isMissing = (error: unknown): boolean => {
  const { name, $metadata } = (error ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
  const missing = name === 'NoSuchUpload' || name === 'NoSuchKey' || name === 'NotFound';
  return missing || (name !== 'NoSuchBucket' && $metadata?.httpStatusCode === 404);
};

/** An ETag without its quotes (Ceph RGW 16 compares `If-Match` so; Uppy sends part ETags so). */
export const unquote = (etag: string): string => etag.replace(/^"+|"+$/g, '');

/** An ETag with its quotes, as HTTP has it (Ceph RGW answers CopyObject's without them). */
export const quoted = (etag: string | undefined): string | undefined => etag && `"${unquote(etag)}"`;
