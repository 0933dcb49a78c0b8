import { getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { releaseBootMemory } from './boot-memory.js';

const newSpaceBytes = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

describe(releaseBootMemory.name, () => {
  it('should shrink the young generation that booting grew, and leave gc() to no one', () => {
    // Objects that survive scavenges make V8 grow the young generation, as compiling and wiring the app does.
    const survivors = Array.from({ length: 1_000_000 }, (_, i) => ({ i }));
    expect(survivors).toHaveLength(1_000_000);
    const grown = newSpaceBytes();
    const hadGc = 'gc' in globalThis;

    releaseBootMemory();

    expect(newSpaceBytes()).toBeLessThan(grown / 2);
    expect('gc' in globalThis).toBe(hadGc);
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });
});
