import { MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE } from '../config/s3-options.js';

const MiB = 1024 * 1024;

/** The configured part size, or if `size` bytes need more than 10,000 of them, the smallest in whole MiB that fits. */
export function partSizeFor(size: number | undefined, configured: number): number {
  if (size === undefined || size <= configured * MAX_PARTS) {
    return configured;
  }
  const needed = Math.ceil(Math.ceil(size / MAX_PARTS) / MiB) * MiB;
  return Math.min(Math.max(needed, MIN_PART_SIZE), MAX_PART_SIZE);
}
