import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ImdsClient } from './imds.client.js';

/** Django's default when DEBUG is on and ALLOWED_HOSTS is empty: only this machine. */
const DEVELOPMENT_HOSTS = ['.localhost', '127.0.0.1', '[::1]'];

/** The ALLOWED_HOSTS patterns, plus the instance's private IPv4 when ALLOWED_HOSTS_FROM_EC2 asks for it. */
@Injectable()
export class AllowedHosts implements OnModuleInit {
  private readonly logger = new Logger('Security');
  private list: readonly string[];

  constructor(
    private readonly config: AppConfig,
    private readonly imds: ImdsClient,
  ) {
    // Production requires ALLOWED_HOSTS (config validation), so the fallback only ever applies in development.
    this.list = config.allowedHosts.length > 0 ? config.allowedHosts : DEVELOPMENT_HOSTS;
  }

  get patterns(): readonly string[] {
    return this.list;
  }

  /** Runs before the server listens, so the EB health checker is never refused by a half-booted instance. */
  async onModuleInit(): Promise<void> {
    if (this.config.allowedHosts.length === 0) {
      this.logger.warn(`ALLOWED_HOSTS is not set: only ${DEVELOPMENT_HOSTS.join(', ')} are accepted as Host`);
    }
    if (!this.config.allowedHostsFromEc2) {
      return;
    }
    try {
      const ip = await this.imds.localIpv4();
      this.list = [...this.list, ip];
      this.logger.log(`ALLOWED_HOSTS_FROM_EC2: added this instance's private IPv4 ${ip}`);
    } catch (error) {
      this.logger.warn(
        `ALLOWED_HOSTS_FROM_EC2: could not read this instance's private IPv4 (${(error as Error).message}); ` +
          'requests with the instance IP as Host, such as the Elastic Beanstalk health check, will be refused. ' +
          'In Docker on EC2 the likely cause is the IMDSv2 hop limit of 1 (see .platform/hooks).',
      );
    }
  }
}
