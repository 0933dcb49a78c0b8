import { resolve } from 'node:path';
import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import type { S3Target } from '../storage/s3-client.factory.js';
import { LocalS3Server } from './local-s3.server.js';

const LOCAL_BUCKET = 'local-files';

/**
 * The embedded S3-compatible server for development: started only when no bucket is configured (never in
 * production, where S3_BUCKET is required), on loopback, with data in a git-ignored folder; stopped with the service.
 */
@Injectable()
export class LocalS3Service implements OnApplicationShutdown {
  private readonly logger = new Logger('LocalS3');
  private server?: LocalS3Server;

  constructor(private readonly config: AppConfig) {}

  async start(): Promise<S3Target> {
    if (this.config.production) {
      throw new Error('the embedded S3 server is for development only; set S3_BUCKET in production');
    }
    const dataDir = resolve(this.config.localS3Dir);
    this.server = new LocalS3Server({ directory: dataDir, buckets: [LOCAL_BUCKET] });
    await this.server.start();
    this.logger.warn(
      `S3_BUCKET is not set: using the embedded local S3 server at ${this.server.endpoint} ` +
        `(bucket "${LOCAL_BUCKET}", data in ${dataDir}). Development only.`,
    );
    return {
      bucket: LOCAL_BUCKET,
      endpoint: this.server.endpoint,
      forcePathStyle: true,
      checksums: 'WHEN_REQUIRED',
      credentialsLabel: "the embedded server's fixed local keys",
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.stop();
  }
}
