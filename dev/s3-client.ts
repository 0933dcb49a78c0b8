import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/** The fixed keys s3rver accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/**
 * A client for a development S3 server (s3rver by default), set up as the service sets up its own for an
 * S3-compatible endpoint: path-style URLs and plain bodies without checksum trailers.
 */
export function createDevS3Client(
  endpoint: string,
  credentials: { accessKeyId: string; secretAccessKey: string } = S3RVER_CREDENTIALS,
  overrides: S3ClientConfig = {},
): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides,
  });
}

/** The service's environment for a development S3 server: the variables production would set for MinIO or RGW. */
export function devS3ServiceEnv(
  endpoint: string,
  bucket: string,
  credentials: { accessKeyId: string; secretAccessKey: string } = S3RVER_CREDENTIALS,
): Record<string, string> {
  return {
    S3_BUCKET: bucket,
    S3_ENDPOINT: endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  };
}
