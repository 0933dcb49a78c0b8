/** Parsing of the request headers that shape a download: Range, If-None-Match, If-Modified-Since. */

/** A Range that no representation satisfies: a suffix of 0 bytes (RFC 9110 14.1.3), answered 416 by the service. */
export const UNSATISFIABLE_RANGE = Symbol('unsatisfiable range');

/**
 * Returns the one byte range to ask S3 for, or undefined to serve the whole object (RFC 9110: a Range that is
 * not understood, or asks for several ranges, may be ignored). Unsatisfiable ranges are left to S3 (416), except
 * `bytes=-0`, which not every S3 refuses (Ceph RGW serves the whole object).
 */
export function parseRange(header: string | undefined): string | typeof UNSATISFIABLE_RANGE | undefined {
  if (!header) {
    return undefined;
  }
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) {
    return undefined;
  }
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') {
    return undefined;
  }
  if (first === '' && /^0+$/.test(last)) {
    return UNSATISFIABLE_RANGE;
  }
  if (first !== '' && last !== '' && BigInt(last) < BigInt(first)) {
    return undefined;
  }
  if (first.length > 16 || last.length > 16) {
    return undefined;
  }
  return `bytes=${first === '' ? '' : BigInt(first).toString()}-${last === '' ? '' : BigInt(last).toString()}`;
}

/** A list of entity tags or `*`; invalid input is ignored (the condition is then absent). */
export function parseIfNoneMatch(header: string | undefined): string | undefined {
  if (!header) {
    return undefined;
  }
  // RFC 9110 5.6.1: empty list elements are ignored.
  const tags = header
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (tags.length === 1 && tags[0] === '*') {
    return '*';
  }
  const valid = tags.every((t) => /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/.test(t));
  return valid && tags.length > 0 && tags.length <= 32 ? tags.join(', ') : undefined;
}

/** The opaque part of an entity tag: RFC 9110's weak comparison ignores `W/`. */
export const opaqueTag = (tag: string): string => tag.replace(/^W\//, '');

/** Whether parsed If-None-Match tags name this entity tag (`*` names any), by weak comparison as RFC 9110 says. */
export function noneMatchHits(tags: readonly string[], etag: string): boolean {
  return tags.some((tag) => tag === '*' || opaqueTag(tag) === opaqueTag(etag));
}

/** An HTTP date; invalid dates are ignored, as RFC 9110 says. */
export function parseHttpDate(header: string | undefined): Date | undefined {
  if (!header || header.length > 64) {
    return undefined;
  }
  const time = Date.parse(header);
  return Number.isNaN(time) ? undefined : new Date(time);
}
