import { Module } from '@nestjs/common';
import { StorageModule } from '../storage/storage.module.js';
import { SecurityModule } from '../security/security.module.js';
import { TusUploads } from './tus-uploads.service.js';
import { UploadsController } from './uploads.controller.js';

/** Resumable uploads through the service: tus 1.0 at /uploads. */
@Module({
  imports: [StorageModule, SecurityModule],
  controllers: [UploadsController],
  providers: [TusUploads],
})
export class UploadsModule {}
