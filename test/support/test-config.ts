import { toAppConfig, type AppConfig, type Tuning } from '../../src/config/app-config.js';
import { validateEnvironment } from '../../src/config/environment.js';

/** A whole, valid configuration as the service builds one: `S3_BUCKET=bucket` plus `env`, with `tuning`. */
export function testConfig(env: Record<string, string> = {}, tuning: Tuning = {}): AppConfig {
  return toAppConfig(validateEnvironment({ S3_BUCKET: 'bucket', ...env }), tuning);
}
