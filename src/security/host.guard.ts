import { Injectable, Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config.js';
import { checkHost, hostsToCheck } from './allowed-hosts.js';
import { AllowedHosts } from './allowed-hosts.service.js';
import { sendProblem } from '../http/problem.js';

const LOG_WINDOW_MS = 60_000;
/** Bounds the memory a flood of random Host values can take. */
const MAX_REMEMBERED_HOSTS = 1000;

/** Every raw `Host` header value, in order (`rawHeaders` alternates names and values). */
const hostLines = (raw: readonly string[]): string[] =>
  raw.filter((_value, i) => i % 2 === 1 && raw[i - 1].length === 4 && raw[i - 1].toLowerCase() === 'host');

/**
 * Django's DisallowedHost: 400, logged at most once per host per minute; a middleware ahead of CORS and every route,
 * so nothing, not even a preflight, answers a Host not allowed. Not Express's `req.host`: it takes the first,
 * client-written `X-Forwarded-Host` when TRUST_PROXY trusts the peer, and ignores a second Host.
 */
@Injectable()
export class HostGuard {
  private readonly logger = new Logger('Security');
  private readonly lastLogged = new Map<string, number>();

  constructor(
    private readonly allowedHosts: AllowedHosts,
    private readonly config: AppConfig,
  ) {}

  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    const hosts = hostsToCheck({
      hostHeaders: hostLines(req.rawHeaders),
      target: req.originalUrl,
      forwardedHost: this.believesForwardedHost(req) ? req.headersDistinct['x-forwarded-host']?.join(',') : undefined,
    });
    const refusal = Array.isArray(hosts)
      ? hosts.map((host) => checkHost(host, this.allowedHosts.patterns)).find((check) => !check.allowed)
      : { reason: hosts.reason, domain: '(several)' };
    if (refusal === undefined) {
      next();
      return;
    }
    if (this.shouldLog(refusal.domain ?? '(malformed)')) {
      this.logger.warn(`${refusal.reason} (${req.method} ${req.path}; logged once a minute per host)`);
    }
    sendProblem(req, res, 400, refusal.reason);
  };

  private believesForwardedHost(req: Request): boolean {
    const trust = req.app.get('trust proxy fn') as (address: string | undefined, hop: number) => boolean;
    return (
      this.config.useForwardedHost &&
      req.headers['x-forwarded-host'] !== undefined &&
      trust(req.socket.remoteAddress, 0)
    );
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
