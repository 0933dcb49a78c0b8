import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { S3 } from '@aws-sdk/client-s3';
import { S3Locker } from './tus-lock.js';

const FAST = { staleMs: 200, renewMs: 40, waitMs: 100, pollMs: 10 };

const failure = (status: number) => Object.assign(new Error(String(status)), { $metadata: { httpStatusCode: status } });

/** A bucket of one client that honours If-None-Match: * and If-Match on PutObject, quoted or (like RGW) bare. */
function fakeBucket(ifMatch: 'quoted' | 'unquoted') {
  const objects = new Map<string, { body: string; etag: string }>();
  const client = {
    putObject(input: { Key: string; Body: string; IfNoneMatch?: string; IfMatch?: string }) {
      const current = objects.get(input.Key);
      if (input.IfNoneMatch === '*' && current) {
        return Promise.reject(failure(412));
      }
      if (input.IfMatch !== undefined) {
        const expected = current && (ifMatch === 'quoted' ? current.etag : current.etag.slice(1, -1));
        if (input.IfMatch !== expected) {
          return Promise.reject(failure(412));
        }
      }
      const etag = `"${createHash('md5').update(input.Body).digest('hex')}"`;
      objects.set(input.Key, { body: input.Body, etag });
      return Promise.resolve({ ETag: etag });
    },
    headObject(input: { Key: string }) {
      const current = objects.get(input.Key);
      return current ? Promise.resolve({ ETag: current.etag }) : Promise.reject(failure(404));
    },
    deleteObject(input: { Key: string }) {
      objects.delete(input.Key);
      return Promise.resolve({});
    },
  };
  const forgotten: string[] = [];
  const store = {
    client: client as unknown as S3,
    bucket: 'b',
    lockKey: (id: string) => `.tus/${id}.lock`,
    forget: (id: string) => {
      forgotten.push(id);
      return Promise.resolve();
    },
    ifMatch: () => Promise.resolve(ifMatch),
  };
  return { objects, store, forgotten };
}

const never = new AbortController().signal;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(S3Locker.name, () => {
  it('should let one request hold an upload, answer 423 to another after the wait, and release on unlock', async () => {
    const { objects, store, forgotten } = fakeBucket('quoted');
    const locker = new S3Locker(store, FAST);
    const first = locker.newLock('a');
    await first.lock(never, () => undefined);
    expect(forgotten).toEqual(['a']);
    await expect(locker.newLock('a').lock(never, () => undefined)).rejects.toMatchObject({ status_code: 423 });
    const other = locker.newLock('b');
    await other.lock(never, () => undefined);
    await first.unlock();
    expect([...objects.keys()]).toEqual(['.tus/b.lock']);
    await other.unlock();
    const again = locker.newLock('a');
    await again.lock(never, () => undefined);
    await again.unlock();
  });

  it('should renew a held lock in the If-Match form the backend compares (unquoted)', async () => {
    const { objects, store } = fakeBucket('unquoted');
    // 25 renewals per stale period: a busy test machine that delays a few timers must not look like a dead holder.
    const timing = { ...FAST, staleMs: 1000 };
    const locker = new S3Locker(store, timing);
    const lock = locker.newLock('a');
    const released = jest.fn<() => void>();
    await lock.lock(never, released);
    // Longer than a lock stays fresh: a waiter on another instance must not take it over.
    const waiter = new S3Locker(store, timing);
    await expect(waiter.newLock('a').lock(never, () => undefined)).rejects.toMatchObject({ status_code: 423 });
    await sleep(timing.staleMs);
    await expect(waiter.newLock('a').lock(never, () => undefined)).rejects.toMatchObject({ status_code: 423 });
    expect(released).not.toHaveBeenCalled();
    expect(JSON.parse(objects.get('.tus/a.lock')!.body)).toMatchObject({ write: expect.any(Number) });
    expect((JSON.parse(objects.get('.tus/a.lock')!.body) as { write: number }).write).toBeGreaterThan(3);
    await lock.unlock();
    expect(objects.size).toBe(0);
  });

  it('should take over a lock nobody renews once stale, and cut the old holder if it comes back', async () => {
    const { objects, store } = fakeBucket('quoted');
    objects.set('.tus/a.lock', { body: '{"holder":"gone"}', etag: '"dead"' });
    const locker = new S3Locker(store, { ...FAST, waitMs: FAST.staleMs + 100 });
    const lock = locker.newLock('a');
    const started = Date.now();
    await lock.lock(never, () => undefined);
    expect(Date.now() - started).toBeGreaterThanOrEqual(FAST.staleMs);
    expect(objects.get('.tus/a.lock')!.etag).not.toBe('"dead"');

    // Another writer replaces the lock under this holder: its next renewal fails, and its request is cut.
    const released = jest.fn<() => void>();
    const held = new S3Locker(store, FAST).newLock('b');
    await held.lock(never, released);
    objects.set('.tus/b.lock', { body: '{"holder":"other"}', etag: '"other"' });
    await sleep(FAST.renewMs * 3);
    expect(released).toHaveBeenCalledTimes(1);
    await held.unlock();
    // Not its lock any more: left alone.
    expect(objects.get('.tus/b.lock')!.etag).toBe('"other"');
    await lock.unlock();
  });
});
