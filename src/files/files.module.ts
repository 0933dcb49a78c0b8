import { Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { jsonBody, jsonBodyUpTo } from '../http/json-body.middleware.js';
import { SecurityModule } from '../security/security.module.js';
import { StorageModule } from '../storage/storage.module.js';
import { KeyPipe } from '../http/file-key.js';
import { FilesBatchController } from './files-batch.controller.js';
import { FilesController } from './files.controller.js';

@Module({
  imports: [StorageModule, SecurityModule],
  // First, so that `POST /files/delete` and `/files/{key}/copy` win over any `/files/{key}` route.
  controllers: [FilesBatchController, FilesController],
  providers: [KeyPipe],
})
export class FilesModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // 1000 keys of 1024 bytes, with room for JSON escapes (`\u00e9`, Python's default, triples 2-byte characters).
    consumer.apply(jsonBodyUpTo('4mb')).forRoutes({ path: 'files/delete', method: RequestMethod.POST });
    consumer
      .apply(jsonBody)
      .forRoutes(
        { path: 'files/*key/copy', method: RequestMethod.POST },
        { path: 'files/*key/move', method: RequestMethod.POST },
      );
  }
}
