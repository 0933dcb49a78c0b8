import { BadRequestException, HttpStatus } from '@nestjs/common';
import type { Request, Response } from 'express';
import { StorageError } from '../storage/storage.errors.js';
import type { ObjectStream, Precondition, ReadConditions } from '../storage/storage.service.js';

/** A Range no object satisfies (`bytes=-0`, a start past 5 TiB): answered 416 here, as Ceph RGW serves `bytes=-0`. */
export const UNSATISFIABLE_RANGE = Symbol('unsatisfiable range');

/** The one range to ask S3 for, or undefined for all (a Range not understood, or of several, may be ignored). */
export function parseRange(header: string | undefined): string | typeof UNSATISFIABLE_RANGE | undefined {
  const match = header ? /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header) : null;
  if (!match) {
    return undefined;
  }
  const [first, last] = [match[1], match[2]].map((p) => (p === '' ? undefined : BigInt(p)));
  if (first === undefined) {
    if (last === undefined) {
      return undefined;
    }
    if (last === 0n) {
      return UNSATISFIABLE_RANGE;
    }
    // A suffix longer than the object is the whole object (RFC 9110 14.1.2).
    return huge(last) ? 'bytes=0-' : `bytes=-${last}`;
  }
  if (last !== undefined && last < first) {
    return undefined;
  }
  if (huge(first)) {
    return UNSATISFIABLE_RANGE;
  }
  // A last position past the end means "to the end" (RFC 9110 14.1.2).
  return `bytes=${first}-${last === undefined || huge(last) ? '' : last}`;
}

/** Positions beyond 16 digits are past the largest S3 object (5 TiB): never sent to S3 as such. */
const huge = (n: bigint): boolean => n.toString().length > 16;

const ENTITY_TAG = /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/;

/** `*` or a list of entity tags; undefined when absent or invalid (empty list elements are ignored, RFC 9110 5.6.1). */
export function parseTagList(header: string | undefined): readonly string[] | undefined {
  if (!header) {
    return undefined;
  }
  const tags = header
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (tags.length === 1 && tags[0] === '*') {
    return tags;
  }
  return tags.length > 0 && tags.length <= 32 && tags.every((t) => ENTITY_TAG.test(t)) ? tags : undefined;
}

