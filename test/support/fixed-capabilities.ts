import { BackendCapabilities, type ConditionalWrites } from '../../src/storage/backend-capabilities.js';

/** Capabilities given rather than probed (unit tests, and tests that drive `StorageService` on its own). */
export class FixedCapabilities extends BackendCapabilities {
  constructor(
    private readonly writes: ConditionalWrites,
    private readonly enforced = true,
  ) {
    super();
  }

  presignedHeadersEnforced(): boolean | undefined {
    return this.enforced;
  }

  requirePresignedHeadersEnforced(): Promise<boolean> {
    return Promise.resolve(this.enforced);
  }

  conditionalWrites(): Promise<ConditionalWrites> {
    return Promise.resolve(this.writes);
  }

  details(): Record<string, unknown> {
    return { presignedUnsignedHeaders: this.enforced ? 'refused' : 'accepted', conditionalWrites: this.writes };
  }
}
