import path from 'node:path';
import type { Rgw } from '../../dev/rgw/rgw.js';

/** How the globalSetup tells the workers where the run's RGW is. */
export const RGW_ENV = {
  endpoint: 'S3_TEST_RGW_ENDPOINT',
  accessKeyId: 'S3_TEST_RGW_ACCESS_KEY_ID',
  secretAccessKey: 'S3_TEST_RGW_SECRET_ACCESS_KEY',
} as const;

/**
 * Jest globalSetup: with `S3_TEST_BACKEND=rgw`, starts ONE Ceph RGW for the whole run and hands its endpoint and
 * keys to the workers through the environment (each suite makes its own buckets on it). An RGW already named by
 * `S3_TEST_RGW_ENDPOINT` (e.g. `npm run dev:rgw`, with its keys in the two variables beside it) is used as it is.
 */
export default async function setup(_global: unknown, project: { rootDir: string }): Promise<void> {
  if (process.env.S3_TEST_BACKEND !== 'rgw' || process.env[RGW_ENV.endpoint]) {
    return;
  }
  // Jest loads this file outside its module map (no `.js` → `.ts` mapping), hence no static relative import.
  const launcher = path.join(project.rootDir, 'dev/rgw/rgw.ts');
  const { startRgw } = (await import(launcher)) as typeof import('../../dev/rgw/rgw.js');
  const started = Date.now();
  const rgw = await startRgw();
  console.log(`\nCeph RGW for this run: ${rgw.endpoint}, ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.env[RGW_ENV.endpoint] = rgw.endpoint;
  process.env[RGW_ENV.accessKeyId] = rgw.accessKeyId;
  process.env[RGW_ENV.secretAccessKey] = rgw.secretAccessKey;
  (globalThis as { testRgw?: Rgw }).testRgw = rgw;
}
