import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { StorageReporter } from './storage.reporter.js';
import { createCredentialSource, createS3Client, type CredentialSource } from './s3-client.factory.js';
import { StorageService } from './storage.service.js';
import { CREDENTIAL_SOURCE, S3_CLIENT, S3_SIGNING_CLIENT } from './storage.tokens.js';

@Module({
  providers: [
    {
      provide: CREDENTIAL_SOURCE,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => createCredentialSource(config.s3),
    },
    {
      provide: S3_CLIENT,
      inject: [AppConfig, CREDENTIAL_SOURCE],
      useFactory: (config: AppConfig, source: CredentialSource) => createS3Client(config.s3, source),
    },
    {
      provide: S3_SIGNING_CLIENT,
      inject: [AppConfig, CREDENTIAL_SOURCE],
      // With default checksums the SDK presigns a PUT with the CRC32 of an empty body, which S3 then enforces.
      useFactory: (config: AppConfig, source: CredentialSource) => createS3Client(config.s3, source, 'WHEN_REQUIRED'),
    },
    StorageService,
    StorageReporter,
  ],
  exports: [StorageService, CREDENTIAL_SOURCE],
})
export class StorageModule {}
