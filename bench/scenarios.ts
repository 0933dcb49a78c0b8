import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { DirectClient } from './direct-client.ts';
import { closedLoop } from './load.ts';
import { checkDigest, MiB, payloadStream } from './payload.ts';
import type { ServiceClient } from './service-client.ts';

export interface Settings {
  readonly quick: boolean;
  /** Bytes of the large upload and download. */
  readonly size: number;
  /** Rounds of each scenario (each round runs every target once, in rotating order). */
  readonly rounds: number;
  /** Length of one load run (small GETs / PUTs / listing). */
  readonly durationMs: number;
  /** Bytes of each of the 4 concurrent uploads. */
  readonly concurrentSize: number;
  readonly listKeys: number;
  /** Upload sizes of the memory profile. */
  readonly memorySizes: readonly number[];
}

/** One measurement: `value` is the headline number (higher is better); latencies for load scenarios. */
export interface Sample {
  readonly value: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  /** Work done, for CPU per GiB (transfers) or per request (load runs). */
  readonly bytes?: number;
  readonly requests?: number;
}

/** Issue 11's targets, judged against the floor in the same run (reported, never failing the run). */
export interface Targets {
  /** Minimum service/direct-S3 ratio of `value`. */
  readonly directRatio?: number;
  /** Minimum service/floor ratio of `value`. */
  readonly floorRatio?: number;
  /** Maximum service/floor ratio of CPU per GiB or per request. */
  readonly floorCpuRatio?: number;
  /** Maximum peak RSS of the service, MiB. */
  readonly peakRssMiB?: number;
  /** Maximum peak RSS of the service above its idle RSS (the memory profile's), MiB. */
  readonly peakOverIdleMiB?: number;
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly targets: Targets;
  /** The floor has no such mode (downloads by redirect): the scenario runs the service and direct S3 only. */
  readonly withoutFloor?: boolean;
  setup?(): Promise<void>;
  service(client: ServiceClient, round: number): Promise<Sample>;
  direct(client: DirectClient, round: number): Promise<Sample>;
}

export interface ScenarioContext {
  readonly settings: Settings;
  readonly direct: DirectClient;
  /** Queues a SHA-256 check of an uploaded object, run after the measurement. */
  check(key: string, size: number): void;
}

const SMALL = 4 * 1024;
const mib = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;

/** Times `run`, turning `bytes` moved into MiB/s. */
async function throughput(bytes: number, run: () => Promise<void>): Promise<Sample> {
  const start = performance.now();
  await run();
  return { value: bytes / MiB / ((performance.now() - start) / 1000), bytes };
}

function expectStatus(what: string, status: number, allowed: number[]): void {
  if (!allowed.includes(status)) {
    throw new Error(`${what}: HTTP ${status}`);
  }
}

