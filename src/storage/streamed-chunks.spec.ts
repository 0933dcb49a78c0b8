import { jest } from '@jest/globals';
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Collect, v8Collector, RECLAIM_EVERY_BYTES, StreamedChunks } from './streamed-chunks.js';

const KiB = 1024;

describe(StreamedChunks.name, () => {
  it('should collect each time RECLAIM_EVERY_BYTES more have been counted', () => {
    const collect = jest.fn<Collect>();
    const chunks = new StreamedChunks(collect);
    for (let i = 0; i < RECLAIM_EVERY_BYTES / (64 * KiB) - 1; i++) {
      chunks.count(64 * KiB);
    }
    expect(collect).not.toHaveBeenCalled();
    chunks.count(64 * KiB);
    expect(collect).toHaveBeenCalledTimes(1);
    expect(collect).toHaveBeenCalledWith({ type: 'minor' });
    chunks.count(RECLAIM_EVERY_BYTES - 1);
    expect(collect).toHaveBeenCalledTimes(1);
    chunks.count(1);
    expect(collect).toHaveBeenCalledTimes(2);
  });

  it('should count what a watched stream emits to the pipe that consumes it, which gets every byte', async () => {
    const collect = jest.fn<Collect>();
    const chunks = new StreamedChunks(collect, 100 * KiB);
    const source = Readable.from(Array.from({ length: 25 }, (_, i) => Buffer.alloc(16 * KiB, i)));
    let received = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        done();
      },
    });
    chunks.watch(source);
    await pipeline(source, sink);
    expect(received).toBe(400 * KiB);
    // After the 7th, 14th and 21st chunk of 16 KiB.
    expect(collect).toHaveBeenCalledTimes(3);
  });

  it("should run a real minor collection through V8's gc without exposing gc to the service", async () => {
    const kinds: number[] = [];
    const seen = new Promise<void>((resolve) => {
      const done = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          kinds.push((entry as PerformanceEntry & { detail: { kind: number } }).detail.kind);
        }
        done.disconnect();
        resolve();
      });
      done.observe({ entryTypes: ['gc'] });
    });
    const hadGc = 'gc' in globalThis;
    v8Collector()({ type: 'minor' });
    await seen;
    expect(kinds).toContain(constants.NODE_PERFORMANCE_GC_MINOR);
    expect('gc' in globalThis).toBe(hadGc);
  });
});
