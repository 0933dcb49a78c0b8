import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toAppConfig } from '../src/config/app-config.js';
import { validateEnvironment } from '../src/config/environment.js';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../scripts/keygen.ts');
const keygen = (...args: string[]) => spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });

describe('npm run keygen', () => {
  it('should print one strong read-write key as an API_KEYS assignment the service accepts', () => {
    const { status, stdout, stderr } = keygen();
    expect(status).toBe(0);
    expect(stderr).toBe(''); // the hint is for a terminal only, not for $(npm run -s keygen)
    const [, name, key] = /^([A-Z_]+)=(.*)\n$/.exec(stdout) ?? [];
    expect(name).toBe('API_KEYS');
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    const env = { NODE_ENV: 'production', S3_BUCKET: 'my-bucket', ALLOWED_HOSTS: 'files.example.com', API_KEYS: key };
    expect(toAppConfig(validateEnvironment(env)).apiKeys).toMatchObject({ readWrite: [key] });
  });

  it('should print a read-only key with --readonly', () => {
    const { status, stdout } = keygen('--readonly');
    expect(status).toBe(0);
    const [, name, key] = /^([A-Z_]+)=(.*)\n$/.exec(stdout) ?? [];
    expect(name).toBe('API_KEYS_READONLY');
    const env = { S3_BUCKET: 'my-bucket', API_KEYS: 'k'.repeat(16), API_KEYS_READONLY: key };
    expect(toAppConfig(validateEnvironment(env)).apiKeys).toMatchObject({ readOnly: [key] });
  });

  it('should never print the same key twice', () => {
    const keys = new Set(Array.from({ length: 3 }, () => keygen().stdout));
    expect(keys.size).toBe(3);
  });

  it('should refuse an unknown option with its usage', () => {
    const { status, stdout, stderr } = keygen('--read-only');
    expect(status).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/Unknown option '--read-only'[\s\S]*usage: npm run -s keygen \[-- --readonly\]/);
  });
});
