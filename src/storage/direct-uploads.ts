import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Inject, Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { S3Gateway } from './s3-gateway.js';
import { signingWindow, type SignedRequest } from './signed-request.js';
import { StorageError, toStorageError } from './storage.errors.js';
import { S3_SIGNING_CLIENT } from './storage.tokens.js';

/** A part S3 holds for a multipart upload, as `ListParts` names it (ETag quoted). */
export interface StoredPart {
  readonly PartNumber: number;
  readonly ETag: string;
  readonly Size: number;
}

/**
 * Multipart uploads a client (a browser) drives itself, straight to S3: the service starts, signs, lists,
 * completes and aborts them. Keys given and returned are relative to `S3_PREFIX`; upload ids are S3's.
 */
@Injectable()
export class DirectUploads {
  constructor(
    private readonly s3: S3Gateway,
    @Inject(S3_SIGNING_CLIENT) private readonly signer: S3Client,
  ) {}

  /** The object's key in the bucket (with `S3_PREFIX`), as a client talking to S3 sees it. */
  bucketKey(key: string): string {
    return this.s3.objectKey(key);
  }

  /** The API key of a bucket key, or undefined when it is not under `S3_PREFIX`. */
  apiKey(bucketKey: string): string | undefined {
    return this.s3.keyOf(bucketKey);
  }

  /**
   * Starts a multipart upload; returns S3's upload id.
   * @throws StorageError Unavailable | Timeout | AccessDenied | BadGateway
   */
  async start(key: string, contentType: string): Promise<string> {
    const out = await this.call(() =>
      this.s3.client.send(
        new CreateMultipartUploadCommand({
          ...this.s3.at(key),
          ContentType: contentType,
          // Encryption, storage class and the default Cache-Control, as on every other write.
          ...this.s3.writeParameters(),
        }),
      ),
    );
    if (!out.UploadId) {
      throw new StorageError('BadGateway', 'storage started a multipart upload without an upload id');
    }
    return out.UploadId;
  }

  /**
   * A presigned `UploadPart` (a PUT of the part's bytes, any length S3 accepts).
   * @throws StorageError Unavailable (credentials cannot be resolved)
   */
  async signPart(key: string, uploadId: string, partNumber: number, expiresIn: number): Promise<SignedRequest> {
    let window;
    try {
      window = signingWindow(expiresIn, (await this.signer.config.credentials()).expiration);
    } catch (error) {
      throw toStorageError(error);
    }
    const command = new UploadPartCommand({
      ...this.s3.at(key),
      UploadId: uploadId,
      PartNumber: partNumber,
    });
    const url = await getSignedUrl(this.signer, command, { expiresIn: window.seconds, signingDate: window.signedAt });
    return { url, method: 'PUT', expiresAt: window.expiresAt };
  }

  /**
   * Streams one part to S3's `UploadPart`, with no header but the ones set here (the client's never reach S3), and
   * returns its ETag (quoted, as S3 answers it). `body` must hold exactly `size` bytes; it is not buffered, so a failed
   * part is not retried here (the client retries the PUT). `signal` aborts the request (the client went away).
   * @throws StorageError NotFound (no such upload) | Aborted | Unavailable | Timeout | AccessDenied | BadGateway
   */
  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
    size: number,
    signal: AbortSignal,
  ): Promise<string> {
    const out = await this.call(() =>
      this.s3.client.send(
        new UploadPartCommand({
          ...this.s3.at(key),
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: size,
        }),
        { abortSignal: signal },
      ),
    );
    if (!out.ETag) {
      throw new StorageError('BadGateway', 'storage stored a part without answering its ETag');
    }
    return out.ETag;
  }

  /**
   * Every part S3 holds for the upload, in part-number order.
   * @throws StorageError NotFound (no such upload: aborted, completed or never started) | Unavailable | Timeout
   */
  async parts(key: string, uploadId: string): Promise<StoredPart[]> {
    const parts: StoredPart[] = [];
    let marker: string | undefined;
    do {
      const out = await this.call(() =>
        this.s3.client.send(
          new ListPartsCommand({
            ...this.s3.at(key),
            UploadId: uploadId,
            PartNumberMarker: marker,
          }),
        ),
      );
      for (const part of out.Parts ?? []) {
        parts.push({ PartNumber: part.PartNumber ?? 0, ETag: part.ETag ?? '', Size: part.Size ?? 0 });
      }
      marker = out.IsTruncated ? out.NextPartNumberMarker : undefined;
    } while (marker);
    return parts;
  }

  /**
   * Completes the upload from the given parts (ETags quoted); `ifNoneMatch`: only if no object has the key.
   * @throws StorageError NotFound (no such upload) | InvalidInput (a part S3 does not accept) | PreconditionFailed
   *   (`ifNoneMatch` and the key exists, where S3 checks it) | Unavailable | Timeout
   */
  async complete(
    key: string,
    uploadId: string,
    parts: { PartNumber: number; ETag: string }[],
    ifNoneMatch = false,
  ): Promise<void> {
    await this.call(() =>
      this.s3.client.send(
        new CompleteMultipartUploadCommand({
          ...this.s3.at(key),
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          // Honoured by AWS (and the development S3); Ceph RGW 16 ignores it, hence the caller's check before.
          ...(ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
      ),
    );
  }

  /**
   * Aborts the upload, checks that it is gone and frees its parts; an upload S3 no longer knows is already gone,
   * which is not an error.
   * @throws StorageError Unavailable | Timeout | AccessDenied | BadGateway
   */
  async abort(key: string, uploadId: string): Promise<void> {
    try {
      await this.s3.abortMultipart(this.s3.objectKey(key), uploadId);
    } catch (error) {
      throw toStorageError(error);
    }
  }

  /** Sends a command; what the client got wrong about the upload is the client's error (4xx), not S3's. */
  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const { name, $metadata } = (error ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
      // Ceph RGW lists the parts of an aborted upload as a 404 NoSuchKey.
      if (name === 'NoSuchUpload' || (name !== 'NoSuchBucket' && $metadata?.httpStatusCode === 404)) {
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
}
