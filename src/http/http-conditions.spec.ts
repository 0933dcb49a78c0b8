import { BadRequestException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { StorageError } from '../storage/storage.errors.js';
import type { ReadConditions } from '../storage/storage.service.js';
import {
  conditionalRead,
  ifRangeHolds,
  noneMatchHits,
  parseHttpDate,
  parseRange,
  parseTagList,
  UNSATISFIABLE_RANGE,
  writePrecondition,
} from './http-conditions.js';

describe(parseRange.name, () => {
  it.each([
    ['bytes=0-99', 'bytes=0-99'],
    ['bytes=100-', 'bytes=100-'],
    ['bytes=-500', 'bytes=-500'],
    [' bytes = 007 - 9 ', 'bytes=7-9'],
    ['BYTES=1-2', 'bytes=1-2'],
    [`bytes=${'0'.repeat(30)}1-2`, 'bytes=1-2'],
    [`bytes=5-${'9'.repeat(30)}`, 'bytes=5-'],
    [`bytes=-${'9'.repeat(30)}`, 'bytes=0-'],
  ])('should pass %s on as %s', (header, range) => {
    expect(parseRange(header)).toBe(range);
  });

  it.each(['bytes=-0', 'bytes=-000', ' BYTES = - 0 ', `bytes=${'9'.repeat(17)}-`, `bytes=${'9'.repeat(30)}-`])(
    'should mark %s unsatisfiable (RFC 9110 14.1.3)',
    (header) => {
      expect(parseRange(header)).toBe(UNSATISFIABLE_RANGE);
    },
  );

  it.each([
    undefined,
    '',
    'bytes=',
    'bytes=-',
    'bytes=5-1',
    'bytes=0-1,5-6',
    'items=0-1',
    'bytes=a-b',
    `bytes=${'9'.repeat(30)}-5`,
  ])('should ignore %s (whole object)', (header) => {
    expect(parseRange(header)).toBeUndefined();
  });
});

describe(parseTagList.name, () => {
  it.each([
    ['*', ['*']],
    ['"abc"', ['"abc"']],
    ['W/"abc"', ['W/"abc"']],
    ['"a", "b"', ['"a"', '"b"']],
    ['"a", ', ['"a"']],
    [' , "a",, "b"', ['"a"', '"b"']],
    ['*, ', ['*']],
  ])('should keep %s', (header, value) => {
    expect(parseTagList(header)).toEqual(value);
  });

  it.each([undefined, 'abc', '"a', '"a"b"', '"a"\r\nX: y', ', '])('should ignore %s', (header) => {
    expect(parseTagList(header)).toBeUndefined();
  });
});

describe(parseHttpDate.name, () => {
  it('should parse an HTTP date and ignore garbage', () => {
    expect(parseHttpDate('Wed, 21 Oct 2015 07:28:00 GMT')?.toISOString()).toBe('2015-10-21T07:28:00.000Z');
    expect(parseHttpDate('yesterday')).toBeUndefined();
    expect(parseHttpDate('Sat, 01 Jan 10000 00:00:00 GMT')).toBeUndefined();
    expect(parseHttpDate('Fri, 31 Dec 9999 23:59:59 GMT')?.toISOString()).toBe('9999-12-31T23:59:59.000Z');
    expect(parseHttpDate(undefined)).toBeUndefined();
    expect(parseHttpDate('x'.repeat(100))).toBeUndefined();
  });
});

describe(noneMatchHits.name, () => {
  it.each<[string[], boolean]>([
    [['"abc"'], true],
    [['W/"abc"'], true],
    [['"x"', 'W/"abc"'], true],
    [['*'], true],
    [['"x"', '"y"'], false],
    [['"ab"'], false],
  ])('should compare %j weakly with "abc": %s', (tags, hit) => {
    expect(noneMatchHits(tags, '"abc"')).toBe(hit);
  });
});

describe(`${parseTagList.name} (If-Match)`, () => {
  it.each([
    ['*', ['*']],
    [' * ', ['*']],
    ['"a"', ['"a"']],
    ['"a", W/"b",, "c"', ['"a"', 'W/"b"', '"c"']],
  ])('should read %j as %j', (header, tags) => {
    expect(parseTagList(header)).toEqual(tags);
  });

  it.each(['', ',', 'abc', '"a", *', '*, *', '"a', 'W/a', '"a" "b"', Array(33).fill('"a"').join(',')])(
    'should refuse %j',
    (header) => {
      expect(parseTagList(header)).toBeUndefined();
      const req = { headers: { 'if-match': header } } as unknown as Request;
      expect(() => writePrecondition(req)).toThrow(BadRequestException);
    },
  );

  it('should leave an absent header absent', () => {
    expect(parseTagList(undefined)).toBeUndefined();
  });
});

describe(`${writePrecondition.name} (RFC 9110 13.2.2)`, () => {
  const current = { etag: '"abc"', lastModified: new Date('2026-01-02T03:04:05Z') };
  const sameSecond = { etag: '"abc"', lastModified: new Date('2026-01-02T03:04:05.999Z') };
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as Request;

  it.each([
    [{}, current, true],
    [{}, undefined, true],
    [{ 'if-match': '*' }, current, true],
    [{ 'if-match': '*' }, undefined, false],
    [{ 'if-match': '"abc"' }, current, true],
    [{ 'if-match': '"x", "abc"' }, current, true],
    [{ 'if-match': '"abc"' }, undefined, false],
    [{ 'if-match': '"x"' }, current, false],
    [{ 'if-match': 'W/"abc"' }, current, false],
    [{ 'if-unmodified-since': 'Fri, 02 Jan 2026 03:04:05 GMT' }, current, true],
    [{ 'if-unmodified-since': 'Fri, 02 Jan 2026 03:04:05 GMT' }, sameSecond, true],
    [{ 'if-unmodified-since': 'Fri, 02 Jan 2026 03:04:04 GMT' }, current, false],
    [{ 'if-unmodified-since': 'Wed, 01 Jan 2020 00:00:00 GMT' }, undefined, true],
    // RFC 9110 13.1.4: If-Unmodified-Since is ignored when If-Match is present.
    [{ 'if-match': '"abc"', 'if-unmodified-since': 'Wed, 01 Jan 2020 00:00:00 GMT' }, current, true],
  ])('should evaluate %j on %j as %s', (headers, object, holds) => {
    expect(writePrecondition(req(headers))?.(object) ?? true).toBe(holds);
  });
});

describe(ifRangeHolds.name, () => {
  const current = { etag: '"abc"', lastModified: new Date('2026-01-02T03:04:05Z') };

  it.each([
    ['"abc"', true],
    [' "abc" ', true],
    ['"abd"', false],
    ['W/"abc"', false],
    ['abc', false],
    ['"abc", "x"', false],
    ['Fri, 02 Jan 2026 03:04:05 GMT', true],
    ['Fri, 02 Jan 2026 03:04:06 GMT', false],
    ['Fri, 02 Jan 2026 03:04:04 GMT', false],
    ['yesterday', false],
    ['', false],
  ])('should evaluate If-Range: %j as %s', (header, holds) => {
    expect(ifRangeHolds(header, current)).toBe(holds);
  });
});

describe(conditionalRead.name, () => {
  const object = {
    key: 'k',
    etag: '"a"',
    lastModified: new Date('2026-01-01T00:00:00Z'),
    size: 10,
    contentLength: 10,
    contentType: 'text/plain',
    metadata: {},
  };
  const answer = () => {
    const res = { headers: {} as Record<string, string>, code: 0 };
    const fake = {
      setHeader: (name: string, value: string) => (res.headers[name] = value),
      status: (code: number) => ((res.code = code), { end: () => undefined }),
    };
    return { res, fake: fake as unknown as Response };
  };
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as Request;

  it('should send one tag to S3 without W/ and compare a list itself, answering 304', async () => {
    const seen: ReadConditions[] = [];
    const open = (c: ReadConditions) => (seen.push(c), Promise.resolve(object));
    const { res, fake } = answer();
    await expect(conditionalRead(req({ 'if-none-match': 'W/"a"' }), fake, open)).resolves.toBe(object);
    expect(seen[0]).toEqual({ range: undefined, ifNoneMatch: '"a"', ifModifiedSince: undefined });
    await expect(conditionalRead(req({ 'if-none-match': '"b", "a"' }), fake, open)).resolves.toBeUndefined();
    expect(res).toEqual({ headers: { ETag: '"a"' }, code: 304 });
  });

  it('should answer 304 with the ETag S3 matched', async () => {
    const { res, fake } = answer();
    const open = () => Promise.reject(new StorageError('NotModified', 'not modified', { etag: '"a"' }));
    await expect(conditionalRead(req({ 'if-none-match': '"a"' }), fake, open)).resolves.toBeUndefined();
    expect(res).toEqual({ headers: { ETag: '"a"' }, code: 304 });
  });

  it('should read it all when If-Range fails, and refuse a range no object satisfies', async () => {
    const seen: ReadConditions[] = [];
    const open = (c: ReadConditions) => (seen.push(c), Promise.resolve(object));
    const { fake } = answer();
    await conditionalRead(req({ range: 'bytes=0-1', 'if-range': '"b"' }), fake, open);
    expect(seen).toEqual([expect.objectContaining({ range: 'bytes=0-1' }), {}]);
    await expect(conditionalRead(req({ range: 'bytes=-0' }), fake, open)).rejects.toMatchObject({
      code: 'RangeNotSatisfiable',
    });
    expect(seen[2]).toMatchObject({ range: 'bytes=0-0' });
  });

  it('should answer a failing If-Range with the whole object when S3 finds the range unsatisfiable', async () => {
    const { fake } = answer();
    const open = (c: ReadConditions) =>
      c.range
        ? Promise.reject(new StorageError('RangeNotSatisfiable', 'no', { objectSize: 10 }))
        : Promise.resolve(object);
    await expect(conditionalRead(req({ range: 'bytes=99-', 'if-range': '"b"' }), fake, open)).resolves.toBe(object);
    await expect(conditionalRead(req({ range: 'bytes=99-', 'if-range': '"a"' }), fake, open)).rejects.toMatchObject({
      code: 'RangeNotSatisfiable',
    });
  });
});

describe(writePrecondition.name, () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as Request;
  const current = { etag: '"a"', lastModified: new Date('2026-01-01T00:00:00Z') };

  it('should be undefined without conditions and refuse a malformed If-Match', () => {
    expect(writePrecondition(req({}))).toBeUndefined();
    expect(() => writePrecondition(req({ 'if-match': 'a' }))).toThrow(BadRequestException);
  });

  it('should check If-Match, else If-Unmodified-Since', () => {
    expect(writePrecondition(req({ 'if-match': '"a"' }))?.(current)).toBe(true);
    expect(
      writePrecondition(req({ 'if-match': '"b"', 'if-unmodified-since': 'Fri, 01 Jan 2027 00:00:00 GMT' }))?.(current),
    ).toBe(false);
    expect(writePrecondition(req({ 'if-unmodified-since': 'Thu, 01 Dec 2025 00:00:00 GMT' }))?.(current)).toBe(false);
  });
});
