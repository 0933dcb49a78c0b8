import { hash, timingSafeEqual } from 'node:crypto';
import type { AccessLevel } from './access.decorators.js';

// One-shot: no Hash object per request.
const digest = (key: string): Buffer => hash('sha256', key, 'buffer');

/** Bearer keys, each compared in constant time (equal-length digests, no early exit): timing says nothing. */
export class ApiKeyRing {
  private readonly keys: readonly { readonly digest: Buffer; readonly level: AccessLevel }[];

  constructor(readWrite: readonly string[], readOnly: readonly string[]) {
    this.keys = [
      ...readWrite.map((key) => ({ digest: digest(key), level: 'read-write' as const })),
      ...readOnly.map((key) => ({ digest: digest(key), level: 'read-only' as const })),
    ];
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The level of `presented`, or undefined for an unknown key; a key in both lists is read-write. */
  levelOf(presented: string): AccessLevel | undefined {
    const candidate = digest(presented);
    let level: AccessLevel | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(key.digest, candidate) && level !== 'read-write') {
        level = key.level;
      }
    }
    return level;
  }
}
