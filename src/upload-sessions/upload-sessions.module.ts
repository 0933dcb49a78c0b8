import { Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { jsonBody, jsonBodyUpTo } from '../signed-urls/json-body.middleware.js';
import { StorageModule } from '../storage/storage.module.js';
import { CompanionS3Controller } from './companion-s3.controller.js';
import { UploadSessionsController } from './upload-sessions.controller.js';
import { UploadSessions } from './upload-sessions.service.js';

/** The body of a completion naming 10,000 parts. */
const COMPLETE_BODY_LIMIT = '1mb';

/**
 * Upload sessions: `POST /upload-sessions`, Uppy Companion's S3 routes under the session URL, and `UploadSessions`
 * for the guard and the other upload routes.
 */
@Module({
  imports: [StorageModule],
  controllers: [UploadSessionsController, CompanionS3Controller],
  providers: [UploadSessions],
  exports: [UploadSessions],
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
