import { jest } from '@jest/globals';
import * as crypto from 'node:crypto';

/** Every `timingSafeEqual` call the key ring makes, with its two arguments. */
const comparisons: [Buffer, Buffer][] = [];
jest.unstable_mockModule('node:crypto', () => ({
  ...crypto,
  timingSafeEqual: (a: Buffer, b: Buffer): boolean => {
    comparisons.push([Buffer.from(a), Buffer.from(b)]);
    return crypto.timingSafeEqual(a, b);
  },
}));
const { ApiKeyRing } = await import('./api-keys.js');

const sha256 = (key: string): Buffer => crypto.createHash('sha256').update(key, 'utf8').digest();

const READ_WRITE = ['first-read-write-key-0123', 'second-read-write-key-456'];
const READ_ONLY = ['only-read-only-key-789abc'];
const ALL = [...READ_WRITE, ...READ_ONLY];

/**
 * Constant time, structurally: whatever key is presented and wherever it first differs, the ring compares the
 * SHA-256 digest of it (always 32 bytes) with the digest of every configured key, through `timingSafeEqual`, with
 * no early exit. Measuring the time instead would be flaky.
 */
describe(`${ApiKeyRing.name} (constant-time comparison)`, () => {
  const ring = new ApiKeyRing(READ_WRITE, READ_ONLY);

  beforeEach(() => {
    comparisons.length = 0;
  });

  const flip = (key: string, at: number): string =>
    key.slice(0, at) + String.fromCharCode(key.charCodeAt(at) ^ 1) + key.slice(at + 1);

  it.each<[string, string]>([
    ['the first key', ALL[0]],
    ['the last key', ALL[2]],
    ['a key differing in its first character', flip(ALL[0], 0)],
    ['a key differing in its last character', flip(ALL[0], ALL[0].length - 1)],
    ['a key differing in its middle character', flip(ALL[1], 12)],
    ['a prefix of a key', ALL[0].slice(0, -1)],
    ['a key with one character more', `${ALL[0]}x`],
    ['an empty key', ''],
    ['a 64 KiB key', 'k'.repeat(65_536)],
    ['a key with whitespace', ` ${ALL[0]} `],
    ['a non-ASCII key', 'clé-ünïcödé-🔑-0123456789'],
  ])('should compare the digest of %s with every configured key in fixed length', (_name, presented) => {
    ring.levelOf(presented);
    expect(comparisons).toHaveLength(ALL.length);
    for (const [configured, candidate] of comparisons) {
      expect(configured).toHaveLength(32);
      expect(candidate).toHaveLength(32);
      expect(candidate.equals(sha256(presented))).toBe(true);
    }
    expect(comparisons.map(([configured]) => configured.toString('hex'))).toEqual(
      ALL.map((key) => sha256(key).toString('hex')),
    );
  });

  it('should still find the right level through the wrapped comparison', () => {
    expect(ALL.map((key) => ring.levelOf(key))).toEqual(['read-write', 'read-write', 'read-only']);
    expect(ring.levelOf(flip(ALL[2], 5))).toBeUndefined();
  });
});
