import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { S3Client } from '@aws-sdk/client-s3';
import { AppConfig } from '../config/app-config.js';
import { BackendCapabilities, NO_CONDITIONAL_WRITES, type ConditionalWrites } from './backend-capabilities.js';
import {
  headersEnforced,
  probeConditionalWrites,
  probePresignedHeaders,
  ProbeInconclusive,
  removeProbeObjects,
  type PresignedHeadersProbe,
  type ProbeTarget,
} from './backend-probe.js';
import { RESERVED_PREFIX } from './reserved-keys.js';
import { S3Gateway } from './s3-gateway.js';
import { StorageError, toStorageError } from './storage.errors.js';
import { S3_CLIENT, S3_SIGNING_CLIENT } from './storage.tokens.js';

/** Past it, the first probe goes on and the service starts anyway. */
const BOOT_WAIT_MS = 3000;
const REQUEST_WAIT_MS = 2000;
/** Requests start a probe at most this often; retries back off from it to the maximum. */
const MIN_GAP_MS = 1000;
const MAX_BACKOFF_MS = 60_000;

/** Probes once per process, again with backoff until known, or at once when a request needs it; logged at boot. */
@Injectable()
export class ProbedCapabilities extends BackendCapabilities implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Storage');
  private headers?: PresignedHeadersProbe;
  private writes?: ConditionalWrites;
  private running?: Promise<void>;
  private failures = 0;
  private lastEnded = 0;
  private nextAttempt = 0;
  private problem = 'not probed yet';
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    @Inject(S3_CLIENT) private readonly client: S3Client,
    private readonly config: AppConfig,
    @Inject(S3_SIGNING_CLIENT) private readonly signer: S3Client,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    await waitAtMost(this.probe(), BOOT_WAIT_MS);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  presignedHeadersEnforced(): boolean | undefined {
    return this.headers && headersEnforced(this.headers);
  }

  async requirePresignedHeadersEnforced(): Promise<boolean> {
    if (!this.headers) {
      await this.probeIfDue();
    }
    if (this.headers) {
      return headersEnforced(this.headers);
    }
    throw new StorageError(
      'Unavailable',
      'signed upload URLs are not available yet: the service has not learned whether its S3 backend refuses ' +
        `unsigned headers on presigned requests (${this.problem}); try again later, or ask with maxBytes (a POST form)`,
      { retryAfterSeconds: Math.max(1, Math.ceil((this.nextAttempt - Date.now()) / 1000)) },
    );
  }

  async conditionalWrites(): Promise<ConditionalWrites> {
    if (!this.writes) {
      await this.probeIfDue();
    }
    return this.withOverride(this.writes ?? NO_CONDITIONAL_WRITES);
  }

  details(): Record<string, unknown> {
    const writes = this.writes && this.withOverride(this.writes);
    return {
      presignedUnsignedHeaders: this.headers ? (headersEnforced(this.headers) ? 'refused' : 'accepted') : 'unknown',
      conditionalWrites: writes ? { ...writes, ifMatch: writes.ifMatch ?? 'none' } : 'unknown',
    };
  }

  /** createApp's `ifMatch` option overrides the detected form (`off`: none is sent). */
  private withOverride(writes: ConditionalWrites): ConditionalWrites {
    const override = this.config.s3.ifMatch;
    return override === undefined ? writes : { ...writes, ifMatch: override === 'off' ? undefined : override };
  }

  /** Waits (bounded) for the probe under way, or one started now unless one ended within `MIN_GAP_MS`. */
  private async probeIfDue(): Promise<void> {
    if (this.running || Date.now() - this.lastEnded >= MIN_GAP_MS) {
      await waitAtMost(this.probe(), REQUEST_WAIT_MS);
    }
  }

  private probe(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
      this.lastEnded = Date.now();
    });
    return this.running;
  }

  private async run(): Promise<void> {
    clearTimeout(this.timer);
    const target: ProbeTarget = {
      s3: new S3Gateway(this.client, this.config),
      signer: this.signer,
      // Under the reserved prefix, which the Files API refuses.
      keyPrefix: `${RESERVED_PREFIX}probe-${randomUUID()}/`,
      timeoutMs: this.config.s3.requestTimeoutMs,
    };
    const problems: string[] = [];
    const failed = (what: string) => (error: unknown) => {
      const reason = error instanceof ProbeInconclusive ? error.message : toStorageError(error).message;
      problems.push(`${what}: ${reason}`);
    };
    await Promise.all([
      this.headers ??
        probePresignedHeaders(target).then((headers) => {
          this.headers = headers;
          this.logger.log(describeHeaders(headers));
        }, failed('presigned requests')),
      this.writes ??
        probeConditionalWrites(target).then((writes) => {
          this.writes = writes;
          this.logWrites(writes);
        }, failed('conditional writes')),
    ]);
    await removeProbeObjects(target);
    if (problems.length === 0) {
      this.failures = 0;
      return;
    }
    this.failures++;
    const delay = Math.min(MAX_BACKOFF_MS, MIN_GAP_MS * 2 ** (this.failures - 1));
    this.nextAttempt = Date.now() + delay;
    this.problem = problems.join('; ');
    this.logger.warn(
      `S3 capabilities not known yet (${this.problem}): signed upload URLs without maxBytes answer 503 until they ` +
        `are; probing again in ${Math.round(delay / 1000)} s`,
    );
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.probe(), delay).unref();
    }
  }

  /** The boot log line: what is honoured, and where the service checks with a HEAD first (the race that remains). */
  private logWrites(probed: ConditionalWrites): void {
    const writes = this.withOverride(probed);
    const honoured = (yes: boolean) => (yes ? 'honoured' : 'ignored');
    const setBy = this.config.s3.ifMatch ? ' (set by the ifMatch option)' : '';
    const facts = [
      `PutObject If-None-Match ${honoured(writes.putIfNoneMatch)}`,
      `If-Match ${writes.ifMatch ? `honoured (${writes.ifMatch} ETag)` : 'not used'}${setBy}`,
      `CopyObject If-None-Match ${honoured(writes.copyIfNoneMatch)}`,
      `CompleteMultipartUpload If-None-Match ${honoured(writes.completeIfNoneMatch)}`,
    ];
    const races: string[] = [];
    if (!writes.putIfNoneMatch) {
      races.push(
        'overwrite=false and If-None-Match: * are checked with a HEAD before the write, so a write by another ' +
          'client between the check and the write is replaced, and PUT can answer 201 for it',
      );
    } else {
      if (!writes.copyIfNoneMatch) {
        races.push('a copy with overwrite=false first claims its new key with an empty conditional PutObject');
      }
      if (!writes.completeIfNoneMatch) {
        races.push(
          'an upload of more than one part with overwrite=false is checked with a HEAD first, so a write between ' +
            'the check and its end is replaced',
        );
      }
    }
    if (!writes.ifMatch) {
      races.push('If-Match and If-Unmodified-Since are checked with a HEAD, so a change right after the check is lost');
    }
    const where = races.length ? `. Where ignored: ${races.join('; ')}` : '';
    this.logger[races.length ? 'warn' : 'log'](`S3 conditional writes: ${facts.join(', ')}${where}`);
  }
}

const waitAtMost = (promise: Promise<void>, ms: number) =>
  Promise.race([promise, sleep(ms, undefined, { ref: false })]);

function describeHeaders(headers: PresignedHeadersProbe): string {
  const outcomes = `x-amz-copy-source ${headers.copySource}, x-amz-acl ${headers.acl}`;
  return headersEnforced(headers)
    ? `S3 presigned requests: unsigned headers cannot change them (${outcomes}); signed uploads are presigned PUTs`
    : `S3 presigned requests: this backend applies unsigned headers (${outcomes}); signed uploads are POST forms ` +
        '(policy), never presigned PUTs';
}
