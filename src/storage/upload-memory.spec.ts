import { UploadMemory } from './upload-memory.js';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

/** Lets every settled promise run its callbacks. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Admits chunks until `bytes` have passed; `passed` says how far it got. */
function feed(admit: (bytes: number) => Promise<void>, bytes: number) {
  const state = { passed: 0, done: Promise.resolve() };
  state.done = (async () => {
    while (state.passed < bytes) {
      await admit(CHUNK);
      state.passed += CHUNK;
    }
  })();
  return state;
}

describe(UploadMemory.name, () => {
  it('should make an upload over the budget wait until another returns memory', async () => {
    const memory = new UploadMemory(16 * MiB);
    const first = memory.lease(8 * MiB);
    const second = memory.lease(8 * MiB);
    const third = memory.lease(8 * MiB);
    const a = feed((n) => first.admit(n), 8 * MiB);
    const b = feed((n) => second.admit(n), 8 * MiB);
    const c = feed((n) => third.admit(n), CHUNK);
    await settle();
    expect([a.passed, b.passed, c.passed]).toEqual([8 * MiB, 8 * MiB, 0]);
    expect(memory.inUse).toBe(16 * MiB);

    first.uploaded(8 * MiB);
    await c.done;
    expect(c.passed).toBe(CHUNK);
    expect(memory.inUse).toBe(16 * MiB);
  });

  it('should let a chunk that starts within the reservation run past it, so a held part can always be cut', async () => {
    const memory = new UploadMemory(8 * MiB);
    const lease = memory.lease(8 * MiB);
    // lib-storage cuts an 8 MiB part only once it holds more than 8 MiB: the chunk after a full part must pass.
    const upload = feed((n) => lease.admit(n), 8 * MiB + CHUNK);
    await settle();
    expect(upload.passed).toBe(8 * MiB + CHUNK);
    const next = feed((n) => lease.admit(n), CHUNK);
    await settle();
    expect(next.passed).toBe(0);
    lease.uploaded(8 * MiB);
    await next.done;
    expect(memory.inUse).toBe(8 * MiB);
  });

  it('should reserve only what a body of known size needs', async () => {
    const memory = new UploadMemory(8 * MiB);
    const small = Array.from({ length: 100 }, () => memory.lease(8 * MiB, 4096));
    await Promise.all(small.map((lease) => lease.admit(4096)));
    expect(memory.inUse).toBe(100 * 4096);
    small.forEach((lease) => lease.close());
    expect(memory.inUse).toBe(0);
  });

  it('should serve waiters in order and give everything back on close, also what is still awaited', async () => {
    const memory = new UploadMemory(8 * MiB);
    const holder = memory.lease(8 * MiB);
    await holder.admit(CHUNK);
    const big = memory.lease(8 * MiB);
    const gone = memory.lease(8 * MiB);
    const order: string[] = [];
    void big.admit(CHUNK).then(() => order.push('big'));
    void gone.admit(CHUNK).then(() => order.push('gone'));
    await settle();
    expect(order).toEqual([]);

    gone.close(); // its client went away while it waited
    holder.close();
    await settle();
    expect(order).toEqual(['big', 'gone']);
    expect(memory.inUse).toBe(8 * MiB);
    big.close();
    expect(memory.inUse).toBe(0);
  });
});
