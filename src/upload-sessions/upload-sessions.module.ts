import { Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { jsonBody, jsonBodyUpTo } from '../http/json-body.middleware.js';
import { SecurityModule } from '../security/security.module.js';
import { StorageModule } from '../storage/storage.module.js';
import { CompanionS3Controller } from './companion-s3.controller.js';
import { UploadSessionsController } from './upload-sessions.controller.js';

/** Upload sessions: `POST /upload-sessions` and Uppy Companion's S3 routes under the session URL. */
@Module({
  imports: [StorageModule, SecurityModule],
  controllers: [UploadSessionsController, CompanionS3Controller],
})
export class UploadSessionsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(jsonBody).forRoutes(UploadSessionsController, {
      path: 'upload-sessions/:token/s3/multipart',
      method: RequestMethod.POST,
    });
    // Room for a completion naming 10,000 parts.
    consumer
      .apply(jsonBodyUpTo('1mb'))
      .forRoutes({ path: 'upload-sessions/:token/s3/multipart/:uploadId/complete', method: RequestMethod.POST });
  }
}
