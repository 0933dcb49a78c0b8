import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ImdsClient } from './imds.client.js';

/** Django's default when DEBUG is on and ALLOWED_HOSTS is empty: only this machine. */
const DEVELOPMENT_HOSTS = ['.localhost', '127.0.0.1', '[::1]'];

/** Retries of a failed instance-IP lookup: 1 s, then twice as long each time, at most 30 s. */
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;

/** The ALLOWED_HOSTS patterns, plus the instance's private IPv4 when ALLOWED_HOSTS_FROM_EC2 asks for it. */
@Injectable()
export class AllowedHosts implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Security');
  patterns: readonly string[];
  private retry?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly config: AppConfig,
    private readonly imds: ImdsClient,
  ) {
    // Production requires ALLOWED_HOSTS (config validation), so the fallback only ever applies in development.
    this.patterns = config.allowedHosts.length > 0 ? config.allowedHosts : DEVELOPMENT_HOSTS;
  }

  /**
   * Before the server listens, so EB's health checker never meets a half-booted instance. A failed lookup (the
   * hop-limit hook may still be pending) goes on in the background, so health checks recover without a restart.
   */
  async onModuleInit(): Promise<void> {
    if (this.config.allowedHosts.length === 0) {
      this.logger.warn(`ALLOWED_HOSTS is not set: only ${DEVELOPMENT_HOSTS.join(', ')} are accepted as Host`);
    }
    if (this.config.allowedHostsFromEc2) {
      await this.lookUp(1);
    }
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }

  /** Adds the instance's private IPv4, or tries again later until it can. */
  private async lookUp(attempt: number): Promise<void> {
    try {
      const ip = await this.imds.localIpv4();
      if (this.stopped) {
        return;
      }
      this.patterns = [...this.patterns, ip];
      this.logger.log(
        `ALLOWED_HOSTS_FROM_EC2: added this instance's private IPv4 ${ip}` +
          (attempt > 1 ? ` (lookup ${attempt}; requests with it as Host are accepted from now on)` : ''),
      );
    } catch (error) {
      if (attempt === 1) {
        this.logger.warn(
          `ALLOWED_HOSTS_FROM_EC2: could not read this instance's private IPv4 (${(error as Error).message}); ` +
            'until it can, requests with the instance IP as Host, such as the Elastic Beanstalk health check, are ' +
            `refused. Trying again every ${RETRY_FIRST_MS / 1000}-${RETRY_MAX_MS / 1000} s. In Docker on EC2 the ` +
            'likely cause is the IMDSv2 hop limit of 1 (see .platform/hooks).',
        );
      }
      if (!this.stopped) {
        const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (attempt - 1));
        // Unref'd: a pending retry never holds the process open on shutdown.
        this.retry = setTimeout(() => void this.lookUp(attempt + 1), delay).unref();
      }
    }
  }
}
