import {
  ifRangeHolds,
  INVALID_IF_MATCH,
  noneMatchHits,
  parseHttpDate,
  parseIfMatch,
  parseIfNoneMatch,
  parseRange,
  preconditionsHold,
  UNSATISFIABLE_RANGE,
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

describe(parseIfNoneMatch.name, () => {
  it.each([
    ['*', '*'],
    ['"abc"', '"abc"'],
    ['W/"abc"', 'W/"abc"'],
    ['"a", "b"', '"a", "b"'],
    ['"a", ', '"a"'],
    [' , "a",, "b"', '"a", "b"'],
    ['*, ', '*'],
  ])('should keep %s', (header, value) => {
    expect(parseIfNoneMatch(header)).toBe(value);
  });

  it.each([undefined, 'abc', '"a', '"a"b"', '"a"\r\nX: y', ', '])('should ignore %s', (header) => {
    expect(parseIfNoneMatch(header)).toBeUndefined();
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

describe(parseIfMatch.name, () => {
  it.each([
    ['*', ['*']],
    [' * ', ['*']],
    ['"a"', ['"a"']],
    ['"a", W/"b",, "c"', ['"a"', 'W/"b"', '"c"']],
  ])('should read %j as %j', (header, tags) => {
    expect(parseIfMatch(header)).toEqual(tags);
  });

  it.each(['', ',', 'abc', '"a", *', '*, *', '"a', 'W/a', '"a" "b"', Array(33).fill('"a"').join(',')])(
    'should refuse %j',
    (header) => {
      expect(parseIfMatch(header)).toBe(INVALID_IF_MATCH);
    },
  );

  it('should leave an absent header absent', () => {
    expect(parseIfMatch(undefined)).toBeUndefined();
  });
});

describe(preconditionsHold.name, () => {
  const current = { etag: '"abc"', lastModified: new Date('2026-01-02T03:04:05Z') };

  it.each([
    [{}, current, true],
    [{}, undefined, true],
    [{ ifMatch: ['*'] }, current, true],
    [{ ifMatch: ['*'] }, undefined, false],
    [{ ifMatch: ['"abc"'] }, current, true],
    [{ ifMatch: ['"x"', '"abc"'] }, current, true],
    [{ ifMatch: ['"abc"'] }, undefined, false],
    [{ ifMatch: ['"x"'] }, current, false],
    [{ ifMatch: ['W/"abc"'] }, current, false],
    [{ ifUnmodifiedSince: new Date('2026-01-02T03:04:05Z') }, current, true],
    [{ ifUnmodifiedSince: new Date('2026-01-02T03:04:05.999Z') }, current, true],
    [{ ifUnmodifiedSince: new Date('2026-01-02T03:04:04Z') }, current, false],
    [{ ifUnmodifiedSince: new Date('2020-01-01T00:00:00Z') }, undefined, true],
    // RFC 9110 13.1.4: If-Unmodified-Since is ignored when If-Match is present.
    [{ ifMatch: ['"abc"'], ifUnmodifiedSince: new Date('2020-01-01T00:00:00Z') }, current, true],
  ])('should evaluate %j on %j as %s', (conditions, object, holds) => {
    expect(preconditionsHold(conditions, object)).toBe(holds);
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
