import type { Rgw } from '../../dev/rgw/rgw.js';

/** Jest globalTeardown: stops the RGW that backend-setup.ts started (same process), if any. */
export default async function teardown(): Promise<void> {
  await (globalThis as { testRgw?: Rgw }).testRgw?.stop();
}
