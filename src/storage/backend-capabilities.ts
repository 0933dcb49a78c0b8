import { unquote } from './s3-gateway.js';

/** How S3 compares an `If-Match` ETag: as HEAD gives it (quoted, AWS) or without its quotes (Ceph RGW 16). */
export type IfMatchForm = 'quoted' | 'unquoted';

/** Which write conditions the backend honours (refuses the write when they do not hold), as the probe found. */
export interface ConditionalWrites {
  readonly putIfNoneMatch: boolean;
  /** Undefined when PutObject honours neither form. */
  readonly ifMatch?: IfMatchForm;
  /** CopyObject and CompleteMultipartUpload `If-None-Match: *`: Ceph RGW 16 ignores both. */
  readonly copyIfNoneMatch: boolean;
  readonly completeIfNoneMatch: boolean;
}

/** A backend that honours no condition: every condition is checked with a HEAD before the write. */
export const NO_CONDITIONAL_WRITES: ConditionalWrites = {
  putIfNoneMatch: false,
  copyIfNoneMatch: false,
  completeIfNoneMatch: false,
};

/** What the service knows about its S3 backend, probed at run time (`ProbedCapabilities`); the DI token. */
export abstract class BackendCapabilities {
  /** Whether presigned requests refuse unsigned `x-amz-*` headers (a copy, an ACL), as AWS; undefined until known. */
  abstract presignedHeadersEnforced(): boolean | undefined;

  /** Probes now when not known and no probe ran in the last second. @throws StorageError Unavailable while unknown */
  abstract requirePresignedHeadersEnforced(): Promise<boolean>;

  /** Known, or probed now (bounded wait); else none, each condition then checked with a HEAD first (a race remains). */
  abstract conditionalWrites(): Promise<ConditionalWrites>;

  /** For `/health/` details (`unknown` until probed). */
  abstract details(): Record<string, unknown>;
}

export function ifMatchValue(etag: string, form: IfMatchForm): string {
  return form === 'quoted' ? etag : unquote(etag);
}

/** `If-Match` on `etag` in the backend's form; nothing without an ETag or a form the backend honours. */
export const ifMatch = (etag: string | undefined, form: IfMatchForm | undefined): { IfMatch?: string } =>
  etag && form ? { IfMatch: ifMatchValue(etag, form) } : {};
