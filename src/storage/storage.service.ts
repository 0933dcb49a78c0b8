import { randomUUID } from 'node:crypto';
import { finished, Transform, type Readable, type TransformCallback } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { MAX_SINGLE_UPLOAD_BYTES } from '../config/s3-options.js';
import { BackendCapabilities, ifMatch } from './backend-capabilities.js';
import { ListCursors } from './list-cursor.js';
import type { ObjectParameters } from './object-settings.js';
import { isReservedKey, RESERVED_PREFIX } from './reserved-keys.js';
import { StorageError, toBucketError, toStorageError, translated } from './storage.errors.js';
import {
  presign,
  signedHeaders,
  windowOf,
  type SignDownloadInput,
  type SignedRequest,
  type SignUploadInput,
} from './signed-request.js';
import { S3Gateway } from './s3-gateway.js';
import { S3_SIGNING_CLIENT } from './storage.tokens.js';
import { UploadMemory } from './upload-memory.js';
import { partSizeFor, writeObject, type WriteResult } from './object-writer.js';

export interface UploadResult {
  readonly key: string;
  readonly size: number;
  readonly contentType: string;
  readonly etag: string;
  /** False when an existing object was replaced; undefined unless `reportCreated` or `ifNoneMatch` was asked. */
  readonly created?: boolean;
}

export interface ObjectStream extends Omit<UploadResult, 'created'> {
  readonly lastModified: Date;
  readonly body: Readable;
  /** Bytes in this response: the whole object, or the range. */
  readonly contentLength: number;
  readonly contentRange?: string;
  readonly cacheControl?: string;
  readonly contentDisposition?: string;
  /** User metadata (lower-case names, without `x-amz-meta-`), the service's own marker left out. */
  readonly metadata: Readonly<Record<string, string>>;
}

export interface UploadInput {
  readonly key: string;
  readonly body: Readable;
  readonly contentType: string;
  /** Refuse to replace an existing object (S3's conditional write where it honours one, else a HEAD first). */
  readonly ifNoneMatch?: boolean;
  readonly maxBytes: number;
  /** The body's length or an upper bound (`Content-Length`), when known: sizes the parts to fit 10,000 of them. */
  readonly size?: number;
  /** Tell whether the key was new (`created`), which costs a HEAD request before the upload. */
  readonly reportCreated?: boolean;
  readonly precondition?: Precondition;
  /** Cache-Control, Content-Disposition and user metadata stored with the object (validated by the caller). */
  readonly parameters?: ObjectParameters;
}

/** A condition on the current object, checked with a HEAD, then by S3 on the write where the backend honours it. */
export type Precondition = (current: Pick<ObjectStream, 'etag' | 'lastModified'> | undefined) => boolean;

export interface ReadConditions {
  /** A validated single range: `bytes=0-99`, `bytes=100-` or `bytes=-100`. */
  readonly range?: string;
  readonly ifNoneMatch?: string;
  readonly ifModifiedSince?: Date;
}

/** User metadata naming the upload that wrote an object (`x-amz-meta-upload-marker`). */
const UPLOAD_MARKER = 'upload-marker';

/** Single objects: upload, read, list, delete, sign. Keys given and returned are relative to `S3_PREFIX`. */
@Injectable()
export class StorageService implements OnApplicationShutdown {
  private readonly cursors: ListCursors;
  readonly uploadMemory: UploadMemory;

  constructor(
    private readonly s3: S3Gateway,
    private readonly config: AppConfig,
    @Inject(S3_SIGNING_CLIENT) private readonly signer: S3Client,
    private readonly capabilities: BackendCapabilities,
  ) {
    this.cursors = new ListCursors(config.cursorSecret, JSON.stringify([config.s3.bucket, config.s3.prefix]));
    this.uploadMemory = new UploadMemory(config.uploads.memoryBytes, config.requestBodies.memoryWaitMs);
  }

