import { BadRequestException } from '@nestjs/common';
import fc from 'fast-check';
import type { AppConfig } from '../config/app-config.js';
import { MAX_KEY_BYTES, decodeKey, KeyPipe } from './file-key.js';

/** A path key through the route's decoding and `KeyPipe`, with an `S3_PREFIX` of `prefixBytes` bytes. */
const parseKey = (path: string, prefixBytes: number): string =>
  new KeyPipe({ s3: { prefix: 'p'.repeat(prefixBytes) } } as AppConfig).transform(decodeKey(path));

/** What a stored key must never be, checked independently of the validator's own code. */
function unsafe(key: string, prefixBytes: number): string | undefined {
  if (key === '' || key.startsWith('/')) {
    return 'empty or absolute';
  }
  if (key.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    return 'empty, . or .. segment';
  }
  if ([...key].some((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f))) {
    return 'control character';
  }
  if (key.includes('\\')) {
    return 'backslash';
  }
  if (Buffer.byteLength(key) + prefixBytes > MAX_KEY_BYTES) {
    return 'too long';
  }
  return undefined;
}

/** Percent-encodes every byte, in random letter case: the spelling an attacker would pick to hide `.`, `/`, `\`. */
const encodeAll = (text: string, upper: boolean[]): string =>
  [...Buffer.from(text)]
    .map((b, i) => {
      const hex = b.toString(16).padStart(2, '0');
      return `%${upper[i % upper.length] ? hex.toUpperCase() : hex}`;
    })
    .join('');

const segment = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((s) => unsafe(s, 0) === undefined);
const validKey = fc
  .array(segment, { minLength: 1, maxLength: 6 })
  .map((segments) => segments.join('/'))
  .filter((k) => unsafe(k, 0) === undefined);

describe(`${KeyPipe.name} (properties)`, () => {
  it('should either reject a raw path with a 400 or return a safe key', () => {
    const raw = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.string({
        unit: fc.constantFrom('%', '2', 'e', 'E', 'f', 'F', '5', 'c', 'C', '.', '/', '\\', '0', 'a'),
        maxLength: 40,
      }),
      fc
        .uint8Array({ maxLength: 24 })
        .map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')),
    );
    fc.assert(
      fc.property(raw, fc.integer({ min: 0, max: 1024 }), (path, prefixBytes) => {
        let key: string;
        try {
          key = parseKey(path, prefixBytes);
        } catch (error) {
          expect(error).toBeInstanceOf(BadRequestException);
          return;
        }
        expect(unsafe(key, prefixBytes)).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  it('should decode a per-segment or fully encoded key exactly once, back to the key', () => {
    fc.assert(
      fc.property(validKey, (key) => {
        expect(parseKey(key.split('/').map(encodeURIComponent).join('/'), 0)).toBe(key);
        expect(parseKey(encodeURIComponent(key), 0)).toBe(key);
        // Encoded twice, it decodes once: to the encoded text, a different (literal) key.
        expect(parseKey(encodeURIComponent(encodeURIComponent(key)), 0)).toBe(encodeURIComponent(key));
      }),
    );
  });

  it('should reject traversal however its dots, slashes and backslashes are encoded', () => {
    const traversal = fc
      .tuple(
        fc.array(segment, { maxLength: 2 }),
        fc.constantFrom('..', '.', '..\\..', ''),
        fc.array(segment, { maxLength: 2 }),
      )
      .map(([before, bad, after]) => [...before, bad, ...after].join('/'));
    fc.assert(
      fc.property(traversal, fc.array(fc.boolean(), { minLength: 1 }), (key, upper) => {
        expect(() => parseKey(encodeAll(key, upper), 0)).toThrow(BadRequestException);
      }),
    );
  });
});
