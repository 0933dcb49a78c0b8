import type { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Bytes streamed, process-wide, between two minor garbage collections. */
export const RECLAIM_EVERY_BYTES = 4 * 1024 * 1024;

/** The collections the service asks V8 for: a minor one, or the memory-reducing full one (see boot-memory.ts). */
export type Collect = (options: { type: 'minor' } | { type: 'major'; flavor: 'last-resort' }) => void;

/**
 * Frees the chunks of streamed bodies, which live outside the JS heap: streaming allocates too little on it for a minor
 * collection to come, so V8 ran a full mark-compact every ~30 MiB (a third of a download's CPU). A minor one every
 * 4 MiB finds them young in under 1 ms; 16 MiB was too late (V8 had often started marking: it then runs a full one).
 */
export class StreamedChunks {
  private streamed = 0;

  constructor(
    private collect?: Collect,
    private readonly everyBytes = RECLAIM_EVERY_BYTES,
  ) {}

  /** Counts the chunks `stream` emits. A `data` listener starts the flow: attach the consumer in the same tick. */
  watch(stream: Readable): void {
    stream.on('data', (chunk: Buffer) => this.count(chunk.length));
  }

  count(bytes: number): void {
    this.streamed += bytes;
    if (this.streamed >= this.everyBytes) {
      this.streamed = 0;
      (this.collect ??= v8Collector())({ type: 'minor' });
    }
  }
}

/** V8's `gc()`, taken from a context created while `--expose-gc` is on, without exposing it to this one. */
export function v8Collector(): Collect {
  const exposed = globalThis.gc;
  if (exposed) {
    return (options) => void exposed(options);
  }
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as Collect;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** The process's one counter: the collections it triggers are process-wide, like the memory they free. */
export const streamedChunks = new StreamedChunks();
