import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { BackendCapabilities } from './backend-capabilities.js';
import { BatchStorageService } from './batch-storage.service.js';
import type { Metrics } from '../metrics/metrics.js';
import { METRICS } from '../metrics/metrics.module.js';
import { DirectUploads } from './direct-uploads.js';
import { StorageReporter } from './storage.reporter.js';
import { createCredentialSource, createS3Client, type CredentialSource } from './s3-client.factory.js';
import { instrumentS3Client } from './s3-metrics.js';
import { ProbedCapabilities } from './probed-capabilities.js';
import { S3Gateway } from './s3-gateway.js';
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
      inject: [AppConfig, CREDENTIAL_SOURCE, METRICS],
      useFactory: (config: AppConfig, source: CredentialSource, metrics: Metrics | null) => {
        const client = createS3Client(config.s3, source);
        if (metrics !== null) {
          instrumentS3Client(client, metrics);
          metrics.watchCredentials(() => {
            const credentials = source.current();
            return credentials && { ...credentials, source: source.name(credentials) };
          });
        }
        return client;
      },
    },
    {
      provide: S3_SIGNING_CLIENT,
      inject: [AppConfig, CREDENTIAL_SOURCE],
      // With default checksums the SDK presigns a PUT with the CRC32 of an empty body, which S3 then enforces.
      useFactory: (config: AppConfig, source: CredentialSource) => createS3Client(config.s3, source, 'WHEN_REQUIRED'),
    },
    S3Gateway,
    StorageService,
    BatchStorageService,
    StorageReporter,
    // After the reporter: its boot lines (bucket, credentials) come before the probe's.
    { provide: BackendCapabilities, useClass: ProbedCapabilities },
    DirectUploads,
  ],
  exports: [StorageService, BatchStorageService, DirectUploads, BackendCapabilities, CREDENTIAL_SOURCE, S3Gateway],
})
export class StorageModule {}
