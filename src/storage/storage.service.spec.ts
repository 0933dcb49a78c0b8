import type { AwsCredentialIdentity } from '@aws-sdk/types';
import { toAppConfig } from '../config/app-config.js';
import { validateEnvironment } from '../config/environment.js';
import { BackendCapabilities, NO_CONDITIONAL_WRITES } from './backend-capabilities.js';
import { FixedCapabilities } from '../../test/support/fixed-capabilities.js';
import { createS3Client, type CredentialSource } from './s3-client.factory.js';
import { S3Gateway } from './s3-gateway.js';
import { StorageError } from './storage.errors.js';
import { StorageService } from './storage.service.js';

/** Signing is local: these clients never send a request (the endpoint is unreachable on purpose). */
function storageWith(
  provider: CredentialSource['provider'],
  env: Record<string, string> = {},
  capabilities: BackendCapabilities = new FixedCapabilities(NO_CONDITIONAL_WRITES),
): StorageService {
  const config = toAppConfig(validateEnvironment({ S3_BUCKET: 'bucket', S3_ENDPOINT: 'http://127.0.0.1:9', ...env }));
  const source: CredentialSource = { provider, name: () => 'test', current: () => undefined };
  return new StorageService(
    new S3Gateway(createS3Client(config.s3, source), config),
    config,
    createS3Client(config.s3, source, 'WHEN_REQUIRED'),
    capabilities,
  );
}

const instanceRole = (expiresInMs: number): (() => Promise<AwsCredentialIdentity>) => {
  const expiration = new Date(Date.now() + expiresInMs);
  return () =>
    Promise.resolve({ accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token', expiration });
};

describe(`${StorageService.name} signing`, () => {
  it('should not let a URL outlive the temporary credentials it is signed with', async () => {
    const storage = storageWith(instanceRole(10 * 60_000));
    const before = Date.now();
    const download = await storage.signDownload({ key: 'a.txt', expiresIn: 3600 });
    const params = new URL(download.url).searchParams;
    expect(Number(params.get('X-Amz-Expires'))).toBeLessThanOrEqual(600);
    expect(Number(params.get('X-Amz-Expires'))).toBeGreaterThan(590);
    expect(params.get('X-Amz-Security-Token')).toBe('token');
    expect(download.expiresAt.getTime()).toBeLessThanOrEqual(before + 600_000);

    const post = await storage.signUpload({ key: 'a.txt', expiresIn: 3600, contentType: 'text/plain', maxBytes: 10 });
    const policy = JSON.parse(Buffer.from(post.fields!.Policy, 'base64').toString()) as { expiration: string };
    expect(post.expiresAt.getTime()).toBe(Date.parse(policy.expiration));
    expect(post.expiresAt.getTime()).toBeLessThanOrEqual(before + 600_000);
    expect(post.fields!['X-Amz-Security-Token']).toBe('token');
  });

  it('should sign the requested lifetime when the credentials last longer', async () => {
    const storage = storageWith(instanceRole(6 * 3600_000));
    const download = await storage.signDownload({ key: 'a.txt', expiresIn: 3600 });
    expect(new URL(download.url).searchParams.get('X-Amz-Expires')).toBe('3600');
  });

  it('should answer Unavailable when no credentials can be resolved', async () => {
    const storage = storageWith(() =>
      Promise.reject(Object.assign(new Error('no role'), { name: 'CredentialsProviderError' })),
    );
    await expect(storage.signDownload({ key: 'a', expiresIn: 60 })).rejects.toEqual(
      expect.objectContaining({ code: 'Unavailable' }),
    );
    await expect(storage.signDownload({ key: 'a', expiresIn: 60 })).rejects.toBeInstanceOf(StorageError);
  });

  it('should sign a PUT only where the backend refuses unsigned headers, else a POST form bounded by the limit', async () => {
    const keys = { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' };
    const input = { key: 'a.txt', expiresIn: 60, contentType: 'text/plain', limit: 1000 };
    const refusing = storageWith(keys, {}, new FixedCapabilities(NO_CONDITIONAL_WRITES, true));
    expect(await refusing.signUpload(input)).toMatchObject({
      method: 'PUT',
      headers: { 'Content-Type': 'text/plain' },
    });

    const applying = storageWith(keys, {}, new FixedCapabilities(NO_CONDITIONAL_WRITES, false));
    const post = await applying.signUpload(input);
    expect(post).toMatchObject({ method: 'POST', fields: expect.objectContaining({ key: 'a.txt' }) });
    expect(post.headers).toBeUndefined();
    const policy = JSON.parse(Buffer.from(post.fields!.Policy, 'base64').toString()) as { conditions: unknown[] };
    expect(policy.conditions).toContainEqual(['content-length-range', 0, 1000]);
  });

  it('should sign no upload that depends on an answer not known yet, but a POST with maxBytes all the same', async () => {
    const keys = { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' };
    const unknown = new (class extends FixedCapabilities {
      override presignedHeadersEnforced(): undefined {
        return undefined;
      }
      override requirePresignedHeadersEnforced(): Promise<boolean> {
        return Promise.reject(new StorageError('Unavailable', 'not known yet', { retryAfterSeconds: 4 }));
      }
    })(NO_CONDITIONAL_WRITES);
    const storage = storageWith(keys, {}, unknown);
    const input = { key: 'a.txt', expiresIn: 60, contentType: 'text/plain' };
    await expect(storage.signUpload(input)).rejects.toMatchObject({ code: 'Unavailable', retryAfterSeconds: 4 });
    expect(await storage.signUpload({ ...input, maxBytes: 10 })).toMatchObject({ method: 'POST' });
  });
});
