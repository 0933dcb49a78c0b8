import { BadRequestException, Injectable, Logger, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { checkHost } from './allowed-hosts.js';
import { AllowedHosts } from './allowed-hosts.service.js';

const LOG_WINDOW_MS = 60_000;
/** Bounds the memory a flood of random Host values can take. */
const MAX_REMEMBERED_HOSTS = 1000;

/**
 * Refuses requests whose Host is not allowed, as Django's DisallowedHost does: 400, logged at most once per host
 * per minute. The Host is `X-Forwarded-Host` only when TRUST_PROXY trusts the peer (Express's `req.host`).
 * Health checks are not exempt: EB's checker sends the instance IP, which ALLOWED_HOSTS_FROM_EC2 allows.
 */
@Injectable()
export class HostGuard implements CanActivate {
  private readonly logger = new Logger('Security');
  private readonly lastLogged = new Map<string, number>();

  constructor(private readonly allowedHosts: AllowedHosts) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') {
      return true;
    }
    const req = context.switchToHttp().getRequest<Request>();
    const check = checkHost(req.host, this.allowedHosts.patterns);
    if (check.allowed) {
      return true;
    }
    if (this.shouldLog(check.domain ?? '(malformed)')) {
      this.logger.warn(`${check.reason} (${req.method} ${req.path}; logged once a minute per host)`);
    }
    throw new BadRequestException(check.reason);
  }

  private shouldLog(host: string, now = Date.now()): boolean {
    const last = this.lastLogged.get(host);
    if (last !== undefined && now - last < LOG_WINDOW_MS) {
      return false;
    }
    if (this.lastLogged.size >= MAX_REMEMBERED_HOSTS) {
      for (const [seen, at] of this.lastLogged) {
        if (now - at >= LOG_WINDOW_MS) {
          this.lastLogged.delete(seen);
        }
      }
      if (this.lastLogged.size >= MAX_REMEMBERED_HOSTS) {
        return false;
      }
    }
    this.lastLogged.delete(host);
    this.lastLogged.set(host, now);
    return true;
  }
}
