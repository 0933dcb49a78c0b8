import { Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { jsonBody, jsonBodyUpTo } from '../http/json-body.middleware.js';
import { SecurityModule } from '../security/security.module.js';
import { StorageModule } from '../storage/storage.module.js';
import { CompanionS3Controller } from './companion-s3.controller.js';
import { UploadSessionsController } from './upload-sessions.controller.js';

/** The body of a completion naming 10,000 parts. */
const COMPLETE_BODY_LIMIT = '1mb';

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
    consumer
      .apply(jsonBodyUpTo(COMPLETE_BODY_LIMIT))
      .forRoutes({ path: 'upload-sessions/:token/s3/multipart/:uploadId/complete', method: RequestMethod.POST });
  }
}