export function createScenarios(ctx: ScenarioContext): Scenario[] {
  const { settings, direct } = ctx;
  const { size } = settings;
  const smallBody = randomBytes(SMALL);
  const listPrefix = 'bench-list/';

  const uploadScenario = (id: string, title: string, send: typeof putRaw): Scenario => ({
    id,
    title,
    unit: 'MiB/s',
    targets: { floorRatio: 0.95 },
    async service(client) {
      const key = `${client.name}/${id}.bin`;
      const sample = await throughput(size, () => send(client, key, size));
      ctx.check(key, size);
      return sample;
    },
    async direct(client) {
      const key = `direct/${id}.bin`;
      const sample = await throughput(size, () => client.upload(key, payloadStream(size)));
      ctx.check(key, size);
      return sample;
    },
  });

  const concurrentScenario = (
    id: string,
    how: string,
    send: typeof putRaw,
    targets: Scenario['targets'],
  ): Scenario => ({
    id,
    title: `4 concurrent uploads of ${mib(settings.concurrentSize)}, ${how}`,
    unit: 'MiB/s',
    targets,
    async service(client) {
      const keys = [0, 1, 2, 3].map((n) => `${client.name}/${id}-${n}.bin`);
      const sample = await throughput(4 * settings.concurrentSize, async () => {
        await Promise.all(keys.map((key) => send(client, key, settings.concurrentSize)));
      });
      keys.forEach((key) => ctx.check(key, settings.concurrentSize));
      return sample;
    },
    async direct(client) {
      const keys = [0, 1, 2, 3].map((n) => `direct/${id}-${n}.bin`);
      const sample = await throughput(4 * settings.concurrentSize, async () => {
        await Promise.all(keys.map((key) => client.upload(key, payloadStream(settings.concurrentSize))));
      });
      keys.forEach((key) => ctx.check(key, settings.concurrentSize));
      return sample;
    },
  });

  return [
    uploadScenario('upload-put', `upload ${mib(size)}, raw PUT`, putRaw),
    uploadScenario('upload-form', `upload ${mib(size)}, multipart form POST`, postForm),
    {
      id: 'download',
      title: `download ${mib(size)}`,
      unit: 'MiB/s',
      targets: { floorCpuRatio: 1.15 },
      setup: () => direct.upload('bench-source/large.bin', payloadStream(size)),
      service: (client) =>
        throughput(size, async () => checkDigest('download', await client.download('bench-source/large.bin'), size)),
      direct: (client) =>
        throughput(size, async () => checkDigest('download', await client.download('bench-source/large.bin'), size)),
    },
    {
      // The bytes skip the service: close to direct S3, with the service's CPU spent on one HEAD and a signature.
      id: 'download-redirect',
      title: `download ${mib(size)} by redirect (302 to S3)`,
      unit: 'MiB/s',
      targets: { directRatio: 0.9 },
      withoutFloor: true,
      setup: () => direct.upload('bench-source/large.bin', payloadStream(size)),
      service: (client) =>
        throughput(size, async () =>
          checkDigest('download by redirect', await client.downloadByRedirect('bench-source/large.bin'), size),
        ),
      direct: (client) =>
        throughput(size, async () => checkDigest('download', await client.download('bench-source/large.bin'), size)),
    },
    {
      id: 'small-get',
      title: '4 KiB GET, concurrency 32',
      unit: 'req/s',
      targets: { floorRatio: 0.85, peakOverIdleMiB: 60 },
      setup: () => direct.put('bench-source/small.bin', smallBody, SMALL),
      service: (client) =>
        load(32, settings.durationMs, async () => {
          const reply = await client.get('bench-source/small.bin');
          expectStatus('GET small', reply.status, [200]);
          expectSame(reply.body, smallBody);
        }),
      direct: (client) =>
        load(32, settings.durationMs, async () => expectSame(await client.get('bench-source/small.bin'), smallBody)),
    },
    {
      // New keys: one conditional PutObject tells the service the key was new (201).
      id: 'small-put',
      title: '4 KiB PUT of new keys, concurrency 16',
      unit: 'req/s',
      targets: { floorRatio: 0.85 },
      async service(client, round) {
        const sample = await load(16, settings.durationMs, async (worker, i) => {
          const reply = await client.put(`${client.name}/small/${round}/${worker}-${i}`, smallBody);
          expectStatus('PUT small', reply.status, [201]);
        });
        expectSame((await client.get(`${client.name}/small/${round}/0-0`)).body, smallBody);
        return sample;
      },
      async direct(client, round) {
        const sample = await load(16, settings.durationMs, (worker, i) =>
          client.put(`direct/small/${round}/${worker}-${i}`, smallBody, SMALL),
        );
        expectSame(await client.get(`direct/small/${round}/0-0`), smallBody);
        return sample;
      },
    },
    {
      // Existing keys: the service's conditional PutObject is refused (412) and it writes again to answer 200, two S3
      // requests where the floor sends one. No target: the created/replaced answer is the API's contract.
      id: 'small-replace',
      title: '4 KiB PUT replacing keys, concurrency 16',
      unit: 'req/s',
      targets: {},
      async service(client) {
        const sample = await load(16, settings.durationMs, async (worker, i) => {
          const reply = await client.put(`${client.name}/replace/${worker}-${i % 4}`, smallBody);
          // The floor answers 201 to every PUT; test/storage-requests.e2e-spec.ts pins the service's 200.
          expectStatus('PUT small replacing', reply.status, [200, 201]);
        });
        expectSame((await client.get(`${client.name}/replace/0-0`)).body, smallBody);
        return sample;
      },
      async direct(client) {
        const sample = await load(16, settings.durationMs, (worker, i) =>
          client.put(`direct/replace/${worker}-${i % 4}`, smallBody, SMALL),
        );
        expectSame(await client.get('direct/replace/0-0'), smallBody);
        return sample;
      },
    },
    {
      id: 'small-form',
      title: '4 KiB form POST, concurrency 16',
      unit: 'req/s',
      targets: { floorRatio: 0.85 },
      async service(client) {
        const sample = await load(16, settings.durationMs, async (worker, i) => {
          const key = `${client.name}/small-form/${worker}-${i % 50}`;
          const reply = await client.postForm(key, Readable.from([smallBody]), SMALL);
          expectSize(key, reply.size, SMALL);
        });
        expectSame((await client.get(`${client.name}/small-form/0-0`)).body, smallBody);
        return sample;
      },
      async direct(client) {
        const sample = await load(16, settings.durationMs, (worker, i) =>
          client.put(`direct/small-form/${worker}-${i % 50}`, smallBody, SMALL),
        );
        expectSame(await client.get('direct/small-form/0-0'), smallBody);
        return sample;
      },
    },
    concurrentScenario('concurrent-uploads', 'raw PUT', putRaw, { peakRssMiB: 260 }),
    // What browsers send: the form variant, whose memory the independent peer bench compares with its floor.
    concurrentScenario('concurrent-form-uploads', 'multipart form POST', postForm, {}),
    {
      id: 'list',
      title: `list ${settings.listKeys} keys in pages of 100`,
      unit: 'listings/s',
      targets: {},
      setup: () => createKeys(direct, listPrefix, settings.listKeys),
      service: (client) =>
        load(1, settings.durationMs / 2, async () => {
          const keys: string[] = [];
          let cursor: string | null = null;
          do {
            const page = await client.list(listPrefix, 100, cursor);
            keys.push(...page.items.map((item) => item.key));
            cursor = page.nextCursor;
          } while (cursor);
          expectListing(keys, settings.listKeys);
        }),
      direct: (client) =>
        load(1, settings.durationMs / 2, async () => {
          const keys: string[] = [];
          let token: string | undefined;
          do {
            const page = await client.list(listPrefix, 100, token);
            keys.push(...page.keys);
            token = page.next;
          } while (token);
          expectListing(keys, settings.listKeys);
        }),
    },
  ];
}

