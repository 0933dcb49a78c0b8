import { Global, Module, type DynamicModule } from '@nestjs/common';
import { ConfigModule as NestConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig, removedVariableWarnings, toAppConfig, type Tuning } from './app-config.js';
import { validateEnvironment } from './environment.js';

export interface ConfigModuleOptions {
  /** The environment to validate instead of `process.env` + `.env` (tests). */
  readonly env?: Record<string, string | undefined>;
  readonly tuning?: Tuning;
}

@Global()
@Module({})
export class ConfigModule {
  static forRoot(options: ConfigModuleOptions = {}): DynamicModule {
    return {
      module: ConfigModule,
      imports: [
        NestConfigModule.forRoot({
          ignoreEnvFile: options.env !== undefined,
          skipProcessEnv: true,
          // Returned under one object key so @nestjs/config copies nothing back into process.env.
          validate: (loaded) => {
            const raw = options.env ?? loaded;
            return { app: toAppConfig(validateEnvironment(raw), options.tuning, removedVariableWarnings(raw)) };
          },
        }),
      ],
      providers: [
        {
          provide: AppConfig,
          useFactory: (config: ConfigService) => config.getOrThrow<AppConfig>('app'),
          inject: [ConfigService],
        },
      ],
      exports: [AppConfig],
    };
  }
}
