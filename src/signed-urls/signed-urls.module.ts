import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { FilesModule } from '../files/files.module.js';
import { StorageModule } from '../storage/storage.module.js';
import { jsonBody } from './json-body.middleware.js';
import { SignedUrlsController } from './signed-urls.controller.js';

@Module({
  imports: [StorageModule, FilesModule],
  controllers: [SignedUrlsController],
})
export class SignedUrlsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(jsonBody).forRoutes(SignedUrlsController);
  }
}