  /**
   * Streams `body` to S3 (multipart above the part size); on any failure the multipart upload is aborted.
   * @throws StorageError TooLarge | PreconditionFailed | Aborted | Unavailable | Timeout | AccessDenied | BadGateway
   */
  async upload(input: UploadInput): Promise<UploadResult> {
    const conditional = input.ifNoneMatch || input.precondition || input.reportCreated;
    const writes = conditional ? await this.capabilities.conditionalWrites() : undefined;
    // A body that fits one PutObject learns from S3's conditional write, where honoured, whether its key was new; a
    // larger one checks with a HEAD first, so that a refused upload is refused before its body is sent.
    const single = input.size !== undefined && input.size <= this.config.uploads.partSize;
    const putRefuses = writes?.putIfNoneMatch === true;
    const detectCreated = single && putRefuses && input.reportCreated && !input.ifNoneMatch && !input.precondition;
    const checked =
      !detectCreated && (input.reportCreated || input.precondition || (input.ifNoneMatch && !(single && putRefuses)));
    const current = checked ? await this.current(input.key) : undefined;
    const existing = checked ? current !== undefined : undefined;
    if (existing && input.ifNoneMatch) {
      throw new StorageError('PreconditionFailed', 'an object with this key already exists');
    }
    if (input.precondition && !input.precondition(current)) {
      throw preconditionFailed();
    }
    const counter = new ByteLimit(input.maxBytes);
    // Any unclean end of the body errors `counter`, aborting the upload; the body itself is left open (not destroyed):
    // the caller still answers on its connection, and reads the rest so that the client sees the answer.
    input.body.pipe(counter);
    // Errors reach the upload through its reader; this keeps one that comes before the reader starts from crashing.
    counter.on('error', () => undefined);
    let bodyFailure: Error | undefined;
    finished(input.body, { writable: false }, (error) => {
      if (error) {
        bodyFailure = error;
        counter.destroy(error);
      }
    });
    const marker = randomUUID();
    // The write's conditions for S3 (no object; still this ETag), each sent only where the backend honours it.
    const absent = input.ifNoneMatch || (input.precondition !== undefined && !current);
    const sameEtag = ifMatch(input.precondition ? current?.etag : undefined, writes?.ifMatch);
    let written: WriteResult;
    try {
      written = await writeObject({
        client: this.s3.client,
        params: {
          ...this.s3.at(input.key),
          ContentType: input.contentType,
          ...this.s3.writeParameters(input.parameters),
          Metadata: { ...input.parameters?.metadata, [UPLOAD_MARKER]: marker },
        },
        conditions: { ...(absent && writes?.putIfNoneMatch ? { IfNoneMatch: '*' } : {}), ...sameEtag },
        multipartConditions: { ...(absent && writes?.completeIfNoneMatch ? { IfNoneMatch: '*' } : {}), ...sameEtag },
        body: counter,
        partSize: partSizeFor(input.size, this.config.uploads.partSize),
        size: input.size,
        queueSize: this.config.uploads.queueSize,
        memory: this.uploadMemory,
        // Destroyed before its end (a body read to its end is destroyed too, and may still wait for memory).
        cancelled: () => counter.destroyed && !counter.readableEnded,
        detectCreated,
        writtenHere: () => this.writtenBy(input.key, marker),
      });
    } catch (error) {
      // S3 may have carried out a write whose answer was lost; the SDK's retry then fails (NoSuchUpload, 412...).
      const etag = counter.failure ? undefined : await this.writtenBy(input.key, marker);
      if (etag === undefined && counter.failure === undefined && bodyFailure !== undefined) {
        // The caller's body failed (client gone, cut for being too slow): not S3's doing.
        throw new StorageError('Aborted', 'the request body ended before the upload finished', { cause: bodyFailure });
      }
      if (etag === undefined) {
        throw toStorageError(counter.failure ?? error, input.key);
      }
      written = { etag };
    }
    // Ceph RGW's CompleteMultipartUpload answers an empty ETag; HeadObject has the stored one.
    const etag = written.etag || (await this.writtenBy(input.key, marker));
    const created = written.created ?? (existing === undefined ? undefined : !existing);
    return { key: input.key, size: counter.bytes, contentType: input.contentType, etag: etag ?? '', created };
  }

  /**
   * The object (or one range of it) as a stream; S3 evaluates the conditions.
   * @throws StorageError NotFound | NotModified (with the ETag) | RangeNotSatisfiable (with the size) | Unavailable | Timeout
   */
  async openStream(key: string, conditions: ReadConditions = {}): Promise<ObjectStream> {
    const out = await this.s3.client
      .send(new GetObjectCommand(this.readParams(key, conditions)))
      .catch((error: unknown) => this.readFailed(error, key, conditions));
    return { ...objectMetadata(key, out), body: out.Body as Readable };
  }

  /** Object metadata, with the same conditions as `openStream`. @throws StorageError as `openStream` */
  async head(key: string, conditions: ReadConditions = {}): Promise<Omit<ObjectStream, 'body'>> {
    const out = await this.s3.client
      .send(new HeadObjectCommand(this.readParams(key, conditions)))
      .catch((error: unknown) => this.readFailed(error, key, conditions));
    return objectMetadata(key, out);
  }

