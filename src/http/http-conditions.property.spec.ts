import fc from 'fast-check';
import { parseHttpDate, parseRange, parseTagList, UNSATISFIABLE_RANGE } from './http-conditions.js';

const anyHeader = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({
    unit: fc.constantFrom('b', 'y', 't', 'e', 's', '=', '-', ',', ' ', '0', '1', '9', '"', '*', 'W', '/'),
    maxLength: 40,
  }),
);

describe(`${parseRange.name} (properties)`, () => {
  it('should never throw, and pass on only one canonical, ordered byte range', () => {
    fc.assert(
      fc.property(anyHeader, (header) => {
        const range = parseRange(header);
        if (range === undefined) {
          return;
        }
        if (range === UNSATISFIABLE_RANGE) {
          // A suffix of 0 bytes, or a first position past any S3 object.
          expect(header).toMatch(/^\s*bytes\s*=\s*(-\s*0+|0*[1-9]\d{16,}\s*-\s*\d*)\s*$/i);
          return;
        }
        const match = /^bytes=(\d*)-(\d*)$/.exec(range);
        expect(match).not.toBeNull();
        const [, first, last] = match!;
        expect(first !== '' || last !== '').toBe(true);
        expect(first === '' && BigInt(last) === 0n).toBe(false);
        expect(first.length).toBeLessThanOrEqual(16);
        expect(last.length).toBeLessThanOrEqual(16);
        if (first && last) {
          expect(BigInt(first) <= BigInt(last)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('should keep every well-formed single range, whatever its spacing, case and leading zeros', () => {
    const spaces = fc.constantFrom('', ' ', '  ');
    fc.assert(
      fc.property(
        // Up to 14 digits: with two leading zeros, within the parser's 16-digit bound.
        fc.bigInt({ min: 0n, max: 10n ** 14n - 1n }),
        fc.bigInt({ min: 0n, max: 10n ** 14n - 1n }),
        fc.constantFrom('bytes', 'BYTES', 'Bytes'),
        spaces,
        spaces,
        fc.constantFrom('', '0', '00'),
        (a, b, unit, s1, s2, zeros) => {
          const [first, last] = a <= b ? [a, b] : [b, a];
          expect(parseRange(`${s1}${unit}${s2}=${s1}${zeros}${first}${s2}-${s1}${last}${s2}`)).toBe(
            `bytes=${first}-${last}`,
          );
          expect(parseRange(`${unit}=${zeros}${first}-`)).toBe(`bytes=${first}-`);
          expect(parseRange(`${unit}=-${last}`)).toBe(last === 0n ? UNSATISFIABLE_RANGE : `bytes=-${last}`);
        },
      ),
    );
  });
});

describe(`${parseTagList.name} (properties)`, () => {
  it('should never throw, and pass on only "*" or a short list of valid entity tags, never CR, LF or NUL', () => {
    fc.assert(
      fc.property(anyHeader, (header) => {
        const tags = parseTagList(header);
        if (tags === undefined || (tags.length === 1 && tags[0] === '*')) {
          return;
        }
        expect(tags.join(', ')).not.toMatch(/[\r\n\0]/);
        expect(tags.length).toBeLessThanOrEqual(32);
        for (const tag of tags) {
          expect(tag).toMatch(/^(W\/)?"[^"\s]*"$/);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe(`${parseHttpDate.name} (properties)`, () => {
  it('should never throw, and return a valid date or nothing', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyHeader,
          fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()),
        ),
        (header) => {
          const date = parseHttpDate(header);
          expect(date === undefined || !Number.isNaN(date.getTime())).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
