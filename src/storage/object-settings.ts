import type { ObjectSettings } from '../config/s3-options.js';

export interface ObjectParameters {
  readonly cacheControl?: string;
  /** A complete `Content-Disposition` (for its file name). */
  readonly contentDisposition?: string;
  /** User metadata: lower-case names without the `x-amz-meta-` prefix. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The S3 write parameters (PutObject, CreateMultipartUpload, a presigned PUT) for these settings and parameters. */
export function writeParameters(settings: ObjectSettings, parameters: ObjectParameters = {}) {
  const cacheControl = parameters.cacheControl ?? settings.defaultCacheControl;
  return {
    ...(cacheControl ? { CacheControl: cacheControl } : {}),
    ...(parameters.contentDisposition ? { ContentDisposition: parameters.contentDisposition } : {}),
    ...storageParameters(settings),
  };
}

const HEADER_OF = {
  CacheControl: 'Cache-Control',
  ContentDisposition: 'Content-Disposition',
  ServerSideEncryption: 'x-amz-server-side-encryption',
  SSEKMSKeyId: 'x-amz-server-side-encryption-aws-kms-key-id',
  StorageClass: 'x-amz-storage-class',
} as const;

/** The same as the HTTP headers S3 reads them from: a presigned PUT's signed headers, a POST policy's fields. */
export function writeHeaders(settings: ObjectSettings, parameters: ObjectParameters = {}): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(writeParameters(settings, parameters))) {
    headers[HEADER_OF[name as keyof typeof HEADER_OF]] = value;
  }
  for (const [name, value] of Object.entries(parameters.metadata ?? {})) {
    headers[`x-amz-meta-${name}`] = value;
  }
  return headers;
}

/** Encryption and storage class alone: what a copy adds to the source's own headers and metadata. */
export function storageParameters(settings: ObjectSettings) {
  return {
    ...(settings.sse ? { ServerSideEncryption: settings.sse } : {}),
    ...(settings.sse === 'aws:kms' && settings.sseKmsKeyId ? { SSEKMSKeyId: settings.sseKmsKeyId } : {}),
    ...(settings.storageClass ? { StorageClass: settings.storageClass } : {}),
  };
}
