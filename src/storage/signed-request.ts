import type { S3Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ObjectParameters } from './object-settings.js';
import { translated } from './storage.errors.js';

export interface SignDownloadInput {
  readonly key: string;
  /** Seconds (at most 7 days). */
  readonly expiresIn: number;
  /** For S3 to answer with instead of the stored ones. */
  readonly contentDisposition?: string;
  readonly contentType?: string;
}

export interface SignUploadInput {
  readonly key: string;
  readonly expiresIn: number;
  /** Signed: the upload must send exactly this `Content-Type`. */
  readonly contentType: string;
  /** When set, a POST policy whose `content-length-range` makes S3 refuse bigger files. */
  readonly maxBytes?: number;
  /** Without `maxBytes`, the bound of a POST policy signed because a PUT is unsafe here (default 5 GiB). */
  readonly limit?: number;
  /** Signed too (headers of a PUT, fields of a POST), with the service-wide encryption and storage class. */
  readonly parameters?: ObjectParameters;
}

/** A request a client makes straight to S3. */
export interface SignedRequest {
  readonly url: string;
  readonly method: 'GET' | 'PUT' | 'POST';
  /** Headers the request must carry, exactly (a PUT's signed `Content-Type` and object parameters). */
  readonly headers?: Record<string, string>;
  /** Form fields to send, in order, before the `file` part (POST policy). */
  readonly fields?: Record<string, string>;
  /** When the signature stops working: the requested lifetime, or earlier if the credentials expire first. */
  readonly expiresAt: Date;
}

/** SigV4 caps a presigned URL at 7 days. */
export const MAX_SIGNED_URL_SECONDS = 7 * 24 * 3600;

/** A signature made with temporary credentials stops working when they expire: the window ends at the earlier. */
export function signingWindow(requestedSeconds: number, credentialsExpiration?: Date, now = Date.now()) {
  // On a whole second, as SigV4 dates are.
  const signedAt = Math.floor(now / 1000) * 1000;
  const requestedEnd = signedAt + requestedSeconds * 1000;
  const end = credentialsExpiration ? Math.min(requestedEnd, credentialsExpiration.getTime()) : requestedEnd;
  const seconds = Math.max(1, Math.floor((end - signedAt) / 1000));
  return { signedAt: new Date(signedAt), seconds, expiresAt: new Date(signedAt + seconds * 1000) };
}

/** The signing window of `signer`'s current credentials. @throws StorageError Unavailable */
export async function windowOf(signer: S3Client, expiresIn: number) {
  return signingWindow(expiresIn, (await translated(signer.config.credentials())).expiration);
}

/** `command` presigned for `expiresIn` seconds, or until the credentials expire. @throws StorageError Unavailable */
export async function presign<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
  signer: S3Client,
  command: Parameters<typeof getSignedUrl<ServiceInputTypes, I, O>>[1],
  expiresIn: number,
  options?: Parameters<typeof getSignedUrl>[2],
): Promise<{ url: string; expiresAt: Date }> {
  const { seconds, signedAt, expiresAt } = await windowOf(signer, expiresIn);
  const url = await getSignedUrl(signer, command, { ...options, expiresIn: seconds, signingDate: signedAt });
  return { url, expiresAt };
}

/** Signs `headers` as headers the request must send, not query parameters (not every S3 applies those). */
export function signedHeaders(headers: Record<string, string>) {
  const names = Object.keys(headers).map((name) => name.toLowerCase());
  return {
    signableHeaders: new Set(names),
    unhoistableHeaders: new Set(names.filter((name) => name.startsWith('x-amz-'))),
  };
}
