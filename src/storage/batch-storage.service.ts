import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  type CopyObjectCommandInput,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  DeleteObjectCommand,
  type HeadObjectCommandOutput,
  PutObjectCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AppConfig } from '../config/app-config.js';
import { BackendCapabilities, ifMatch, type ConditionalWrites } from './backend-capabilities.js';
import { partSizeFor } from './object-writer.js';
import { quoted, S3Gateway } from './s3-gateway.js';
import { conditionRefused, StorageError, toStorageError, translated } from './storage.errors.js';
import { preconditionFailed, type Precondition, type UploadResult } from './storage.service.js';

/** S3's limit of keys per DeleteObjects call. */
export const MAX_DELETE_KEYS = 1000;

interface CopyInput {
  readonly from: string;
  readonly to: string;
  /** False: refuse to replace an existing object at `to` (AlreadyExists). */
  readonly overwrite: boolean;
  /** A condition on the source (If-Match, If-Unmodified-Since). */
  readonly precondition?: Precondition;
}

export interface CopyResult extends Omit<UploadResult, 'created'> {
  /** The ETag of the source that was copied: a move deletes the source only if it still has it. */
  readonly sourceEtag: string;
}

/** The source's ETag on each request that reads it (x-amz-copy-source-if-match); the target's on the write. */
type CopyConditions = Pick<CopyObjectCommandInput, 'CopySourceIfMatch' | 'IfNoneMatch'>;

/** Many keys in one call: DeleteObjects, and server-side copies (CopyObject, or UploadPartCopy above a threshold). */
@Injectable()
export class BatchStorageService {
  constructor(
    private readonly s3: S3Gateway,
    private readonly config: AppConfig,
    private readonly capabilities: BackendCapabilities,
  ) {}

  /**
   * Deletes up to 1000 distinct keys in one DeleteObjects call; a result per key, in the order given, with an `error`
   * unless it was deleted (a missing key counts as deleted, as with DELETE).
   * @throws StorageError Unavailable | Timeout | AccessDenied | BadGateway (the call as a whole failed)
   */
  async removeMany(keys: readonly string[]): Promise<{ key: string; error?: StorageError }[]> {
    const command = new DeleteObjectsCommand({
      Bucket: this.s3.bucket,
      // Not Quiet: every key is then reported, so a server that drops one cannot pass it off as deleted.
      Delete: { Objects: keys.map((key) => ({ Key: this.s3.objectKey(key) })), Quiet: false },
    });
    const out = await translated(this.s3.client.send(command));
    const failed = new Map((out.Errors ?? []).map((e) => [e.Key ?? '', e]));
    const deleted = new Set((out.Deleted ?? []).map((d) => d.Key ?? ''));
    return keys.map((key) => {
      const error = failed.get(this.s3.objectKey(key));
      if (error) {
        // Per-key errors carry S3's code (AccessDenied, InternalError...): mapped as the same error on DELETE would be.
        return { key, error: toStorageError({ name: error.Code ?? 'InternalError', message: error.Message }, key) };
      }
      if (deleted.has(this.s3.objectKey(key))) {
        return { key };
      }
      return { key, error: new StorageError('BadGateway', 'storage did not report on this key') };
    });
  }

  /**
   * Copies `from` to `to` inside the bucket with Content-Type and metadata: CopyObject, or UploadPartCopy above
   * `COPY_MULTIPART_THRESHOLD` (aborted on failure), of the source as checked (x-amz-copy-source-if-match). With
   * `overwrite` false, S3 refuses an existing target (`If-None-Match: *`) where it honours that on the copy, else
   * where PutObject does (Ceph RGW) an empty PutObject claims the key first: of two racing copies only one goes ahead.
   * @throws StorageError NotFound (no source) | AlreadyExists (overwrite false) | PreconditionFailed (the source
   *   does not meet `precondition`, or changed during the copy) | Unavailable | Timeout | AccessDenied | BadGateway
   */
  async copy(input: CopyInput): Promise<CopyResult> {
    const writes = await this.capabilities.conditionalWrites();
    const source = await this.s3.head(input.from);
    if (!source) {
      throw new StorageError('NotFound', 'no object with the source key');
    }
    const etag = source.ETag ?? '';
    if (input.precondition && !input.precondition({ etag, lastModified: source.LastModified ?? new Date(0) })) {
      throw preconditionFailed('source');
    }
    if (!input.overwrite && (await this.s3.head(input.to))) {
      throw alreadyExists();
    }
    const size = source.ContentLength ?? 0;
    const multipart = size > this.config.copyMultipartThreshold;
    const s3Refuses = multipart ? writes.completeIfNoneMatch : writes.copyIfNoneMatch;
    const claim = !input.overwrite && !s3Refuses && writes.putIfNoneMatch ? await this.claim(input.to) : undefined;
    // The If-Match form the backend honours, else S3's own, which a backend that ignores it takes harmlessly.
    const form = writes.ifMatch ?? (this.config.s3.ifMatch === 'off' ? undefined : 'quoted');
    const conditions: CopyConditions = {
      CopySourceIfMatch: ifMatch(etag, form).IfMatch,
      ...(!input.overwrite && s3Refuses ? { IfNoneMatch: '*' } : {}),
    };
    try {
      const copiedEtag = multipart
        ? await this.multipartCopy(input, source, conditions)
        : await this.singleCopy(input, conditions);
      return {
        key: input.to,
        size,
        contentType: source.ContentType ?? 'application/octet-stream',
        // Ceph RGW's CompleteMultipartUpload answers an empty ETag; HeadObject has the stored one.
        etag: copiedEtag || ((await this.s3.head(input.to))?.ETag ?? ''),
        sourceEtag: etag,
      };
    } catch (error) {
      if (claim !== undefined) {
        await this.release(input.to, claim, writes);
      }
      throw await this.explain(toStorageError(error, input.from), input, etag);
    }
  }

