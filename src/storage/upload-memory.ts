import { StorageError } from './storage.errors.js';

/** Part buffers at least this large are kept for reuse (not those of small bodies of known size). */
const POOLED_BYTES = 1024 * 1024;
/** Free buffers are dropped after this long without a pooled release (back-to-back parts and uploads reuse them). */
const IDLE_TRIM_MS = 2_000;

interface Waiter {
  readonly bytes: number;
  readonly resolve: (buffer: Buffer | undefined) => void;
  readonly cancelled: () => boolean;
  timer?: NodeJS.Timeout;
}

/**
 * The process-wide budget of upload bytes in memory (UPLOAD_MEMORY_BYTES): part buffers held until S3 has the part.
 * When it is spent an upload waits (TCP backpressure), in order (small ones cannot starve a large one), refused (503)
 * after `maxWaitMs`. Reuse keeps memory flat: a fresh buffer lives outside the heap until a full GC (tens of MiB).
 */
export class UploadMemory {
  private used = 0;
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;
  private readonly waiting: Waiter[] = [];
  private trim?: NodeJS.Timeout;

  constructor(
    readonly limit: number,
    readonly maxWaitMs = Infinity,
  ) {}

  get inUse(): number {
    return this.used;
  }

  /**
   * A buffer of `bytes` once the budget has room (one larger than the budget when nothing else is held), or undefined
   * once `cancelled` says the upload ended while it waited.
   * @throws StorageError Unavailable when no room was made within `maxWaitMs`
   */
  acquire(bytes: number, cancelled: () => boolean = () => false): Promise<Buffer | undefined> {
    if (this.waiting.length === 0 && this.fits(bytes)) {
      return Promise.resolve(this.take(bytes));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { bytes, cancelled, resolve };
      if (Number.isFinite(this.maxWaitMs)) {
        waiter.timer = setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          if (cancelled()) {
            resolve(undefined);
          } else {
            const seconds = Math.round(this.maxWaitMs / 100) / 10;
            reject(new StorageError('Unavailable', `no upload memory became free within ${seconds} s, try again`));
          }
          // The first in line may have been the one too large to fit: the next ones may fit now.
          this.serve();
        }, this.maxWaitMs);
      }
      this.waiting.push(waiter);
    });
  }

  /** Gives back a buffer from `acquire`; the caller must not touch it afterwards. */
  release(buffer: Buffer): void {
    this.used -= this.charge(buffer.length);
    const pooled = buffer.length >= POOLED_BYTES && this.used + this.freeBytes + buffer.length <= this.limit;
    if (pooled) {
      this.free.set(buffer.length, [...(this.free.get(buffer.length) ?? []), buffer]);
      this.freeBytes += buffer.length;
    }
    this.serve();
    // Only large uploads keep the pool: a stream of small ones must not hold its tens of MiB for good.
    if (pooled && this.freeBytes > 0 && this.waiting.length === 0) {
      clearTimeout(this.trim);
      this.trim = setTimeout(() => {
        for (const buffers of this.free.values()) {
          buffers.forEach(freeNow);
        }
        this.free.clear();
        this.freeBytes = 0;
      }, IDLE_TRIM_MS).unref();
    }
  }

  private serve(): void {
    while (this.waiting.length > 0 && (this.waiting[0].cancelled() || this.fits(this.waiting[0].bytes))) {
      const next = this.waiting.shift()!;
      clearTimeout(next.timer);
      next.resolve(next.cancelled() ? undefined : this.take(next.bytes));
    }
  }

  private charge(bytes: number): number {
    return Math.min(bytes, this.limit);
  }

  private fits(bytes: number): boolean {
    return this.used + this.charge(bytes) <= this.limit;
  }

  private take(bytes: number): Buffer {
    this.used += this.charge(bytes);
    const pooled = this.free.get(bytes)?.pop();
    if (pooled) {
      this.freeBytes -= bytes;
      return pooled;
    }
    // Free buffers of other sizes make room for this one.
    for (const [size, buffers] of this.free) {
      while (buffers.length > 0 && this.used + this.freeBytes > this.limit) {
        freeNow(buffers.pop()!);
        this.freeBytes -= size;
      }
    }
    return Buffer.allocUnsafe(bytes);
  }
}

/**
 * Gives a pooled buffer's memory back to the system at once, not at the next full collection (under small requests
 * that can be many seconds away). Only for buffers of the pool: nothing else holds them.
 */
function freeNow(buffer: Buffer): void {
  // A pooled buffer (1 MiB or more) owns its ArrayBuffer; one sharing Node's slab must never be detached.
  if (buffer.byteOffset === 0 && buffer.buffer.byteLength === buffer.length) {
    (buffer.buffer as ArrayBuffer).transfer(0);
  }
}
