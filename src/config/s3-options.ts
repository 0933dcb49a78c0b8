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

export const SSE_MODES = ['AES256', 'aws:kms'] as const;

/** Longest `Cache-Control` stored with an object. */
export const MAX_CACHE_CONTROL_LENGTH = 512;

/** RFC 9110 5.6.2 token and 5.6.4 quoted-string, as regular expression sources (ASCII only: S3 metadata is ASCII). */
export const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
export const QUOTED = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\t \\x21-\\x7e])*"';
const DIRECTIVE = `${TOKEN}(?:=(?:${TOKEN}|${QUOTED}))?`;
/** RFC 9111 5.2: `Cache-Control = #cache-directive`, directives `token [ "=" ( token / quoted-string ) ]`. */
const CACHE_CONTROL = new RegExp(`^${DIRECTIVE}(?:[ \\t]*,[ \\t]*${DIRECTIVE})*$`);

/** Whether `value` is a `Cache-Control` fit to store and serve: RFC 9111 syntax, printable ASCII, bounded. */
export function isCacheControl(value: string): boolean {
  return value.length <= MAX_CACHE_CONTROL_LENGTH && CACHE_CONTROL.test(value);
}

/** What every write carries, from the service's configuration (`S3_SSE`, `S3_STORAGE_CLASS`...). */
export interface ObjectSettings {
  readonly sse?: (typeof SSE_MODES)[number];
  /** With `sse: 'aws:kms'` only; unset means the account's AWS managed key (`aws/s3`). */
  readonly sseKmsKeyId?: string;
  readonly storageClass?: (typeof STORAGE_CLASSES)[number];
  /** Stored with objects whose upload names none. */
  readonly defaultCacheControl?: string;
}

/** S3 accepts at most 5 GiB in one PUT, POST, part or CopyObject. */
export const MAX_SINGLE_UPLOAD_BYTES = 5 * 1024 ** 3;

/** S3's limits for one multipart upload. */
export const MAX_PARTS = 10_000;
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_SIZE = MAX_SINGLE_UPLOAD_BYTES;