  /**
   * One page of keys under `prefix`; `cursor` is opaque and stateless (any instance can continue it).
   * @throws StorageError InvalidInput (bad cursor) | Unavailable | Timeout | AccessDenied
   */
  async list(input: { prefix?: string; delimiter?: string; limit: number; cursor?: string }) {
    const prefix = input.prefix ?? '';
    const delimiter = input.delimiter ?? '';
    const token = input.cursor === undefined ? undefined : this.cursors.decode(input.cursor, prefix, delimiter);
    const command = new ListObjectsV2Command({
      Bucket: this.s3.bucket,
      Prefix: this.s3.objectKey(prefix),
      Delimiter: delimiter || undefined,
      MaxKeys: input.limit,
      ContinuationToken: token,
    });
    const out = await translated(this.s3.client.send(command));
    const next = out.IsTruncated ? out.NextContinuationToken : undefined;
    const strip = (k: string): string => this.s3.keyOf(k) ?? '';
    // The service's own objects are left out, so a page may hold fewer than `limit` items.
    return {
      items: (out.Contents ?? [])
        .map((o) => ({
          key: strip(o.Key ?? ''),
          size: o.Size ?? 0,
          etag: o.ETag ?? '',
          lastModified: (o.LastModified ?? new Date(0)).toISOString(),
        }))
        .filter((item) => !isReservedKey(item.key)),
      prefixes: (out.CommonPrefixes ?? []).map((p) => strip(p.Prefix ?? '')).filter((p) => !isReservedKey(p)),
      nextCursor: next ? this.cursors.encode({ t: next, p: prefix, d: delimiter }) : null,
    };
  }

  /** Whether anything is under the reserved prefix (tus bookkeeping). @throws StorageError Unavailable | Timeout */
  async hasReservedObjects(): Promise<boolean> {
    const prefix = this.s3.objectKey(RESERVED_PREFIX);
    const command = new ListObjectsV2Command({ Bucket: this.s3.bucket, Prefix: prefix, MaxKeys: 1 });
    const out = await translated(this.s3.client.send(command));
    return (out.KeyCount ?? out.Contents?.length ?? 0) > 0;
  }

  /**
   * Deletes the object; deleting a missing key succeeds (idempotent), unless `precondition` needs an object.
   * @throws StorageError PreconditionFailed | Unavailable | Timeout | AccessDenied
   */
  async remove(key: string, precondition?: Precondition): Promise<void> {
    const writes = precondition ? await this.capabilities.conditionalWrites() : undefined;
    const current = precondition ? await this.current(key) : undefined;
    if (precondition && !precondition(current)) {
      throw preconditionFailed();
    }
    if (precondition && !current) {
      return;
    }
    const command = new DeleteObjectCommand({ ...this.s3.at(key), ...ifMatch(current?.etag, writes?.ifMatch) });
    try {
      await this.s3.client.send(command);
    } catch (error) {
      const mapped = toStorageError(error, key);
      // A conditional delete of an object deleted since the check: it is gone, as asked.
      if (mapped.code !== 'NotFound') {
        throw mapped;
      }
    }
  }

  /** Checks the bucket with our credentials. @throws StorageError Unavailable | Timeout | AccessDenied | BadGateway */
  async checkBucket(signal?: AbortSignal): Promise<void> {
    try {
      await this.s3.client.send(new HeadBucketCommand({ Bucket: this.s3.bucket }), { abortSignal: signal });
    } catch (error) {
      throw toBucketError(error);
    }
  }

  /** A presigned `GetObject` URL. @throws StorageError Unavailable (credentials cannot be resolved) */
  async signDownload(input: SignDownloadInput): Promise<SignedRequest> {
    const command = new GetObjectCommand({
      ...this.s3.at(input.key),
      ResponseContentDisposition: input.contentDisposition,
      ResponseContentType: input.contentType,
    });
    return { method: 'GET', ...(await presign(this.signer, command, input.expiresIn)) };
  }

