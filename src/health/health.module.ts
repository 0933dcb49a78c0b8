import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { StorageHealthIndicator } from '../storage/storage.health.js';
import { StorageModule } from '../storage/storage.module.js';
import { GracefulShutdown } from './graceful-shutdown.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), StorageModule],
  controllers: [HealthController],
  providers: [StorageHealthIndicator, GracefulShutdown],
  exports: [GracefulShutdown],
})
export class HealthModule {}
