import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { KeyPipe } from '../http/file-key.js';
import { StorageModule } from '../storage/storage.module.js';
import { jsonBody } from '../http/json-body.middleware.js';
import { SignedUrlsController } from './signed-urls.controller.js';

@Module({
  imports: [StorageModule],
  providers: [KeyPipe],
  controllers: [SignedUrlsController],
})
export class SignedUrlsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(jsonBody).forRoutes(SignedUrlsController);
  }
}