/** The opaque part of an entity tag: RFC 9110's weak comparison ignores `W/`. */
const opaqueTag = (tag: string): string => tag.replace(/^W\//, '');

export function noneMatchHits(tags: readonly string[], etag: string): boolean {
  return tags.some((tag) => tag === '*' || opaqueTag(tag) === opaqueTag(etag));
}

/** An HTTP date; invalid dates are ignored, as RFC 9110 says. */
export function parseHttpDate(header: string | undefined): Date | undefined {
  const time = header && header.length <= 64 ? Date.parse(header) : NaN;
  // An HTTP-date has a four-digit year; a later one is not a date S3 can be asked about (RGW answers a bare 400).
  return Number.isNaN(time) || time > LAST_HTTP_DATE ? undefined : new Date(time);
}

const LAST_HTTP_DATE = Date.UTC(9999, 11, 31, 23, 59, 59);

/** RFC 9110 8.8.3.2: strong comparison; a weak tag never matches. */
const strongMatch = (tag: string, etag: string): boolean => !tag.startsWith('W/') && tag === etag;

/** HTTP dates have whole seconds; S3's Last-Modified too, but compare seconds in case a Date carries milliseconds. */
const seconds = (date: Date): number => Math.floor(date.getTime() / 1000);

/** If-Range (RFC 9110 13.1.5): the object's strong entity tag or its Last-Modified; anything else sends it all. */
export function ifRangeHolds(header: string, current: Pick<ObjectStream, 'etag' | 'lastModified'>): boolean {
  const value = header.trim();
  if (value.startsWith('"') || value.startsWith('W/')) {
    return ENTITY_TAG.test(value) && strongMatch(value, current.etag);
  }
  const date = parseHttpDate(value);
  return date !== undefined && seconds(date) === seconds(current.lastModified);
}

function discard(object: Omit<ObjectStream, 'body'>): void {
  (object as Partial<ObjectStream>).body?.destroy();
}

/** Opens the object with the request's conditions; answers 304 itself (with the matched ETag) and returns undefined. */
export async function conditionalRead<T extends Omit<ObjectStream, 'body'>>(
  req: Request,
  res: Response,
  open: (conditions: ReadConditions) => Promise<T>,
): Promise<T | undefined> {
  // An invalid If-None-Match is ignored. S3 compares one entity tag, strongly; RFC 9110 compares every listed tag,
  // weakly. One tag goes to S3 without its W/; a list, or `*` (which Ceph RGW ignores on GET), is compared here.
  const tags = parseTagList(req.headers['if-none-match']);
  const oneTag = tags?.length === 1 && tags[0] !== '*' ? opaqueTag(tags[0]) : undefined;
  const range = parseRange(req.headers.range);
  const conditions: ReadConditions = {
    // For a range no object satisfies, one byte is enough to check the object and the conditions and learn its size.
    range: range === UNSATISFIABLE_RANGE ? 'bytes=0-0' : range,
    ifNoneMatch: oneTag,
    // RFC 9110 13.1.3: If-Modified-Since is ignored when If-None-Match is present.
    ifModifiedSince: tags ? undefined : parseHttpDate(req.headers['if-modified-since']),
  };
  // Several If-Range values are no validator (String joins them), so they get the whole object.
  const ifRange =
    range === undefined || req.headers['if-range'] === undefined ? undefined : String(req.headers['if-range']);
  try {
    const object = await open(conditions);
    if (tags && !oneTag && noneMatchHits(tags, object.etag)) {
      discard(object);
      throw new StorageError('NotModified', 'not modified', { etag: object.etag });
    }
    // RFC 9110 13.2.2 step 5: a Range whose If-Range fails is ignored; the range answer's own ETag decides.
    if (ifRange !== undefined && !ifRangeHolds(ifRange, object)) {
      discard(object);
      return await open({});
    }
    if (range === UNSATISFIABLE_RANGE) {
      discard(object);
      throw new StorageError('RangeNotSatisfiable', 'the requested range is not satisfiable', {
        objectSize: object.size,
      });
    }
    return object;
  } catch (error) {
    if (error instanceof StorageError && error.code === 'NotModified') {
      if (error.etag) {
        res.setHeader('ETag', error.etag);
      }
      res.status(HttpStatus.NOT_MODIFIED).end();
      return undefined;
    }
    if (error instanceof StorageError && error.code === 'RangeNotSatisfiable' && ifRange !== undefined) {
      // The whole object, unless the validator holds: then the range really is unsatisfiable.
      const whole = await open({});
      if (!ifRangeHolds(ifRange, whole)) {
        return whole;
      }
      discard(whole);
    }
    throw error;
  }
}

/** Whether a write or delete may go ahead on the current object (undefined: none), as RFC 9110 13.2.2 says. */
export function writePrecondition(req: Request): Precondition | undefined {
  const ifMatch = parseTagList(req.headers['if-match']);
  if (ifMatch) {
    return (current) => current !== undefined && ifMatch.some((tag) => tag === '*' || strongMatch(tag, current.etag));
  }
  // Unlike If-None-Match, an invalid If-Match is refused rather than ignored: it guards writes.
  if (req.headers['if-match'] !== undefined) {
    throw new BadRequestException('If-Match must be "*" or a list of quoted entity tags (ETags)');
  }
  const ifUnmodifiedSince = parseHttpDate(req.headers['if-unmodified-since']);
  return ifUnmodifiedSince && ((current) => !current || seconds(current.lastModified) <= seconds(ifUnmodifiedSince));
}
