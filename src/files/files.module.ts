import { Module } from '@nestjs/common';
import { StorageModule } from '../storage/storage.module.js';
import { UploadSessionsModule } from '../upload-sessions/upload-sessions.module.js';
import { KeyPipe } from './file-key.js';
import { FilesController } from './files.controller.js';

@Module({
  imports: [StorageModule, UploadSessionsModule],
  controllers: [FilesController],
  providers: [KeyPipe],
  exports: [KeyPipe],
})
export class FilesModule {}
