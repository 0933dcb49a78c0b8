import { performance } from 'node:perf_hooks';

export interface LoadResult {
  readonly operations: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Value at quantile `q` (0–1) of ascending `sorted`. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) {
    return NaN;
  }
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * A closed loop: `concurrency` workers each run `operation` back to back until `durationMs` has passed; every
 * latency is kept. The first failure stops all workers and is thrown.
 */
export async function closedLoop(
  concurrency: number,
  durationMs: number,
  operation: (worker: number, iteration: number) => Promise<void>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + durationMs;
  let failed = false;
  const worker = async (id: number) => {
    for (let i = 0; !failed && performance.now() < deadline; i++) {
      const begin = performance.now();
      try {
        await operation(id, i);
      } catch (error) {
        failed = true;
        throw error;
      }
      latencies.push(performance.now() - begin);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, id) => worker(id)));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    operations: latencies.length,
    seconds,
    perSecond: latencies.length / seconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
  };
}
