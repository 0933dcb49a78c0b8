import { Injectable, Logger } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { BackendCapabilities } from './backend-capabilities.js';
import { StorageService } from './storage.service.js';

/** Bounded well under EB's 5 s health check timeout. */
const CHECK_TIMEOUT_MS = 2000;
/** EB and the load balancer check every few seconds per instance; S3 is asked at most this often. */
const CACHE_MS = 5000;

/** `storage`: HeadBucket with our credentials; details are what the probe learned (`unknown` until probed). */
@Injectable()
export class StorageHealthIndicator {
  private readonly logger = new Logger('Health');
  private lastStatus?: string;

  constructor(
    private readonly health: HealthIndicatorService,
    private readonly storage: StorageService,
    private readonly capabilities: BackendCapabilities,
  ) {}

  async check(): Promise<HealthIndicatorResult<'storage'>> {
    const result = await this.health
      .check('storage')
      .attempt(async ({ signal }) => {
        await this.storage.checkBucket(signal);
        return this.capabilities.details();
      })
      .withTimeout(CHECK_TIMEOUT_MS)
      .cacheFor(CACHE_MS);
    // Logged on change only: health is checked every few seconds.
    const { status, message } = result.storage;
    if (status !== this.lastStatus) {
      if (status === 'down') {
        this.logger.warn(`storage is down: ${String(message)}`);
      } else if (this.lastStatus !== undefined) {
        this.logger.log(`storage is ${status} again`);
      }
      this.lastStatus = status;
    }
    return result;
  }
}