export function putRaw(client: ServiceClient, key: string, size: number): Promise<void> {
  return client.putStream(key, payloadStream(size), size).then((reply) => expectSize(key, reply.size, size));
}

export function postForm(client: ServiceClient, key: string, size: number): Promise<void> {
  return client.postForm(key, payloadStream(size), size).then((reply) => expectSize(key, reply.size, size));
}

async function load(
  concurrency: number,
  durationMs: number,
  operation: (worker: number, iteration: number) => Promise<void>,
): Promise<Sample> {
  const result = await closedLoop(concurrency, durationMs, operation);
  return { value: result.perSecond, p50Ms: result.p50Ms, p99Ms: result.p99Ms, requests: result.operations };
}

async function createKeys(direct: DirectClient, prefix: string, count: number): Promise<void> {
  const body = Buffer.from('listed');
  let next = 0;
  const worker = async () => {
    for (let n = next++; n < count; n = next++) {
      await direct.put(`${prefix}${String(n).padStart(5, '0')}`, body, body.length);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

function expectSize(key: string, actual: number, expected: number): void {
  if (actual !== expected) {
    throw new Error(`${key}: the service stored ${actual} bytes, expected ${expected}`);
  }
}

function expectSame(actual: Buffer, expected: Buffer): void {
  if (!actual.equals(expected)) {
    throw new Error(`small object: got ${actual.length} different bytes`);
  }
}

function expectListing(keys: string[], count: number): void {
  if (keys.length !== count || new Set(keys).size !== count) {
    throw new Error(`listing returned ${keys.length} keys (${new Set(keys).size} distinct), expected ${count}`);
  }
}
