import { jest } from '@jest/globals';
import { StorageError } from './storage.errors.js';
import { UploadMemory } from './upload-memory.js';

const MiB = 1024 * 1024;

/** Lets every settled promise run its callbacks. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe(UploadMemory.name, () => {
  it('should make an upload over the budget wait until another gives a buffer back', async () => {
    const memory = new UploadMemory(16 * MiB);
    const first = await memory.acquire(8 * MiB);
    await memory.acquire(8 * MiB);
    let third: Buffer | undefined;
    void memory.acquire(8 * MiB).then((buffer) => (third = buffer));
    await settle();
    expect(third).toBeUndefined();
    expect(memory.inUse).toBe(16 * MiB);

    memory.release(first!);
    await settle();
    expect(third).toBe(first); // the same memory, reused
    expect(memory.inUse).toBe(16 * MiB);
  });

  it('should charge a body of known size only its size, and not keep small buffers', async () => {
    const memory = new UploadMemory(8 * MiB);
    const small = await Promise.all(Array.from({ length: 100 }, () => memory.acquire(4096)));
    expect(small.every((buffer) => buffer?.length === 4096)).toBe(true);
    expect(memory.inUse).toBe(100 * 4096);
    small.forEach((buffer) => memory.release(buffer!));
    expect(memory.inUse).toBe(0);
    const again = await memory.acquire(4096);
    expect(small).not.toContain(again);
  });

  it('should drop its free buffers 2 s after the last large upload, however many small ones come and go', async () => {
    jest.useFakeTimers();
    try {
      const memory = new UploadMemory(64 * MiB);
      const part = (await memory.acquire(8 * MiB))!;
      memory.release(part);
      expect(await memory.acquire(8 * MiB)).toBe(part); // reused while uploads keep coming
      memory.release(part);
      for (let i = 0; i < 5; i++) {
        jest.advanceTimersByTime(500);
        memory.release((await memory.acquire(4096))!);
      }
      jest.advanceTimersByTime(1000);
      expect((part.buffer as ArrayBuffer).detached).toBe(true); // its memory given back now, not at the next full collection
      expect(await memory.acquire(8 * MiB)).not.toBe(part);
    } finally {
      jest.useRealTimers();
    }
  });

  it('should grant a buffer larger than the whole budget when nothing else is held', async () => {
    const memory = new UploadMemory(4 * MiB);
    const big = await memory.acquire(8 * MiB);
    expect(big?.length).toBe(8 * MiB);
    let next: Buffer | undefined;
    void memory.acquire(MiB).then((buffer) => (next = buffer));
    await settle();
    expect(next).toBeUndefined();
    memory.release(big!);
    await settle();
    expect(next?.length).toBe(MiB);
  });

  it('should serve waiters in order and skip those that ended while they waited', async () => {
    const memory = new UploadMemory(8 * MiB);
    const held = await memory.acquire(8 * MiB);
    const order: string[] = [];
    let gone = false;
    void memory.acquire(8 * MiB).then((buffer) => order.push(`big:${buffer?.length}`));
    void memory.acquire(MiB, () => gone).then((buffer) => order.push(`gone:${buffer?.length}`));
    void memory.acquire(MiB).then((buffer) => order.push(`small:${buffer?.length}`));
    await settle();
    expect(order).toEqual([]);

    gone = true; // its client went away while it waited
    memory.release(held!);
    await settle();
    expect(order).toEqual([`big:${8 * MiB}`, 'gone:undefined']);
    expect(memory.inUse).toBe(8 * MiB);
  });

  it('should keep free buffers within the budget, dropping those of another size to make room', async () => {
    const memory = new UploadMemory(16 * MiB);
    const a = (await memory.acquire(8 * MiB))!;
    const b = (await memory.acquire(8 * MiB))!;
    memory.release(a);
    memory.release(b);
    const other = await memory.acquire(16 * MiB);
    expect(other?.length).toBe(16 * MiB);
    expect(memory.inUse).toBe(16 * MiB);
    expect([a, b].map((buffer) => (buffer.buffer as ArrayBuffer).detached)).toEqual([true, true]);
    memory.release(other!);
    expect(await memory.acquire(16 * MiB)).toBe(other);
  });

  it('should refuse a waiter with Unavailable after maxWaitMs, and let the next in line through', async () => {
    const memory = new UploadMemory(8 * MiB, 50);
    const held = await memory.acquire(6 * MiB);
    const big = memory.acquire(8 * MiB);
    let small: Buffer | undefined;
    void memory.acquire(MiB).then((buffer) => (small = buffer));
    await settle();
    expect(small).toBeUndefined(); // in line behind the big one, though it fits

    await expect(big).rejects.toThrow(StorageError);
    await expect(big).rejects.toMatchObject({ code: 'Unavailable' });
    await settle();
    expect(small?.length).toBe(MiB);
    expect(memory.inUse).toBe(7 * MiB);
    memory.release(held!);
    memory.release(small!);
    expect(memory.inUse).toBe(0);
  });

  it('should end the wait of an upload that went away with undefined, not an error', async () => {
    const memory = new UploadMemory(8 * MiB, 20);
    await memory.acquire(8 * MiB);
    await expect(memory.acquire(MiB, () => true)).resolves.toBeUndefined();
  });

  it('should not refuse a waiter that was granted in time', async () => {
    const memory = new UploadMemory(8 * MiB, 100);
    const held = await memory.acquire(8 * MiB);
    const waiting = memory.acquire(8 * MiB);
    memory.release(held!);
    const granted = await waiting;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(granted).toBe(held);
    expect(memory.inUse).toBe(8 * MiB);
  });
});
