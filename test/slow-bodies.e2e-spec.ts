import { type ClientRequest, request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { StorageService } from '../src/storage/storage.service.js';
import { encodeKey, eventually, randomKey, s3Suite } from './support/app.js';
import { expectJsonError, parseRawAnswer, rawUntilClosed, send } from './support/http.js';
import { listMultipartUploads, objectExists } from './support/s3-server.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const RW = 'rw-key-'.padEnd(32, 'x');
const auth = { Authorization: `Bearer ${RW}` };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Clients that send their bodies too slowly (Kestrel's MinRequestBodyDataRate: 240 bytes/s after a 5 s grace) are cut
 * with a 408 and hold no upload memory meanwhile; an upload that cannot get memory in time is answered 503.
 */
describe('Slow request bodies (e2e)', () => {
  const suite = s3Suite();

  describe('with the default rules', () => {
    const service = suite.withApp({
      env: {
        API_KEYS: RW,
        SIGNING_SECRET: 'u'.repeat(32),
        // Four parts: before the rule, four dripping clients held all of it.
        UPLOAD_MEMORY_BYTES: String(4 * PART),
      },
    });

    it('should cut 16 dripping clients with 408 while a 5 MiB upload and a slow honest one complete', async () => {
      const session = await send(`${service.url}/upload-sessions`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: Buffer.from(JSON.stringify({ keyPrefix: 'drip/', maxBytes: 60 * MiB })),
      }).then((res) => JSON.parse(res.body.toString()) as { token: string });
      const keys = Array.from({ length: 8 }, () => randomKey());
      const boundary = 'dripdripdrip';
      const heads = [
        ...keys.map(
          (key) =>
            `PUT /files/${encodeKey(key)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${RW}\r\n` +
            `Content-Length: ${50 * MiB}\r\n\r\nx`,
        ),
        ...keys.map(
          () =>
            `POST /files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${session.token}\r\n` +
            `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${50 * MiB}\r\n\r\n` +
            `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.bin"\r\n` +
            `Content-Type: application/octet-stream\r\n\r\nx`,
        ),
      ];
      const memory = service.app.get(StorageService).uploadMemory;
      let peak = 0;
      const watch = setInterval(() => (peak = Math.max(peak, memory.inUse)), 20);
      try {
        // One byte a second: never idle for 60 s, far below 240 bytes/s.
        const drips = heads.map((head) =>
          rawUntilClosed(service.port, head, { tick: { data: Buffer.from('x'), everyMs: 1000 }, guardMs: 15_000 }),
        );
        await sleep(500);

        const honest = new Promise<number>((resolve, reject) => {
          // 1000 bytes/s for 6 s: slow, but above the minimum rate past its grace period.
          const req = httpRequest(`${service.url}/files/${encodeKey(randomKey())}`, {
            method: 'PUT',
            headers: { ...auth, 'Content-Length': 6000 },
          });
          req.on('response', (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          let sent = 0;
          const timer = setInterval(() => {
            req.write(Buffer.alloc(500, 'h'));
            if (++sent === 12) {
              clearInterval(timer);
              req.end();
            }
          }, 500);
        });

        const body = randomBytes(PART);
        const started = Date.now();
        const normal = await send(`${service.url}/files/${encodeKey(randomKey())}`, {
          method: 'PUT',
          headers: { ...auth, 'Content-Length': body.length },
          body,
          timeoutMs: 12_000,
        });
        const normalMs = Date.now() - started;
        expect(normal.status).toBe(201);
        // Well before the dripping clients are cut (5 s of reading): it did not wait for their memory.
        expect(normalMs).toBeLessThan(4000);

        const cut = await Promise.all(drips);
        for (const { afterMs, answer } of cut) {
          const res = parseRawAnswer(Buffer.from(answer, 'latin1'));
          expectJsonError(res, 408);
          expect(res.headers.connection).toBe('close');
          expect(afterMs).toBeGreaterThanOrEqual(5000);
          expect(afterMs).toBeLessThan(9000);
        }
        expect(await honest).toBe(201);
      } finally {
        clearInterval(watch);
      }
      // The dripping clients never got a part buffer: only the normal upload's part was ever held.
      expect(peak).toBeLessThanOrEqual(PART);
      await eventually(() => memory.inUse === 0);
      for (const key of keys) {
        expect(await objectExists(suite.s3.s3, suite.s3.bucket, key)).toBe(false);
      }
      await eventually(async () => (await listMultipartUploads(suite.s3.s3, suite.s3.bucket)).length === 0);
    }, 60_000);
  });

  describe('with a small memory budget and a short wait', () => {
    const service = suite.withApp({
      env: { UPLOAD_MEMORY_BYTES: String(PART) },
      tuning: { requestBodies: { memoryWaitMs: 500 } },
    });

    it('should answer 503 with Retry-After while upload memory stays taken, and serve again once it is free', async () => {
      const memory = service.app.get(StorageService).uploadMemory;
      const holder = httpRequest(`${service.url}/files/${encodeKey(randomKey())}`, {
        method: 'PUT',
        headers: { 'Content-Length': String(4 * PART) },
      });
      holder.on('error', () => undefined);
      try {
        await refuseWhileHeld(holder);
      } finally {
        holder.destroy();
      }
      await eventually(() => memory.inUse === 0);
      const key = randomKey();
      const served = await send(`${service.url}/files/${encodeKey(key)}`, {
        method: 'PUT',
        headers: { 'Content-Length': 5 },
        body: Buffer.from('hello'),
      });
      expect(served.status).toBe(201);
    }, 30_000);

    async function refuseWhileHeld(holder: ClientRequest) {
      const memory = service.app.get(StorageService).uploadMemory;
      // A fast first MiB keeps it far above the minimum rate while it holds the whole budget.
      holder.write(randomBytes(MiB));
      await eventually(() => memory.inUse === PART);

      const key = randomKey();
      const started = Date.now();
      const refused = await send(`${service.url}/files/${encodeKey(key)}`, {
        method: 'PUT',
        headers: { 'Content-Length': 5 },
        body: Buffer.from('hello'),
        timeoutMs: 10_000,
      });
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toMatch(/^\d+$/);
      expect(JSON.parse(refused.body.toString())).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
      expect(await objectExists(suite.s3.s3, suite.s3.bucket, key)).toBe(false);
      expect(memory.inUse).toBe(PART);
    }
  });
});
