/**
 * Storage classes a write may ask for. GLACIER and DEEP_ARCHIVE are left out on purpose: their objects cannot be
 * read back without a restore, so every download of them would fail; EXPRESS_ONEZONE and OUTPOSTS need other buckets.
 */
export const STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'REDUCED_REDUNDANCY',
] as const;
export type StorageClass = (typeof STORAGE_CLASSES)[number];

export const SSE_MODES = ['AES256', 'aws:kms'] as const;
export type SseMode = (typeof SSE_MODES)[number];

/** Longest `Cache-Control` stored with an object. */
export const MAX_CACHE_CONTROL_LENGTH = 512;

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\t \\x21-\\x7e])*"';
const DIRECTIVE = `${TOKEN}(?:=(?:${TOKEN}|${QUOTED}))?`;
/** RFC 9111 5.2: `Cache-Control = #cache-directive`, directives `token [ "=" ( token / quoted-string ) ]`. */
const CACHE_CONTROL = new RegExp(`^${DIRECTIVE}(?:[ \\t]*,[ \\t]*${DIRECTIVE})*$`);

/** Whether `value` is a `Cache-Control` fit to store and serve: RFC 9111 syntax, printable ASCII, bounded. */
export function isCacheControl(value: string): boolean {
  return value.length <= MAX_CACHE_CONTROL_LENGTH && CACHE_CONTROL.test(value);
}

/** What every write carries, from the service's configuration (`S3_SSE`, `S3_STORAGE_CLASS`...). */
export interface ObjectSettings {
  readonly sse?: SseMode;
  /** With `sse: 'aws:kms'` only; unset means the account's AWS managed key (`aws/s3`). */
  readonly sseKmsKeyId?: string;
  readonly storageClass?: StorageClass;
  /** Stored with objects whose upload names none. */
  readonly defaultCacheControl?: string;
}

/** Per-object parameters of one write. */
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

/**
 * The same parameters as the HTTP headers S3 reads them from, for a presigned PUT (signed headers the client must
 * send) or a POST policy (form fields).
 */
export function writeHeaders(settings: ObjectSettings, parameters: ObjectParameters = {}): Record<string, string> {
  const p = writeParameters(settings, parameters);
  const headers: Record<string, string> = {};
  if (p.CacheControl) {
    headers['Cache-Control'] = p.CacheControl;
  }
  if (p.ContentDisposition) {
    headers['Content-Disposition'] = p.ContentDisposition;
  }
  for (const [name, value] of Object.entries(parameters.metadata ?? {})) {
    headers[`x-amz-meta-${name}`] = value;
  }
  if (p.ServerSideEncryption) {
    headers['x-amz-server-side-encryption'] = p.ServerSideEncryption;
  }
  if (p.SSEKMSKeyId) {
    headers['x-amz-server-side-encryption-aws-kms-key-id'] = p.SSEKMSKeyId;
  }
  if (p.StorageClass) {
    headers['x-amz-storage-class'] = p.StorageClass;
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
