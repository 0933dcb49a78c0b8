import { noneMatchHits, parseHttpDate, parseIfNoneMatch, parseRange, UNSATISFIABLE_RANGE } from './http-conditions.js';

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
