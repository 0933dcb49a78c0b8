import { unquote } from './s3-gateway.js';

/** How S3 compares an `If-Match` ETag: as HEAD gives it (quoted, AWS) or without its quotes (Ceph RGW 16). */
export type IfMatchForm = 'quoted' | 'unquoted';

/** Which write conditions the backend honours (refuses the write when they do not hold), as the probe found. */
export interface ConditionalWrites {
  /** PutObject with `If-None-Match: *` is refused when the key exists. */
  readonly putIfNoneMatch: boolean;
  /** The form of `If-Match` PutObject honours, or undefined when it honours neither (ignored or refused both). */
  readonly ifMatch?: IfMatchForm;
  /** CopyObject with `If-None-Match: *` is refused when the target exists (Ceph RGW 16 ignores it). */
  readonly copyIfNoneMatch: boolean;
  /** CompleteMultipartUpload with `If-None-Match: *` is refused when the key exists (Ceph RGW 16 ignores it). */
  readonly completeIfNoneMatch: boolean;
}

/** What a backend that honours no condition gets: every condition is checked with a HEAD before the write. */
export const NO_CONDITIONAL_WRITES: ConditionalWrites = {
  putIfNoneMatch: false,
  copyIfNoneMatch: false,
  completeIfNoneMatch: false,
};

/**
 * What the service knows about its S3 backend, learned at run time by probing it with reserved keys
 * (`ProbedCapabilities`); the DI token other providers inject.
 */
export abstract class BackendCapabilities {
  /**
   * Whether presigned requests to this backend refuse unsigned `x-amz-*` headers (AWS S3: 403), so that a presigned
   * PUT cannot be turned into a copy (`x-amz-copy-source`) or an ACL change (`x-amz-acl`); undefined until known.
   */
  abstract presignedHeadersEnforced(): boolean | undefined;

  /**
   * As `presignedHeadersEnforced`, probing now when the answer is not known and no probe ran in the last second.
   * @throws StorageError Unavailable (with `retryAfterSeconds`) while the answer is still not known
   */
  abstract requirePresignedHeadersEnforced(): Promise<boolean>;

  /**
   * The conditions the backend honours: known, or learned by a probe now (bounded wait); when that fails too, none
   * (every condition is then checked with a HEAD first, which is safe but leaves a race).
   */
  abstract conditionalWrites(): Promise<ConditionalWrites>;

  /** What is known, for `/health/` details (`unknown` until probed). */
  abstract details(): Record<string, unknown>;
}

/** `etag` in the form the backend compares `If-Match` with. */
export function ifMatchValue(etag: string, form: IfMatchForm): string {
  return form === 'quoted' ? etag : unquote(etag);
}

/** `If-Match` on `etag` in the backend's form; nothing without an ETag or a form the backend honours. */
export const ifMatch = (etag: string | undefined, form: IfMatchForm | undefined): { IfMatch?: string } =>
  etag && form ? { IfMatch: ifMatchValue(etag, form) } : {};
