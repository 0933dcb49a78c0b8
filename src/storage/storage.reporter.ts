import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import type { CredentialSource } from './s3-client.factory.js';
import { StorageService } from './storage.service.js';
import { CREDENTIAL_SOURCE } from './storage.tokens.js';

const RESOLVE_TIMEOUT_MS = 5000;

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Says at boot which bucket and credentials the service uses (never the secret), then checks the bucket once. */
@Injectable()
export class StorageReporter implements OnApplicationBootstrap {
  private readonly logger = new Logger('Storage');

  constructor(
    @Inject(CREDENTIAL_SOURCE) private readonly source: CredentialSource,
    private readonly config: AppConfig,
    private readonly storage: StorageService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { bucket, region, endpoint, prefix } = this.config.s3;
    this.logger.log(
      `S3 bucket "${bucket}" in ${region} at ${endpoint ?? 'AWS S3'}${prefix ? `, keys under "${prefix}"` : ''}`,
    );
    this.logger.log(await this.describeCredentials());
    // Not awaited: the service listens at once whatever S3 says (/health/ reports it until the bucket answers).
    this.storage.checkBucket(AbortSignal.timeout(RESOLVE_TIMEOUT_MS)).then(
      () => this.logger.log(`S3 bucket "${bucket}" answers`),
      (error) => this.logger.warn(`S3 bucket "${bucket}" cannot be used yet: ${reason(error)}. /health/ reports it.`),
    );
  }

  /** Resolves the credentials once, in bounded time; failure is a warning, not a crash (S3 may come later). */
  private async describeCredentials(): Promise<string> {
    const { provider } = this.source;
    try {
      const credentials = await Promise.race([
        typeof provider === 'function' ? provider() : provider,
        sleep(RESOLVE_TIMEOUT_MS, undefined, { ref: false }).then(() => {
          throw new Error(`no answer within ${RESOLVE_TIMEOUT_MS} ms`);
        }),
      ]);
      const id = `${credentials.accessKeyId.slice(0, 4)}…`;
      const expiry = credentials.expiration ? `, expires ${credentials.expiration.toISOString()}` : '';
      return `S3 credentials: ${this.source.name(credentials)}, key id ${id}${expiry}`;
    } catch (error) {
      this.logger.warn(
        `S3 credentials could not be resolved from the default chain (${reason(error).split('\n')[0]}). ` +
          'On EC2/Elastic Beanstalk in Docker, the likely cause is the IMDSv2 hop limit of 1, which blocks ' +
          'containers on the Docker bridge from the instance role: set HttpPutResponseHopLimit to 2 ' +
          '(see .platform/hooks), or check that the instance profile has a role.',
      );
      return 'S3 credentials: none resolved yet (requests to S3 will fail until they are)';
    }
  }
}