  /**
   * Takes the free key `to` with an empty object (readers may see it so) until the copy replaces it; the marker.
   * @throws StorageError AlreadyExists (the key was taken since the check) | Unavailable | Timeout | AccessDenied
   */
  private async claim(to: string): Promise<string> {
    const marker = randomUUID();
    const command = new PutObjectCommand({
      ...this.s3.at(to),
      Body: Buffer.alloc(0),
      ContentLength: 0,
      ContentType: 'application/octet-stream',
      Metadata: { [CLAIM_MARKER]: marker },
      IfNoneMatch: '*',
      ...this.s3.storageParameters(),
    });
    try {
      await this.s3.client.send(command);
    } catch (error) {
      throw conditionRefused(error) ? alreadyExists() : toStorageError(error, to);
    }
    return marker;
  }

  /** Deletes the claim of a copy that failed, if it is still there (best effort). */
  private async release(to: string, marker: string, writes: ConditionalWrites): Promise<void> {
    const current = await this.s3.head(to).catch(() => undefined);
    if (current?.Metadata?.[CLAIM_MARKER] === marker) {
      const command = new DeleteObjectCommand({ ...this.s3.at(to), ...ifMatch(current.ETag, writes.ifMatch) });
      await this.s3.client.send(command).catch(() => undefined);
    }
  }

  private async singleCopy(input: CopyInput, conditions: CopyConditions) {
    const command = new CopyObjectCommand({
      ...this.s3.at(input.to),
      CopySource: this.s3.copySource(input.from),
      MetadataDirective: 'COPY',
      ...this.s3.storageParameters(),
      ...conditions,
    });
    return quoted((await this.s3.client.send(command)).CopyObjectResult?.ETag);
  }

  /** CreateMultipartUpload with the source's headers and metadata (a multipart copy does not carry them), the parts. */
  private async multipartCopy(input: CopyInput, source: HeadObjectCommandOutput, conditions: CopyConditions) {
    const { CopySourceIfMatch, IfNoneMatch } = conditions;
    const size = source.ContentLength ?? 0;
    const target = this.s3.at(input.to);
    const { ContentType, CacheControl, ContentDisposition, ContentEncoding, ContentLanguage, Metadata } = source;
    const headers = { ContentType, CacheControl, ContentDisposition, ContentEncoding, ContentLanguage, Metadata };
    const { UploadId } = await this.s3.client.send(
      new CreateMultipartUploadCommand({ ...target, ...headers, ...this.s3.storageParameters() }),
    );
    try {
      const partSize = partSizeFor(size, this.config.uploads.partSize);
      const count = Math.ceil(size / partSize);
      const parts: { PartNumber: number; ETag?: string }[] = [];
      let next = 1;
      const worker = async (): Promise<void> => {
        for (let n = next++; n <= count; n = next++) {
          const start = (n - 1) * partSize;
          const end = Math.min(start + partSize, size) - 1;
          const command = new UploadPartCopyCommand({
            ...target,
            UploadId,
            PartNumber: n,
            CopySource: this.s3.copySource(input.from),
            CopySourceRange: `bytes=${start}-${end}`,
            CopySourceIfMatch,
          });
          const out = await this.s3.client.send(command);
          parts[n - 1] = { PartNumber: n, ETag: out.CopyPartResult?.ETag };
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.config.uploads.queueSize, count) }, worker));
      const out = await this.s3.client.send(
        new CompleteMultipartUploadCommand({ ...target, UploadId, MultipartUpload: { Parts: parts }, IfNoneMatch }),
      );
      return quoted(out.ETag);
    } catch (error) {
      await this.s3.abortMultipart(target.Key, UploadId ?? '').catch(() => undefined);
      throw error;
    }
  }

  /** A 412 from S3 is either the source having changed since it was checked, or (overwrite false) a new target. */
  private async explain(error: StorageError, input: CopyInput, etag: string): Promise<StorageError> {
    if (error.code === 'NotFound') {
      return new StorageError('NotFound', 'no object with the source key (it was deleted during the copy)');
    }
    if (error.code !== 'PreconditionFailed') {
      return error;
    }
    const now = await this.s3.head(input.from).catch(() => undefined);
    if (!input.overwrite && now?.ETag === etag) {
      return alreadyExists();
    }
    return new StorageError('PreconditionFailed', 'the source changed while it was being copied; nothing was copied', {
      cause: error,
    });
  }
}

/** User metadata of the empty object that claims a copy's new key (`x-amz-meta-copy-claim`). */
const CLAIM_MARKER = 'copy-claim';

const alreadyExists = (): StorageError =>
  new StorageError('AlreadyExists', 'an object with the target key already exists (overwrite=false)');
