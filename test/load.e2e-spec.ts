import { createHash, randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { GetObjectCommand, HeadObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { encodeKey, s3Env, sha256 } from './support/app.js';
import { multipartBody, send, type HttpResult } from './support/http.js';
import { listMultipartUploads, startS3Server, type TestS3Server } from './support/s3-server.js';
import { startBuiltService, type BuiltService } from './support/built-service.js';
import { FaultProxy } from './support/fault-proxy.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 15);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 32);
const WARMUP_SECONDS = 3;
const MIN_SIZE = 4 * KiB;
const MAX_SIZE = 32 * MiB;

/** Random bytes every upload is a slice of (at a random offset, so no two objects are alike). */
const POOL = randomBytes(2 * MAX_SIZE);

interface Stored {
  offset: number;
  size: number;
  sha: string;
  /** How the object got here: `put 201`, `post 201`... (to explain a mismatch). */
  history: string[];
}

type Operation = 'put' | 'post' | 'get' | 'range' | 'list' | 'delete';

const WEIGHTS: [Operation, number][] = [
  ['put', 25],
  ['post', 15],
  ['get', 20],
  ['range', 15],
  ['list', 10],
  ['delete', 15],
];

const EXPECTED: Record<Operation, number[]> = {
  put: [200, 201],
  post: [201],
  get: [200],
  range: [206],
  list: [200],
  delete: [204],
};

class Figures {
  readonly statuses = new Map<string, number>();
  readonly failures: string[] = [];
  operations = 0;
  bytesUp = 0;
  bytesDown = 0;
  fiveXX = 0;

  count(op: Operation, status: number): void {
    this.operations++;
    const name = `${op} ${status}`;
    this.statuses.set(name, (this.statuses.get(name) ?? 0) + 1);
    if (status >= 500) {
      this.fiveXX++;
    }
  }

  fail(message: string): void {
    if (this.failures.length < 50) {
      this.failures.push(message);
    }
  }
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)];

/** Log-uniform between MIN_SIZE and MAX_SIZE: mostly small files, some large multipart ones. */
const randomSize = (): number => Math.round(MIN_SIZE * Math.pow(MAX_SIZE / MIN_SIZE, Math.random()));

function randomOperation(): Operation {
  let roll = Math.random() * WEIGHTS.reduce((n, [, w]) => n + w, 0);
  for (const [op, weight] of WEIGHTS) {
    roll -= weight;
    if (roll < 0) {
      return op;
    }
  }
  return 'get';
}

/** One client: its own prefix and model of what it stored, so every answer can be checked exactly. */
class Client {
  readonly live = new Map<string, Stored>();
  readonly deleted = new Set<string>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private serial = 0;

  constructor(
    private readonly url: string,
    readonly prefix: string,
    private readonly figures: Figures,
  ) {}

  async runUntil(deadline: number): Promise<void> {
    while (Date.now() < deadline) {
      const op = randomOperation();
      try {
        await this.perform(op);
      } catch (error) {
        this.figures.fail(`${op}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.agent.destroy();
  }

  private request(path: string, options: Parameters<typeof send>[1] = {}): Promise<HttpResult> {
    return send(`${this.url}${path}`, { ...options, agent: this.agent, timeoutMs: 120_000 });
  }

  private check(op: Operation, res: HttpResult, what: string): boolean {
    this.figures.count(op, res.status);
    if (!EXPECTED[op].includes(res.status) || !res.complete) {
      this.figures.fail(
        `${op} ${what}: ${res.status}${res.complete ? '' : ' (cut short)'} ${res.body.subarray(0, 200).toString()}`,
      );
      return false;
    }
    return true;
  }

  private async perform(op: Operation): Promise<void> {
    const keys = [...this.live.keys()];
    if ((op === 'get' || op === 'range' || op === 'delete') && keys.length === 0) {
      op = 'put';
    }
    switch (op) {
      case 'put':
      case 'post': {
        // Now and then replace an existing object instead of adding one.
        const key = keys.length > 0 && Math.random() < 0.2 ? pick(keys) : `${this.prefix}${this.serial++}.bin`;
        const size = randomSize();
        const offset = Math.floor(Math.random() * (POOL.length - size));
        const data = POOL.subarray(offset, offset + size);
        const res =
          op === 'put'
            ? await this.request(`/files/${encodeKey(key)}`, {
                method: 'PUT',
                body: data,
                headers: { 'Content-Length': size, 'Content-Type': 'application/octet-stream' },
              })
            : await this.postForm(key, data);
        this.figures.bytesUp += size;
        if (this.check(op, res, key)) {
          const history = [...(this.live.get(key)?.history ?? []), `${op} ${res.status} ${size} B`];
          this.live.set(key, { offset, size, sha: sha256(data), history });
          this.deleted.delete(key);
        }
        return;
      }
      case 'get': {
        const key = pick(keys);
        const res = await this.request(`/files/${encodeKey(key)}`);
        this.figures.bytesDown += res.body.length;
        if (this.check(op, res, key) && sha256(res.body) !== this.live.get(key)!.sha) {
          this.figures.fail(`get ${key}: content differs from what was uploaded`);
        }
        return;
      }
      case 'range': {
        const key = pick(keys);
        const stored = this.live.get(key)!;
        const first = Math.floor(Math.random() * stored.size);
        const last = Math.min(stored.size - 1, first + Math.floor(Math.random() * 4 * MiB));
        const res = await this.request(`/files/${encodeKey(key)}`, { headers: { Range: `bytes=${first}-${last}` } });
        this.figures.bytesDown += res.body.length;
        const expected = POOL.subarray(stored.offset + first, stored.offset + last + 1);
        if (this.check(op, res, key) && sha256(res.body) !== sha256(expected)) {
          this.figures.fail(`range ${first}-${last} of ${key}: content differs`);
        }
        return;
      }
      case 'list': {
        const listed = new Map<string, number>();
        let cursor: string | null = null;
        do {
          const query = new URLSearchParams({ prefix: this.prefix, limit: String(1 + Math.floor(Math.random() * 40)) });
          if (cursor) {
            query.set('cursor', cursor);
          }
          const res = await this.request(`/files?${query.toString()}`);
          if (!this.check(op, res, this.prefix)) {
            return;
          }
          const page = JSON.parse(res.body.toString()) as {
            items: { key: string; size: number }[];
            nextCursor: string | null;
          };
          page.items.forEach((item) => listed.set(item.key, item.size));
          cursor = page.nextCursor;
        } while (cursor);
        const expected = [...this.live].map(([key, s]) => `${key}:${s.size}`).sort();
        const actual = [...listed].map(([key, size]) => `${key}:${size}`).sort();
        if (expected.join('\n') !== actual.join('\n')) {
          this.figures.fail(`list ${this.prefix}: ${actual.length} items listed, ${expected.length} expected`);
        }
        return;
      }
      case 'delete': {
        const key = pick(keys);
        const res = await this.request(`/files/${encodeKey(key)}`, { method: 'DELETE' });
        if (this.check(op, res, key)) {
          this.live.delete(key);
          this.deleted.add(key);
        }
        return;
      }
    }
  }

  private postForm(key: string, data: Buffer): Promise<HttpResult> {
    const form = multipartBody({ key }, [{ name: 'file', fileName: 'soak.bin', data }]);
    return this.request('/files', {
      method: 'POST',
      body: form.parts,
      headers: { 'Content-Type': form.contentType, 'Content-Length': form.length },
    });
  }
}

async function runClients(url: string, prefix: string, seconds: number, figures: Figures): Promise<Client[]> {
  const deadline = Date.now() + seconds * 1000;
  const clients = Array.from({ length: CLIENTS }, (_, i) => new Client(url, `${prefix}c${i}/`, figures));
  await Promise.all(clients.map((c) => c.runUntil(deadline)));
  return clients;
}

/** Polls until `read()` is at most `limit`, or the time is up; returns the last reading. */
async function settle(read: () => Promise<number>, limit: number, timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  let value = await read();
  while (value > limit && Date.now() < until) {
    await delay(250);
    value = await read();
  }
  return value;
}

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** 32 clients for SOAK_SECONDS against the compiled service in its own process, then an audit of the bucket. */
describe('Load and soak (e2e)', () => {
  let s3: TestS3Server;
  let proxy: FaultProxy;
  let service: BuiltService;

  beforeAll(async () => {
    s3 = await startS3Server();
    proxy = await FaultProxy.start(s3.port);
    service = await startBuiltService(s3Env(proxy.endpoint, s3.bucket, { MAX_UPLOAD_BYTES: String(64 * MiB) }), {
      inspect: true,
    });
  });

  afterAll(async () => {
    await service?.stop();
    await proxy?.close();
    await s3?.stop();
  });

  async function readObject(key: string): Promise<{ sha: string; size: number }> {
    const out = await s3.s3.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of out.Body as Readable) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { sha: hash.digest('hex'), size };
  }

  async function bucketKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2({ client: s3.s3 }, { Bucket: s3.bucket, Prefix: prefix })) {
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    }
    return keys.sort();
  }

  /**
   * Memory and descriptors once idle: sockets to S3 closed, garbage collected. S3 and s3rver close idle keep-alive
   * connections after a few seconds, RGW does not: the proxy closes them, the same on both backends.
   */
  async function idleLevel(fdTarget: number) {
    await proxy.setMode({ kind: 'pass' }); // drops the open connections
    const fds = await settle(() => service.openFds(), fdTarget, 15_000);
    const memory = await service.collectGarbage();
    return { fds, rss: await service.rss(), heapUsed: memory.heapUsed, external: memory.external };
  }

  it(
    `should hold ${CLIENTS} clients for ${SOAK_SECONDS} s with zero 5xx, lose nothing and leak nothing`,
    async () => {
      const cold = { rss: await service.rss(), fds: await service.openFds() };

      // Warm up (code paths, pools, JIT): the level to come back to is the one after this.
      const warmup = new Figures();
      await runClients(service.url, 'warmup/', WARMUP_SECONDS, warmup);
      expect(warmup.failures).toEqual([]);
      const warm = await idleLevel(cold.fds);

      const figures = new Figures();
      const peak = { rss: 0, fds: 0 };
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak.rss = Math.max(peak.rss, await service.rss());
          peak.fds = Math.max(peak.fds, await service.openFds());
          await delay(200);
        }
      })();
      const started = Date.now();
      const clients = await runClients(service.url, 'soak/', SOAK_SECONDS, figures);
      const elapsed = (Date.now() - started) / 1000;
      sampling = false;
      await sampler;
      const after = await idleLevel(warm.fds);

      // Audit the bucket: every acknowledged upload byte-exact, every delete gone, nothing else, no open uploads.
      const mismatches: string[] = [];
      let verifiedBytes = 0;
      const live = clients.flatMap((c) => [...c.live]);
      for (const [key, stored] of live) {
        const object = await readObject(key);
        if (object.sha !== stored.sha) {
          mismatches.push(
            `${key}: stored ${object.size} B, expected ${stored.size} B after ${stored.history.join(', ')}`,
          );
        }
        verifiedBytes += object.size;
      }
      const deleted = clients.flatMap((c) => [...c.deleted]);
      for (const key of deleted) {
        const found = await s3.s3.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key })).then(
          () => true,
          (error: Error) => error.name !== 'NotFound',
        );
        if (found) {
          mismatches.push(`${key}: still there after its delete`);
        }
      }
      const keysInBucket = await bucketKeys('soak/');
      const openUploads = await listMultipartUploads(s3.s3, s3.bucket);

      const statuses = [...figures.statuses].sort().map(([name, n]) => `${name}: ${n}`);
      process.stdout.write(
        [
          '',
          `Load and soak: ${CLIENTS} clients for ${elapsed.toFixed(1)} s`,
          `  operations ${figures.operations} (${(figures.operations / elapsed).toFixed(1)}/s), ` +
            `uploaded ${mib(figures.bytesUp)}, downloaded ${mib(figures.bytesDown)}, 5xx ${figures.fiveXX}`,
          `  statuses: ${statuses.join(', ')}`,
          `  audit: ${live.length - mismatches.length}/${live.length} objects (${mib(verifiedBytes)}) SHA-256-identical, ` +
            `${deleted.length} deletes checked gone, ${keysInBucket.length} keys in the bucket, ` +
            `${openUploads.length} open multipart uploads`,
          `  open fds: cold ${cold.fds}, warm ${warm.fds}, peak ${peak.fds}, after ${after.fds}`,
          `  JS heap used after GC: warm ${mib(warm.heapUsed)}, after ${mib(after.heapUsed)}; ` +
            `external: warm ${mib(warm.external)}, after ${mib(after.external)}`,
          `  RSS: cold ${mib(cold.rss)}, warm ${mib(warm.rss)}, peak ${mib(peak.rss)}, after ${mib(after.rss)}`,
          '',
        ].join('\n'),
      );

      expect({ failures: figures.failures, mismatches }).toEqual({ failures: [], mismatches: [] });
      expect(figures.fiveXX).toBe(0);
      expect(figures.operations).toBeGreaterThan(CLIENTS);
      expect(keysInBucket).toEqual(live.map(([key]) => key).sort());
      expect(openUploads).toEqual([]);
      // No leak: descriptors and live memory back to the warm level.
      expect(after.fds).toBeLessThanOrEqual(warm.fds + 2);
      expect(after.heapUsed).toBeLessThanOrEqual(warm.heapUsed + 8 * MiB);
      expect(after.external).toBeLessThanOrEqual(warm.external + 8 * MiB);
      // RSS keeps the allocator's high-water mark (glibc does not hand freed memory back), so it is bounded rather
      // than compared: buffers are per part (UPLOAD_PART_SIZE x (UPLOAD_QUEUE_SIZE + 1) per upload), not per file.
      expect(peak.rss).toBeLessThan(1024 * MiB);
    },
    (SOAK_SECONDS + WARMUP_SECONDS + 180) * 1000,
  );
});
