import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { jsonBody } from '../signed-urls/json-body.middleware.js';
import { UploadSessionsController } from './upload-sessions.controller.js';
import { UploadSessions } from './upload-sessions.service.js';

/** Upload sessions: `POST /upload-sessions`, and `UploadSessions` for the guard and the upload routes. */
@Module({
  controllers: [UploadSessionsController],
  providers: [UploadSessions],
  exports: [UploadSessions],
})
export class UploadSessionsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(jsonBody).forRoutes(UploadSessionsController);
  }
}
