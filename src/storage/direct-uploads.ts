import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  type Part,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Inject, Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { isMissing, S3Gateway } from './s3-gateway.js';
import { presign, type SignedRequest } from './signed-request.js';
import { StorageError, toStorageError, translated } from './storage.errors.js';
import { S3_SIGNING_CLIENT } from './storage.tokens.js';

/** A part S3 holds for a multipart upload (ETag quoted). */
type StoredPart = Required<Pick<Part, 'PartNumber' | 'ETag' | 'Size'>>;

/** Multipart uploads a client drives itself, straight to S3. Keys are relative to `S3_PREFIX`; upload ids S3's. */
@Injectable()
export class DirectUploads {
  constructor(
    private readonly s3: S3Gateway,
    @Inject(S3_SIGNING_CLIENT) private readonly signer: S3Client,
  ) {}

  /** Returns S3's upload id. @throws StorageError Unavailable | Timeout | AccessDenied | BadGateway */
  async start(key: string, contentType: string): Promise<string> {
    const input = { ...this.s3.at(key), ContentType: contentType, ...this.s3.writeParameters() };
    const { UploadId } = await translated(this.s3.client.send(new CreateMultipartUploadCommand(input)));
    if (!UploadId) {
      throw new StorageError('BadGateway', 'storage started a multipart upload without an upload id');
    }
    return UploadId;
  }

  /** A presigned `UploadPart`. @throws StorageError Unavailable (credentials cannot be resolved) */
  async signPart(key: string, uploadId: string, partNumber: number, expiresIn: number): Promise<SignedRequest> {
    const command = new UploadPartCommand({ ...this.s3.at(key), UploadId: uploadId, PartNumber: partNumber });
    return { method: 'PUT', ...(await presign(this.signer, command, expiresIn)) };
  }

  /**
   * Streams `size` bytes, not buffered (the client retries a failed PUT), without the client's headers; returns the
   * ETag (quoted). @throws StorageError NotFound | Aborted | Unavailable | Timeout | AccessDenied | BadGateway
   */
  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
    size: number,
    signal: AbortSignal,
  ): Promise<string> {
    const part = { ...this.s3.at(key), UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: size };
    const { ETag } = await uploadError(this.s3.client.send(new UploadPartCommand(part), { abortSignal: signal }));
    if (!ETag) {
      throw new StorageError('BadGateway', 'storage stored a part without answering its ETag');
    }
    return ETag;
  }

  /** In part-number order. @throws StorageError NotFound (no such upload) | Unavailable | Timeout */
  async parts(key: string, uploadId: string): Promise<StoredPart[]> {
    const parts: StoredPart[] = [];
    let marker: string | undefined;
    do {
      const page = { ...this.s3.at(key), UploadId: uploadId, PartNumberMarker: marker };
      const out = await uploadError(this.s3.client.send(new ListPartsCommand(page)));
      for (const part of out.Parts ?? []) {
        parts.push({ PartNumber: part.PartNumber ?? 0, ETag: part.ETag ?? '', Size: part.Size ?? 0 });
      }
      marker = out.IsTruncated ? out.NextPartNumberMarker : undefined;
    } while (marker);
    return parts;
  }

  /**
   * `ifNoneMatch`: only if no object has the key (Ceph RGW 16 ignores it, hence the caller's check before).
   * @throws StorageError NotFound | InvalidInput (a part refused) | PreconditionFailed | Unavailable | Timeout
   */
  async complete(key: string, uploadId: string, parts: Pick<StoredPart, 'PartNumber' | 'ETag'>[], ifNoneMatch = false) {
    const upload = { ...this.s3.at(key), UploadId: uploadId, MultipartUpload: { Parts: parts } };
    const condition = ifNoneMatch ? { IfNoneMatch: '*' } : {};
    await uploadError(this.s3.client.send(new CompleteMultipartUploadCommand({ ...upload, ...condition })));
  }

  /** Done if S3 no longer knows the upload. @throws StorageError Unavailable | Timeout | AccessDenied | BadGateway */
  async abort(key: string, uploadId: string): Promise<void> {
    await translated(this.s3.abortMultipart(this.s3.objectKey(key), uploadId));
  }
}

/** What the client got wrong about the upload is its error (4xx), not S3's. */
async function uploadError<T>(sent: Promise<T>): Promise<T> {
  try {
    return await sent;
  } catch (error) {
    const { name } = (error ?? {}) as { name?: string };
    if (isMissing(error)) {
      throw new StorageError('NotFound', 'no such upload: it was aborted, completed or never started', {
        cause: error,
      });
    }
    if (name === 'InvalidPart' || name === 'InvalidPartOrder' || name === 'EntityTooSmall') {
      throw new StorageError('InvalidInput', `storage refused the parts (${name})`, { cause: error });
    }
    throw toStorageError(error);
  }
}
