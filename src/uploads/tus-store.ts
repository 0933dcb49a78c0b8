import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { paginateListObjectsV2, type S3ClientConfig } from '@aws-sdk/client-s3';
import { S3Store, type Options } from '@tus/s3-store';
import { ERRORS, type Upload } from '@tus/server';
import { RESERVED_PREFIX } from '../storage/reserved-keys.js';
import { isMissing, type S3Gateway } from '../storage/s3-gateway.js';
import { TusError } from './tus-error.js';
import type { LockStore } from './tus-lock.js';

/**
 * `@tus/s3-store` with its bookkeeping out of the user's files: the upload's id is the object key (under `S3_PREFIX`),
 * while `.info` and `.part` live under the reserved prefix, named by a hash of the key.
 */
export class ServiceS3Store extends S3Store {
  private readonly reserved: string;

  constructor(
    private readonly gateway: S3Gateway,
    options: Omit<Options, 's3ClientConfig'> & { client: S3ClientConfig },
  ) {
    const { client, ...rest } = options;
    super({ ...rest, s3ClientConfig: { ...client, bucket: gateway.bucket } });
    this.reserved = gateway.objectKey(RESERVED_PREFIX);
    gateway.addWriteSettings(this.client);
  }

  /** Where the locks of uploads live (`S3Locker`): a `.lock` object beside each upload's `.info`, same client. */
  lockStore(ifMatch: LockStore['ifMatch']): LockStore {
    return {
      client: this.client,
      bucket: this.bucket,
      lockKey: (id) => `${this.reserved}${hashOf(id)}.lock`,
      forget: (id) => this.clearCache(id),
      ifMatch,
    };
  }

  protected override infoKey(id: string): string {
    return `${this.reserved}${hashOf(id)}.info`;
  }

  protected override partKey(id: string, isIncomplete = false): string {
    return isIncomplete ? `${this.reserved}${hashOf(id)}.part` : id;
  }

  // The library removes the pending `.part`'s temporary file on its reader's end or error only: not on a cut request.
  protected override async downloadIncompletePart(id: string) {
    const part = await super.downloadIncompletePart(id);
    if (part === undefined) {
      return undefined;
    }
    return {
      ...part,
      createReader: (options: { cleanUpOnEnd: boolean }) => {
        const reader = part.createReader(options);
        reader.once('close', () => void rm(part.path, { force: true }).catch(() => undefined));
        return reader;
      },
    };
  }

  // A key can be asked for twice (an upload session for one key): while the first upload is unfinished, the second is
  // refused (its `.info` would replace the first's, orphaning its parts); once finished, its bookkeeping makes way.
  override async create(upload: Upload): Promise<Upload> {
    const earlier = await this.getUpload(upload.id).catch(() => undefined);
    if (earlier !== undefined) {
      if (earlier.offset !== earlier.size) {
        throw new TusError(409, 'an upload to this key is in progress: resume it, or terminate it first');
      }
      await this.client.deleteObject({ Bucket: this.bucket, Key: this.infoKey(upload.id) });
      await this.clearCache(upload.id);
    }
    return super.create(upload);
  }

  /** Aborts the multipart upload and deletes the `.info` and `.part` objects; never the object at the key. */
  override async remove(id: string): Promise<void> {
    const { FILE_NOT_FOUND } = ERRORS;
    const metadata = await this.getMetadata(id).catch((error: unknown) => {
      throw isMissing(error) ? new TusError(FILE_NOT_FOUND.status_code, FILE_NOT_FOUND.body.trim()) : error;
    });
    await this.gateway.abortMultipart(id, metadata['upload-id']);
    await this.client.deleteObjects({
      Bucket: this.bucket,
      Delete: { Objects: [{ Key: this.infoKey(id) }, { Key: this.partKey(id, true) }], Quiet: true },
    });
    await this.clearCache(id);
  }

  /**
   * Removes uploads created over the expiration period ago, finished or not (multipart upload, `.info`, `.part`),
   * listing only the reserved prefix. Age is the `.info`'s Last-Modified, in whole seconds: hence the extra second.
   */
  override async deleteExpired(): Promise<number> {
    const expiration = this.getExpiration();
    let deleted = 0;
    const pages = paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: this.reserved });
    for await (const page of pages) {
      const now = Date.now();
      const expired = (page.Contents ?? []).filter((o) => now > (o.LastModified?.getTime() ?? now) + 1000 + expiration);
      for (const info of expired.filter((o) => o.Key?.endsWith('.info'))) {
        await this.abortFromInfo(info.Key as string);
      }
      if (expired.length > 0) {
        await this.client.deleteObjects({
          Bucket: this.bucket,
          Delete: { Objects: expired.map((o) => ({ Key: o.Key })), Quiet: true },
        });
        deleted += expired.length;
      }
    }
    return deleted;
  }

  private async abortFromInfo(infoKey: string): Promise<void> {
    try {
      const info = await this.client.getObject({ Bucket: this.bucket, Key: infoKey });
      const { id } = JSON.parse((await info.Body?.transformToString()) ?? '{}') as { id?: string };
      const uploadId = info.Metadata?.['upload-id'];
      if (id && uploadId) {
        await this.gateway.abortMultipart(id, uploadId);
        await this.clearCache(id);
      }
    } catch (error) {
      if (!isMissing(error)) {
        throw error;
      }
    }
  }
}

const hashOf = (id: string): string => createHash('sha256').update(id).digest('base64url');
