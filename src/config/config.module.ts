import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { Global, Module, type DynamicModule } from '@nestjs/common';
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
  /** Validates before Nest starts, so that a bad environment fails `createApp` with its list, no Nest log, no stack. */
  static forRoot({ env, tuning }: ConfigModuleOptions = {}): DynamicModule {
    const raw = env ?? { ...(existsSync('.env') ? parseEnv(readFileSync('.env', 'utf8')) : {}), ...process.env };
    const config = toAppConfig(validateEnvironment(raw), tuning, removedVariableWarnings(raw));
    return { module: ConfigModule, providers: [{ provide: AppConfig, useValue: config }], exports: [AppConfig] };
  }
}
