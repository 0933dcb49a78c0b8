import { isIPv4 } from 'node:net';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { sendSmallRequest } from '../storage/small-request.js';

/** Bounded so a machine without IMDS (a laptop, CI, a blocked container) delays the boot by at most this. */
const IMDS_TIMEOUT_MS = 2000;

/** The EC2 instance metadata the service reads itself (the SDK reads credentials on its own), IMDSv2 only. */
@Injectable()
export class ImdsClient {
  constructor(private readonly config: AppConfig) {}

  /** The instance's private IPv4 address (what EB's health checker and the load balancer send as Host). */
  async localIpv4(timeoutMs = IMDS_TIMEOUT_MS): Promise<string> {
    const signal = AbortSignal.timeout(timeoutMs);
    const token = await this.read('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, signal);
    const ip = await this.read('GET', '/latest/meta-data/local-ipv4', { 'X-aws-ec2-metadata-token': token }, signal);
    if (!isIPv4(ip)) {
      throw new Error('the instance metadata service answered local-ipv4 with something that is not an IPv4 address');
    }
    return ip;
  }

  private async read(method: string, path: string, headers: Record<string, string>, signal: AbortSignal) {
    const endpoint = this.config.imdsEndpoint;
    const answer = await sendSmallRequest(`${endpoint}${path}`, { method, headers, signal }).catch((error: unknown) => {
      throw new Error(
        signal.aborted
          ? `no answer from the instance metadata service at ${endpoint} within the time limit`
          : `the instance metadata service at ${endpoint} cannot be reached (${causeOf(error)})`,
        { cause: error },
      );
    });
    if (answer.status < 200 || answer.status > 299) {
      throw new Error(`the instance metadata service answered ${method} ${path} with ${answer.status}`);
    }
    return answer.body.trim();
  }
}

const causeOf = (error: unknown): string =>
  (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error));
