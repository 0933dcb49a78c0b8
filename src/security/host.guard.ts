import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config.js';
import { hostRefusal } from './allowed-hosts.js';
import { localIpv4 } from './imds.client.js';
import { sendProblem } from '../http/problem.js';

/** Django's default when DEBUG is on and ALLOWED_HOSTS is empty: only this machine. */
const DEVELOPMENT_HOSTS = ['.localhost', '127.0.0.1', '[::1]'];

/** Retries of a failed instance-IP lookup: 1 s, then twice as long each time, at most 30 s. */
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;

const LOG_WINDOW_MS = 60_000;
/** Bounds the memory a flood of random Host values can take. */
const MAX_REMEMBERED_HOSTS = 1000;

/** Every raw `Host` value (`headers.host` keeps only the first; `rawHeaders` alternates names and values). */
const hostLines = (raw: readonly string[]): string[] =>
  raw.filter((_value, i) => i % 2 === 1 && raw[i - 1].length === 4 && raw[i - 1].toLowerCase() === 'host');

/**
 * Django's DisallowedHost: 400 (logged once per host per minute) from a middleware ahead of CORS and every route, so
 * not even a preflight answers a Host not in ALLOWED_HOSTS (plus this instance's IPv4 with ALLOWED_HOSTS_FROM_EC2).
 * Not Express's `req.host`, which takes the first, client-written X-Forwarded-Host and ignores a second Host.
 */
@Injectable()
export class HostGuard implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('Security');
  private readonly lastLogged = new Map<string, number>();
  private patterns: readonly string[];
  private retry?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly config: AppConfig) {
    // Production requires ALLOWED_HOSTS (config validation), so the fallback only ever applies in development.
    this.patterns = config.allowedHosts.length > 0 ? config.allowedHosts : DEVELOPMENT_HOSTS;
  }

  /** Before listening, so EB never meets a half-booted instance; a failed lookup goes on in the background. */
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

  private async lookUp(attempt: number): Promise<void> {
    try {
      const ip = await localIpv4(this.config.imdsEndpoint);
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

  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    const trust = req.app.get('trust proxy fn') as (address: string | undefined, hop: number) => boolean;
    const believed =
      this.config.useForwardedHost &&
      req.headers['x-forwarded-host'] !== undefined &&
      trust(req.socket.remoteAddress, 0);
    const sources = {
      hostHeaders: hostLines(req.rawHeaders),
      target: req.originalUrl,
      forwardedHost: believed ? req.headersDistinct['x-forwarded-host']?.join(',') : undefined,
    };
    const refusal = hostRefusal(sources, this.patterns);
    if (refusal === undefined) {
      next();
      return;
    }
    if (this.shouldLog(refusal.domain)) {
      this.logger.warn(`${refusal.reason} (${req.method} ${req.path}; logged once a minute per host)`);
    }
    sendProblem(req, res, 400, refusal.reason);
  };

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
    this.lastLogged.set(host, now);
    return true;
  }
}
