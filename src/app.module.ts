import { Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule, type ConfigModuleOptions } from './config/config.module.js';
import { FilesModule } from './files/files.module.js';
import { HealthModule } from './health/health.module.js';
import { LoggingModule } from './logging/logging.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { SecurityModule } from './security/security.module.js';
import { SignedUrlsModule } from './signed-urls/signed-urls.module.js';
import { UploadSessionsModule } from './upload-sessions/upload-sessions.module.js';
import { UploadsModule } from './uploads/uploads.module.js';

@Module({})
export class AppModule {
  static forRoot(options: ConfigModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(options),
        LoggingModule,
        MetricsModule,
        SecurityModule,
        HealthModule,
        FilesModule,
        SignedUrlsModule,
        UploadSessionsModule,
        UploadsModule,
      ],
    };
  }
}
