/** The service's own keys (tus's `.info` and `.part` objects): the Files API refuses them, its listing omits them. */
export const RESERVED_PREFIX = '.tus/';

export function isReservedKey(key: string): boolean {
  return key.startsWith(RESERVED_PREFIX) || key === RESERVED_PREFIX.slice(0, -1);
}
