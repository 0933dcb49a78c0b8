import { statusOf } from '../http/http-error.filter.js';
import { toBucketError, toStorageError, type StorageErrorCode } from './storage.errors.js';

const sdkError = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status }, ...extra });

describe(toStorageError.name, () => {
  it.each<[string, unknown, StorageErrorCode, number]>([
    ['NoSuchKey', sdkError('NoSuchKey', 404), 'NotFound', 404],
    ['HEAD 404', sdkError('NotFound', 404), 'NotFound', 404],
    ['304', sdkError('Unknown', 304), 'NotModified', 304],
    ['PreconditionFailed', sdkError('PreconditionFailed', 412), 'PreconditionFailed', 412],
    ['InvalidRange', sdkError('InvalidRange', 416), 'RangeNotSatisfiable', 416],
    ['NoSuchBucket', sdkError('NoSuchBucket', 404), 'BadGateway', 502],
    ['AccessDenied', sdkError('AccessDenied', 403), 'AccessDenied', 502],
    ['SignatureDoesNotMatch', sdkError('SignatureDoesNotMatch', 403), 'AccessDenied', 502],
    [
      'connection refused',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
      'Unavailable',
      503,
    ],
    [
      'a wrapped socket error',
      new Error('AWS SDK error wrapper for Error: connect ECONNREFUSED 127.0.0.1:1'),
      'Unavailable',
      503,
    ],
    ['socket hang up', new Error('socket hang up'), 'Unavailable', 503],
    ['SlowDown', sdkError('SlowDown', 503), 'Unavailable', 503],
    ['no credentials', sdkError('CredentialsProviderError'), 'Unavailable', 503],
    ['request timeout', sdkError('TimeoutError'), 'Timeout', 504],
    ['ETIMEDOUT', Object.assign(new Error('x'), { code: 'ETIMEDOUT' }), 'Timeout', 504],
    ['an abort', sdkError('AbortError'), 'Aborted', 400],
    ['InvalidArgument', sdkError('InvalidArgument', 400), 'InvalidInput', 400],
    ['InvalidStorageClass (S3_STORAGE_CLASS)', sdkError('InvalidStorageClass', 400), 'BadGateway', 502],
    ['a KMS key S3 cannot use (S3_SSE_KMS_KEY_ID)', sdkError('KMS.NotFoundException', 400), 'BadGateway', 502],
    ['InternalError', sdkError('InternalError', 500), 'BadGateway', 502],
    ['NoSuchUpload', sdkError('NoSuchUpload', 404), 'BadGateway', 502],
    ['ExpiredToken', sdkError('ExpiredToken', 400), 'AccessDenied', 502],
    ['a HEAD answered 400 without a code', sdkError('Unknown', 400), 'BadGateway', 502],
    ['a HEAD answered 403 without a code', sdkError('Unknown', 403), 'AccessDenied', 502],
    ['InvalidPart', sdkError('InvalidPart', 400), 'BadGateway', 502],
    ['anything else', 'weird', 'BadGateway', 502],
  ])('should map %s', (_name, error, code, status) => {
    const mapped = toStorageError(error);
    expect(mapped.code).toBe(code);
    expect(statusOf(mapped.code)).toBe(status);
  });

  it('should keep the ETag of a 304 when S3 sends it (a 304 must carry it)', () => {
    const response = (headers: Record<string, string>) => ({ $response: { statusCode: 304, headers } });
    expect(toStorageError(sdkError('NotModified', 304, response({ etag: '"abc"' }))).etag).toBe('"abc"');
    expect(toStorageError(sdkError('NotModified', 304, response({}))).etag).toBeUndefined();
  });

  it.each([
    ['InvalidAccessKeyId', 403, 'S3 refused the credentials (InvalidAccessKeyId)'],
    ['SignatureDoesNotMatch', 403, 'S3 refused the credentials (SignatureDoesNotMatch)'],
    ['ExpiredToken', 400, 'S3 refused the credentials (ExpiredToken)'],
    ['AccessDenied', 403, 'storage refused access to the bucket (AccessDenied)'],
    ['Unknown', 403, 'storage refused access to the bucket (403: wrong credentials or no permission)'],
  ])('should say what %s (%i) means, never "(Unknown)"', (name, status, message) => {
    expect(toStorageError(sdkError(name, status)).message).toBe(message);
    expect(toBucketError(sdkError(name, status)).message).toBe(message);
  });

  it('should keep secrets out of the message', () => {
    const error = sdkError('InvalidAccessKeyId', 403, { message: 'The key AKIASECRETSECRET does not exist' });
    expect(toStorageError(error).message).not.toContain('AKIASECRET');
  });
});

describe(toBucketError.name, () => {
  it.each([
    ['HeadBucket 404 (no body, so no code)', sdkError('NotFound', 404)],
    ['NoSuchBucket', sdkError('NoSuchBucket', 404)],
  ])('should say the bucket is missing on %s', (_name, error) => {
    const mapped = toBucketError(error);
    expect(mapped).toMatchObject({ code: 'BadGateway', message: expect.stringMatching(/^bucket not found/) });
    expect(mapped.message).not.toMatch(/object|key/);
  });

  it('should map anything else as toStorageError does', () => {
    expect(toBucketError(sdkError('AccessDenied', 403)).code).toBe('AccessDenied');
  });
});
