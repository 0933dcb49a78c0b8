/**
 * Keys under `S3_PREFIX` that hold the service's own bookkeeping, never user files: tus uploads in progress keep
 * their `.info` and `.part` objects here. The Files API refuses these keys and its listing leaves them out.
 */
export const RESERVED_PREFIX = '.tus/';

/** Whether a key (relative to `S3_PREFIX`) is the service's own. */
export function isReservedKey(key: string): boolean {
  return key.startsWith(RESERVED_PREFIX) || key === RESERVED_PREFIX.slice(0, -1);
}
