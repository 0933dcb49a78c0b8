import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { LocalS3Module } from '../local-s3/local-s3.module.js';
import { LocalS3Service } from '../local-s3/local-s3.service.js';
import { CredentialsReporter } from './credentials.reporter.js';
import { createCredentialSource, createS3Client, type CredentialSource, type S3Target } from './s3-client.factory.js';
import { StorageService } from './storage.service.js';
import { CREDENTIAL_SOURCE, S3_CLIENT, S3_SIGNING_CLIENT, S3_TARGET } from './storage.tokens.js';

@Module({
  imports: [LocalS3Module],
  providers: [
    {
      provide: S3_TARGET,
      inject: [AppConfig, LocalS3Service],
      useFactory: async (config: AppConfig, localS3: LocalS3Service): Promise<S3Target> =>
        config.s3.bucket
          ? {
              bucket: config.s3.bucket,
              endpoint: config.s3.endpoint,
              forcePathStyle: config.s3.forcePathStyle,
              credentials: config.s3.credentials,
            }
          : localS3.start(),
    },
    { provide: CREDENTIAL_SOURCE, inject: [S3_TARGET], useFactory: createCredentialSource },
    {
      provide: S3_CLIENT,
      inject: [AppConfig, S3_TARGET, CREDENTIAL_SOURCE],
      useFactory: (config: AppConfig, target: S3Target, source: CredentialSource) =>
        createS3Client(config.s3, target, source),
    },
    {
      provide: S3_SIGNING_CLIENT,
      inject: [AppConfig, S3_TARGET, CREDENTIAL_SOURCE],
      // With default checksums the SDK presigns a PUT with the CRC32 of an empty body, which S3 then enforces.
      useFactory: (config: AppConfig, target: S3Target, source: CredentialSource) =>
        createS3Client(config.s3, { ...target, checksums: 'WHEN_REQUIRED' }, source),
    },
    StorageService,
    CredentialsReporter,
  ],
  exports: [StorageService],
})
export class StorageModule {}
