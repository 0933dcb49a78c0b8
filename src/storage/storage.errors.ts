/** What can go wrong in storage, independent of HTTP; `errors/` maps each code to a status. */
export type StorageErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'PreconditionFailed'
  | 'NotModified'
  | 'RangeNotSatisfiable'
  | 'TooLarge'
  | 'InvalidInput'
  | 'Aborted'
  | 'AccessDenied'
  | 'Unavailable'
  | 'Timeout'
  | 'BadGateway';

export class StorageError extends Error {
  /** For `RangeNotSatisfiable`: the object's size, when known. */
  readonly objectSize?: number;
  /** For `NotModified`: the object's ETag, which the 304 must carry (RFC 9110 15.4.5), when known. */
  readonly etag?: string;
  /** For `Unavailable`: when to try again (`Retry-After`), when known. */
  readonly retryAfterSeconds?: number;

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown; objectSize?: number; etag?: string; retryAfterSeconds?: number },
  ) {
    super(message, { cause: options?.cause });
    this.name = 'StorageError';
    ({ objectSize: this.objectSize, etag: this.etag, retryAfterSeconds: this.retryAfterSeconds } = options ?? {});
  }
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
}

const NETWORK_DOWN = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EPIPE',
]);

/** S3's answers to keys it does not accept (unknown key id, wrong secret, expired session). */
const CREDENTIALS_REFUSED = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AuthorizationHeaderMalformed',
]);

/** Translates an AWS SDK (or socket) error into a StorageError. Never copies secrets: only names and statuses. */
export function toStorageError(error: unknown, key?: string): StorageError {
  if (error instanceof StorageError) {
    return error;
  }
  const e = (error ?? {}) as SdkErrorShape;
  const name = e.name ?? '';
  const code = e.code ?? '';
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const what = key === undefined ? 'the bucket' : 'the object';
  const mapped = (to: StorageErrorCode, message: string, etag?: string) =>
    new StorageError(to, message, { cause: error, etag });

  if (name === 'AbortError') {
    return mapped('Aborted', 'the transfer was aborted');
  }
  // The multipart upload went wrong on S3's side: not a missing object, not the client's fault.
  if (name === 'NoSuchUpload' || name === 'InvalidPart' || name === 'InvalidPartOrder') {
    return mapped('BadGateway', `storage lost track of the multipart upload (${name})`);
  }
  if (name === 'NoSuchBucket') {
    return bucketNotFound(error);
  }
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
    return mapped('NotFound', 'no object with this key');
  }
  if (status === 304 || name === 'NotModified') {
    return mapped('NotModified', 'not modified', e.$response?.headers?.etag || undefined);
  }
  if (status === 412 || name === 'PreconditionFailed') {
    return mapped('PreconditionFailed', 'an object with this key already exists or the precondition failed');
  }
  if (status === 416 || name === 'InvalidRange') {
    return mapped('RangeNotSatisfiable', 'the requested range is not satisfiable');
  }
  if (name === 'CredentialsProviderError' || name === 'ProviderError') {
    return mapped('Unavailable', 'storage credentials are not available');
  }
  if (
    name === 'TimeoutError' ||
    name === 'RequestTimeout' ||
    code === 'ETIMEDOUT' ||
    /\bE(SOCKET)?TIMEDOUT\b/.test(e.message ?? '')
  ) {
    return mapped('Timeout', 'storage did not answer in time');
  }
  // The SDK may wrap socket errors ("AWS SDK error wrapper for Error: connect ECONNREFUSED …"), keeping only the text.
  const socketCode = /\b(E[A-Z]{4,})\b/.exec(e.message ?? '')?.[1] ?? '';
  if (NETWORK_DOWN.has(code) || NETWORK_DOWN.has(socketCode) || /socket hang up/i.test(e.message ?? '')) {
    return mapped('Unavailable', 'storage cannot be reached');
  }
  if (status === 503 || name === 'SlowDown' || name === 'ServiceUnavailable') {
    return mapped('Unavailable', 'storage is unavailable, try again');
  }
  if (CREDENTIALS_REFUSED.has(name)) {
    return mapped('AccessDenied', `S3 refused the credentials (${name})`);
  }
  if (name === 'AccessDenied' || status === 403) {
    // A HEAD answer has no body, so no error name: a wrong secret and a missing permission look the same.
    const why = name && name !== 'Unknown' ? name : '403: wrong credentials or no permission';
    return mapped('AccessDenied', `storage refused access to ${what} (${why})`);
  }
  // The service's own write settings refused (a class the bucket lacks, an unusable KMS key): the operator's to fix.
  if (name === 'InvalidStorageClass' || name.startsWith('KMS.')) {
    return mapped(
      'BadGateway',
      `storage refused the service's write settings (${name}): check S3_STORAGE_CLASS, S3_SSE and S3_SSE_KMS_KEY_ID`,
    );
  }
  // An error without a code (a HEAD has no body) cannot be blamed on the client: keys were validated before S3.
  if ((status === 400 && name !== 'Unknown') || name === 'InvalidArgument') {
    return mapped('InvalidInput', `storage rejected the request (${name || status})`);
  }
  return mapped('BadGateway', `storage failed (${[name, code, status].filter(Boolean).join(' ') || 'unknown error'})`);
}

export const translated = <T>(sent: Promise<T>): Promise<T> =>
  sent.catch((error: unknown) => {
    throw toStorageError(error);
  });

export const s3Status = (error: unknown): number | undefined =>
  (error as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;

/** A conditional write S3 refused: 412, or 409 (AWS: another conditional write to the key is in progress). */
export const conditionRefused = (error: unknown): boolean => s3Status(error) === 412 || s3Status(error) === 409;

/** A misconfigured S3_BUCKET is the operator's problem, not a missing object: 502, and the health check says so. */
const bucketNotFound = (cause: unknown): StorageError =>
  new StorageError('BadGateway', 'bucket not found: S3_BUCKET names no bucket these credentials can see', { cause });

/** As `toStorageError`, for bucket-level calls: a HeadBucket 404 carries no error code, yet means no bucket. */
export function toBucketError(error: unknown): StorageError {
  return s3Status(error) === 404 ? bucketNotFound(error) : toStorageError(error);
}