  /**
   * A presigned `PUT` with the Content-Type signed; a POST policy (which covers every field) with `maxBytes`, or where
   * the backend applies unsigned headers to presigned requests (a PUT could then be turned into a copy or ACL change).
   * @throws StorageError InvalidInput (a POST key with `${filename}`) | Unavailable (no credentials, or not known yet
   *   whether the backend refuses unsigned headers)
   */
  async signUpload(input: SignUploadInput): Promise<SignedRequest> {
    const key = this.s3.objectKey(input.key);
    const headers = { 'Content-Type': input.contentType, ...this.s3.writeHeaders(input.parameters) };
    if (input.maxBytes === undefined && (await this.capabilities.requirePresignedHeadersEnforced())) {
      const command = new PutObjectCommand({
        ...this.s3.at(input.key),
        ContentType: input.contentType,
        ...this.s3.writeParameters(input.parameters),
        Metadata: input.parameters?.metadata,
      });
      const signed = await presign(this.signer, command, input.expiresIn, signedHeaders(headers));
      return { method: 'PUT', headers, ...signed };
    }
    if (key.includes('${filename}')) {
      // S3 would replace it with the uploaded file's name: the policy would allow any key with this prefix.
      throw new StorageError('InvalidInput', 'key must not contain ${filename} for an upload signed as a POST form');
    }
    const window = await windowOf(this.signer, input.expiresIn);
    const post = await createPresignedPost(this.signer, {
      Bucket: this.s3.bucket,
      Key: key,
      Conditions: [['content-length-range', 0, input.maxBytes ?? input.limit ?? MAX_SINGLE_UPLOAD_BYTES]],
      // Each field is also an exact-match condition of the policy.
      Fields: headers,
      Expires: window.seconds,
    });
    const policy = JSON.parse(Buffer.from(post.fields.Policy, 'base64').toString('utf8')) as { expiration: string };
    return { url: post.url, method: 'POST', fields: post.fields, expiresAt: new Date(policy.expiration) };
  }

  private readParams(key: string, conditions: ReadConditions) {
    return {
      ...this.s3.at(key),
      Range: conditions.range,
      IfNoneMatch: conditions.ifNoneMatch,
      IfModifiedSince: conditions.ifModifiedSince,
    };
  }

  onApplicationShutdown(): void {
    // Closes the keep-alive sockets: the process exits promptly.
    this.s3.client.destroy();
    this.signer.destroy();
  }

  private async current(key: string) {
    const out = await this.s3.head(key);
    return out && { etag: out.ETag ?? '', lastModified: out.LastModified ?? new Date(0) };
  }

  /** The ETag of the object if the upload tagged `marker` wrote it, else undefined. */
  private async writtenBy(key: string, marker: string): Promise<string | undefined> {
    const out = await this.s3.head(key).catch(() => undefined);
    return out?.Metadata?.[UPLOAD_MARKER] === marker ? (out.ETag ?? '') : undefined;
  }

  /** A 416 must say the object size (`Content-Range: bytes *\/size`), a 304 the ETag: not every S3 error has them. */
  private async readFailed(failure: unknown, key: string, conditions: ReadConditions): Promise<never> {
    const error = toStorageError(failure, key);
    const notModified = error.code === 'NotModified' && !error.etag;
    if (notModified && conditions.ifNoneMatch && conditions.ifNoneMatch !== '*') {
      // S3 answered 304 to this one entity tag: it is the object's.
      throw new StorageError(error.code, error.message, { cause: error.cause, etag: conditions.ifNoneMatch });
    }
    if (!notModified && error.code !== 'RangeNotSatisfiable') {
      throw error;
    }
    const info = await this.head(key).catch(() => undefined);
    const details = { cause: error.cause, objectSize: info?.size, etag: info?.etag || undefined };
    throw new StorageError(error.code, error.message, details);
  }
}

export const preconditionFailed = (what = 'object'): StorageError =>
  new StorageError('PreconditionFailed', `the ${what} does not meet the preconditions (If-Match, If-Unmodified-Since)`);

/** The metadata GetObject and HeadObject both answer. */
function objectMetadata(key: string, out: HeadObjectCommandOutput): Omit<ObjectStream, 'body'> {
  const contentLength = out.ContentLength ?? 0;
  const total = out.ContentRange?.split('/')[1];
  const { [UPLOAD_MARKER]: _marker, ...metadata } = out.Metadata ?? {};
  return {
    key,
    contentLength,
    contentRange: out.ContentRange,
    size: total && /^\d+$/.test(total) ? Number(total) : contentLength,
    contentType: out.ContentType ?? 'application/octet-stream',
    etag: out.ETag ?? '',
    lastModified: out.LastModified ?? new Date(0),
    cacheControl: out.CacheControl,
    contentDisposition: out.ContentDisposition,
    metadata,
  };
}

/** Counts bytes and fails the stream as soon as more than `max` pass. */
class ByteLimit extends Transform {
  bytes = 0;
  failure?: StorageError;

  constructor(private readonly max: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.bytes += chunk.length;
    if (this.bytes > this.max) {
      this.failure = new StorageError('TooLarge', `the upload is larger than the limit of ${this.max} bytes`);
    }
    callback(this.failure, chunk);
  }
}
