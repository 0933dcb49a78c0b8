import { Module } from '@nestjs/common';
import { LocalS3Service } from './local-s3.service.js';

@Module({
  providers: [LocalS3Service],
  exports: [LocalS3Service],
})
export class LocalS3Module {}
