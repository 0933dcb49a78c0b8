import { MAX_PART_SIZE, MAX_PARTS } from '../config/s3-options.js';
import { partSizeFor } from './object-writer.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

describe(partSizeFor.name, () => {
  it.each([
    ['an unknown length', undefined, 8 * MiB],
    ['an empty body', 0, 8 * MiB],
    ['a small file', 10 * MiB, 8 * MiB],
    ['exactly 10,000 configured parts', 8 * MiB * MAX_PARTS, 8 * MiB],
    ['one byte more', 8 * MiB * MAX_PARTS + 1, 9 * MiB],
    ['100 GiB', 100 * GiB, 11 * MiB],
    ['5 TiB, the S3 object limit', 5 * TiB, 525 * MiB],
  ])('should choose the part size for %s', (_, size, expected) => {
    expect(partSizeFor(size, 8 * MiB)).toBe(expected);
  });

  it('should fit any size up to 5 TiB in 10,000 parts of 5 MiB to 5 GiB, in whole MiB', () => {
    for (const size of [1, 5 * MiB * MAX_PARTS + 1, 78 * GiB, 1 * TiB + 12345, 5 * TiB]) {
      const part = partSizeFor(size, 5 * MiB);
      expect(Math.ceil(size / part)).toBeLessThanOrEqual(MAX_PARTS);
      expect(part).toBeGreaterThanOrEqual(5 * MiB);
      expect(part).toBeLessThanOrEqual(MAX_PART_SIZE);
      expect(part % MiB).toBe(0);
    }
  });

  it('should keep a configured part size larger than needed', () => {
    expect(partSizeFor(100 * GiB, 64 * MiB)).toBe(64 * MiB);
  });
});
