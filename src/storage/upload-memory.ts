/**
 * The process-wide budget of upload bytes held in memory (UPLOAD_MEMORY_BYTES): bytes read from clients and not yet
 * accepted by S3. An upload reserves room one part at a time before it reads more; when the budget is spent it
 * waits, so it stops reading its body and TCP slows its client down (backpressure) instead of memory growing.
 * Waiters are served in order, so a steady stream of small uploads cannot starve a large one.
 */
export class UploadMemory {
  private available: number;
  private readonly waiting: { bytes: number; grant: (granted: boolean) => void; cancelled: () => boolean }[] = [];

  constructor(readonly limit: number) {
    this.available = limit;
  }

  /** Bytes currently reserved by uploads. */
  get inUse(): number {
    return this.limit - this.available;
  }

  /** A lease for one upload with parts of `partSize` bytes and, when known, at most `size` bytes in all. */
  lease(partSize: number, size?: number): UploadLease {
    return new UploadLease(this, Math.min(partSize, this.limit), size);
  }

  /**
   * Resolves with true once `bytes` (at most the whole budget) are reserved, or with false, reserving nothing, when
   * `cancelled` says the upload ended while it waited.
   */
  acquire(bytes: number, cancelled: () => boolean = () => false): Promise<boolean> {
    if (this.waiting.length === 0 && bytes <= this.available) {
      this.available -= bytes;
      return Promise.resolve(true);
    }
    return new Promise((grant) => this.waiting.push({ bytes, grant, cancelled }));
  }

  release(bytes: number): void {
    this.available += bytes;
    while (this.waiting.length > 0 && (this.waiting[0].cancelled() || this.waiting[0].bytes <= this.available)) {
      const next = this.waiting.shift()!;
      const granted = !next.cancelled();
      if (granted) {
        this.available -= next.bytes;
      }
      next.grant(granted);
    }
  }
}

/**
 * One upload's share of the budget. `admit` is called before each chunk goes on to the part buffers; `uploaded`
 * with the bytes S3 has accepted so far; `close` when the upload ends in any way, returning all it holds.
 */
export class UploadLease {
  private reserved = 0;
  private released = 0;
  private admitted = 0;
  private closed = false;

  constructor(
    private readonly memory: UploadMemory,
    private readonly unit: number,
    private readonly size?: number,
  ) {}

  /**
   * Waits until the upload may take `bytes` more. A chunk that starts within the reservation passes even if it
   * runs past it: lib-storage cuts a part only once it holds more than a part, so without that overdraft every
   * upload could sit on a full part, waiting for room that only a finished part frees.
   */
  async admit(bytes: number): Promise<void> {
    while (!this.closed && (this.reserved === 0 || this.admitted > this.reserved)) {
      const left = this.size === undefined ? 0 : this.size - this.reserved;
      const want = left > 0 ? Math.min(this.unit, left) : this.unit;
      if (!(await this.memory.acquire(want, () => this.closed))) {
        return;
      }
      if (this.closed) {
        // Closed between the grant and now.
        this.memory.release(want);
        return;
      }
      this.reserved += want;
    }
    this.admitted += bytes;
  }

  /** S3 has accepted `total` bytes of this upload: that much of the reservation goes back to the budget. */
  uploaded(total: number): void {
    const upTo = Math.min(total, this.reserved);
    if (!this.closed && upTo > this.released) {
      this.memory.release(upTo - this.released);
      this.released = upTo;
    }
  }

  /** Returns what the upload holds; a reservation it still waits for is dropped. */
  close(): void {
    if (!this.closed) {
      this.closed = true;
      this.memory.release(this.reserved - this.released);
      this.released = this.reserved;
    }
  }
}
