import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3 } from '@aws-sdk/client-s3';
import { Logger } from '@nestjs/common';
import type { Lock, Locker, RequestRelease } from '@tus/server';
import { ifMatchValue, type IfMatchForm } from '../storage/backend-capabilities.js';
import { conditionRefused, s3Status } from '../storage/storage.errors.js';
import { TusError } from './tus-error.js';

export interface LockStore {
  readonly client: S3;
  readonly bucket: string;
  lockKey(id: string): string;
  forget(id: string): Promise<void>;
  ifMatch(): Promise<IfMatchForm | undefined>;
}

const logger = new Logger('Uploads');

/**
 * Locks tus uploads across every instance on the bucket: a lock is an object under the reserved prefix, created with
 * `If-None-Match: *`, rewritten by its holder every `renewMs` with `If-Match` on its ETag, deleted when the request
 * ends. One whose ETag stays for `staleMs` (on the observer's own clock) belonged to a dead process: taken over with
 * `If-Match` on that ETag. Needs both conditions on PutObject (AWS, Ceph RGW, the development S3). A waiter never
 * cancels the holder: after `waitMs` it gets 423.
 */
export class S3Locker implements Locker {
  /** The ETag this process last saw on each held lock, and since when (its own clock, so skew does not matter). */
  readonly sightings = new Map<string, { etag: string; since: number }>();

  constructor(
    readonly store: LockStore,
    // tus-js-client retries a 423 after 0, 1, 3 and 5 s (each HEAD taking the lock too): with a 3 s wait, about 24 s
    // in all, so a dead holder's lock (stale after 8 s) is taken over in time; a live one is renewed 4 times in 8 s.
    readonly timing = { staleMs: 8000, renewMs: 2000, waitMs: 3000, pollMs: 250 },
  ) {}

  newLock(id: string): Lock {
    return new S3Lock(this, id);
  }

  /** Records a sighting of a held lock; true when it has carried this ETag for `staleMs` or more. */
  isStale(key: string, etag: string): boolean {
    const now = Date.now();
    const seen = this.sightings.get(key);
    if (seen?.etag === etag) {
      return now - seen.since >= this.timing.staleMs;
    }
    this.sightings.set(key, { etag, since: now });
    // Old sightings of locks long since released: the map stays as small as the locks contended at once.
    for (const [other, { since }] of this.sightings) {
      if (now - since > 10 * this.timing.staleMs) {
        this.sightings.delete(other);
      }
    }
    return false;
  }
}

class S3Lock implements Lock {
  private readonly key: string;
  /** Who holds it, and a count of writes, in the body: every write of the lock gets a new ETag. */
  private readonly holder = randomBytes(9).toString('base64url');
  private writes = 0;
  private etag?: string;
  /** When the last successful write of the lock was sent. */
  private writtenAt = 0;
  private renewer?: NodeJS.Timeout;
  private renewing?: Promise<void>;
  private lost = false;

  constructor(
    private readonly locker: S3Locker,
    private readonly id: string,
  ) {
    this.key = locker.store.lockKey(id);
  }

  async lock(signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const { waitMs, pollMs } = this.locker.timing;
    const deadline = Date.now() + waitMs;
    while (!(await this.take())) {
      if (signal.aborted || Date.now() + pollMs > deadline) {
        throw new TusError(423, 'the upload is busy with another request; retry shortly');
      }
      // An abort ends the wait early, for one last try.
      await sleep(pollMs, undefined, { signal }).catch(() => undefined);
    }
    this.locker.sightings.delete(this.key);
    // The request keeps the process alive while it runs; the timer must not outlive it.
    this.renewer = setInterval(() => this.renew(requestRelease), this.locker.timing.renewMs).unref();
    // What this process cached about the upload may be stale: the last request may have gone to another instance.
    await this.locker.store.forget(this.id);
  }

  async unlock(): Promise<void> {
    clearInterval(this.renewer);
    await this.renewing;
    // Delete only a lock still ours: a holder that could not renew for `staleMs` may have been taken over.
    if (this.lost || Date.now() - this.writtenAt >= this.locker.timing.staleMs) {
      return;
    }
    const { client, bucket } = this.locker.store;
    try {
      await client.deleteObject({ Bucket: bucket, Key: this.key });
    } catch (error) {
      // The request's work is done and answered by then; the lock turns stale and is taken over.
      logger.warn(
        `releasing an upload lock failed (it expires in ${this.locker.timing.staleMs} ms): ${String(s3Status(error) ?? 'no answer')}`,
      );
    }
  }

  /** One attempt: create the lock, or take over a stale one. */
  private async take(): Promise<boolean> {
    if (await this.write({ IfNoneMatch: '*' })) {
      return true;
    }
    const { client, bucket } = this.locker.store;
    let etag: string | undefined;
    try {
      etag = (await client.headObject({ Bucket: bucket, Key: this.key })).ETag;
    } catch (error) {
      if (s3Status(error) !== 404) {
        throw error;
      }
      // Released meanwhile: try again at once.
      return this.write({ IfNoneMatch: '*' });
    }
    if (etag === undefined || !this.locker.isStale(this.key, etag)) {
      return false;
    }
    const taken = await this.replace(etag);
    if (taken) {
      logger.warn(
        `took over the lock of an upload whose holder stopped renewing it ${this.locker.timing.staleMs} ms ago`,
      );
    }
    return taken;
  }

  /** Rewrites the lock if it still carries `etag`. */
  private async replace(etag: string): Promise<boolean> {
    const form = await this.locker.store.ifMatch();
    return this.write({ IfMatch: ifMatchValue(etag, form ?? 'quoted') });
  }

  /** A conditional write of the lock; false when another request won. */
  private async write(condition: { IfNoneMatch: '*' } | { IfMatch: string }): Promise<boolean> {
    const { client, bucket } = this.locker.store;
    const sent = Date.now();
    try {
      const written = await client.putObject({
        Bucket: bucket,
        Key: this.key,
        Body: JSON.stringify({ holder: this.holder, write: ++this.writes, at: new Date(sent).toISOString() }),
        ContentType: 'application/json',
        ...condition,
      });
      this.etag = written.ETag;
      this.writtenAt = sent;
      return true;
    } catch (error) {
      // Refused, or (404) `If-Match` on a lock deleted meanwhile.
      if (conditionRefused(error) || s3Status(error) === 404) {
        return false;
      }
      throw error;
    }
  }

  private renew(requestRelease: RequestRelease): void {
    if (this.renewing !== undefined || this.etag === undefined) {
      return;
    }
    this.renewing = this.replace(this.etag)
      .catch(() => Date.now() - this.writtenAt < this.locker.timing.staleMs - this.locker.timing.renewMs)
      .then((held) => {
        if (!held) {
          // Taken over, or about to be: stop this request's writing rather than race the new holder.
          this.lost = true;
          clearInterval(this.renewer);
          logger.warn('lost the lock of an upload while writing to it: the request is cut');
          void requestRelease();
        }
      })
      .finally(() => {
        this.renewing = undefined;
      });
  }
}
