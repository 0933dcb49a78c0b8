import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { BuiltService } from './support/built-service.js';
import { RESERVED_PREFIX } from '../src/storage/reserved-keys.js';
import { encodeKey, sha256 } from './support/app.js';
import {
  describeWithNginx,
  forward,
  kitEnv,
  makePrivateNetwork,
  startEbNginx,
  startServiceInNetwork,
  viaNginx,
  type EbNginx,
  type Forwarder,
  type PrivateNetwork,
  type Reply,
} from './support/eb-nginx.js';
import { send } from './support/http.js';
import {
  liveMultipartUploads,
  objectExists,
  startS3Server,
  testBackend,
  testCredentials,
  type TestS3Server,
} from './support/s3-server.js';

const HOST = 'files.example.com';
const API_KEY = randomBytes(24).toString('hex');
const MiB = 1024 * 1024;

interface ListPage {
  items: { key: string; size: number }[];
  nextCursor: string | null;
}

const json = <T = Record<string, unknown>>(reply: Reply): T => JSON.parse(reply.body.toString()) as T;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Two service processes behind EB's nginx as a round-robin upstream (standing in for the load balancer in front of
 * two instances), one bucket, nothing else shared: whatever one instance issued or started, the other honours.
 */
describeWithNginx(`Two instances behind EB's nginx, one bucket (e2e against ${testBackend()})`, () => {
  let s3: TestS3Server;
  let network: PrivateNetwork;
  let toS3: Forwarder;
  let instances: BuiltService[];
  let nginx: EbNginx;

  beforeAll(async () => {
    network = makePrivateNetwork();
    s3 = await startS3Server();
    toS3 = await forward(network.hostAddress, s3.port);
    const credentials = testCredentials();
    const env = {
      ...kitEnv,
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: `http://${network.hostAddress}:${toS3.port}`,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      ALLOWED_HOSTS: HOST,
      API_KEYS: API_KEY,
      // No IMDS here: the health checker's Host is the nginx suite's subject.
      ALLOWED_HOSTS_FROM_EC2: 'false',
    };
    // Both are started before either failure is thrown, so that afterAll stops the one that did start.
    const started = await Promise.allSettled([
      startServiceInNetwork(network, env),
      startServiceInNetwork(network, env),
    ]);
    instances = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failure = started.find((s) => s.status === 'rejected');
    if (failure) {
      throw failure.reason;
    }
    nginx = await startEbNginx({
      servers: instances.map((i) => `${network.serviceAddress}:${i.port}`),
      // Test scaffolding: round-robin state shared by nginx's workers, so requests alternate strictly, and the
      // instance that answered named in a header.
      upstreamExtra: '    zone docker 64k;\n',
      httpExtra: 'add_header X-Instance $upstream_addr always;\n',
    });
  }, 120_000);

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all((instances ?? []).map((i) => i.stop()));
    await toS3?.close();
    await s3?.stop();
    network?.remove();
  });

  /** What the load balancer sends, with the API key unless `Authorization` is given (empty: none). */
  const headers = (extra: Record<string, string | number> = {}) => {
    const all: Record<string, string | number> = {
      Host: HOST,
      'X-Forwarded-Proto': 'https',
      Authorization: `Bearer ${API_KEY}`,
      ...extra,
    };
    if (all.Authorization === '') {
      delete all.Authorization;
    }
    return all;
  };
  /** One request through nginx; `served` names the instance that answered (0 or 1). */
  const call = async (
    method: string,
    target: string,
    extra: Record<string, string | number> = {},
    body?: Buffer,
  ): Promise<Reply & { served: number }> => {
    const reply = await viaNginx(nginx.port, method, target, headers(extra), body);
    const served = instances.findIndex((i) => reply.headers['x-instance'] === `${network.serviceAddress}:${i.port}`);
    return { ...reply, served };
  };
  /** The path of a URL the service issued for the public host. */
  const pathOf = (url: string) => {
    const parsed = new URL(url);
    expect(parsed.host).toBe(HOST);
    return parsed.pathname + parsed.search;
  };

  it('should list and serve through one instance what was uploaded through the other', async () => {
    const key = `two/${randomBytes(4).toString('hex')}/photo one.jpg`;
    const data = randomBytes(300_000);
    const put = await call('PUT', `/files/${encodeKey(key)}`, { 'Content-Type': 'image/jpeg' }, data);
    expect(put.status).toBe(201);
    const listed = await call('GET', `/files?prefix=${encodeURIComponent(key.slice(0, key.lastIndexOf('/') + 1))}`);
    expect(json<ListPage>(listed).items).toEqual([expect.objectContaining({ key, size: data.length })]);
    const got = await call('GET', `/files/${encodeKey(key)}`);
    expect({ status: got.status, type: got.headers['content-type'] }).toEqual({ status: 200, type: 'image/jpeg' });
    expect(sha256(got.body)).toBe(sha256(data));
    // Round robin: each request went to the other instance than the one before.
    expect([put.served, listed.served, got.served]).toEqual([put.served, 1 - put.served, put.served]);
    expect((await call('DELETE', `/files/${encodeKey(key)}`)).status).toBe(204);
    expect((await call('GET', `/files/${encodeKey(key)}`)).status).toBe(404);
  });

  it('should continue a listing on one instance from a cursor issued by the other', async () => {
    const prefix = `pages-${randomBytes(4).toString('hex')}/`;
    const keys = Array.from({ length: 7 }, (_, i) => `${prefix}${String(i).padStart(2, '0')}.txt`);
    for (const key of keys) {
      expect((await call('PUT', `/files/${encodeKey(key)}`, {}, Buffer.from(key))).status).toBe(201);
    }
    const seen: string[] = [];
    const servedBy: number[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ prefix, limit: '2', ...(cursor ? { cursor } : {}) });
      const page = await call('GET', `/files?${query.toString()}`);
      expect(page.status).toBe(200);
      const result: ListPage = json<ListPage>(page);
      seen.push(...result.items.map((i) => i.key));
      servedBy.push(page.served);
      cursor = result.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual(keys);
    expect(servedBy).toEqual([0, 1, 0, 1].map((i) => (i + servedBy[0]) % 2));
  });

  it('should honour a signed upload URL issued by one instance and a download URL issued by the other', async () => {
    const key = `signed/${randomBytes(4).toString('hex')}.txt`;
    const data = randomBytes(50_000);
    const up = await call(
      'POST',
      '/signed-urls',
      { 'Content-Type': 'application/json' },
      Buffer.from(JSON.stringify({ key, operation: 'upload', contentType: 'text/plain' })),
    );
    expect(up.status).toBe(201);
    // A PUT with its headers, or (where the backend acts on unsigned headers, as RGW) a POST form with its fields.
    const signed = json<{
      url: string;
      method: 'PUT' | 'POST';
      headers?: Record<string, string>;
      fields?: Record<string, string>;
    }>(up);
    const form = new FormData();
    for (const [name, value] of Object.entries(signed.fields ?? {})) {
      form.append(name, value);
    }
    form.append('file', new Blob([data]), 'upload.txt');
    const sent = await fetch(
      signed.url,
      signed.method === 'PUT' ? { method: 'PUT', headers: signed.headers, body: data } : { method: 'POST', body: form },
    );
    await sent.arrayBuffer();
    expect(sent.status).toBeLessThan(300);
    const down = await call(
      'POST',
      '/signed-urls',
      { 'Content-Type': 'application/json' },
      Buffer.from(JSON.stringify({ key, operation: 'download' })),
    );
    expect(down.status).toBe(201);
    expect(down.served).toBe(1 - up.served);
    const got = await send(json<{ url: string }>(down).url);
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(sha256(data));
  });

  it("should complete a multipart upload whose Companion requests (@uppy/aws-s3's sequence) alternate instances", async () => {
    const created = await call(
      'POST',
      '/upload-sessions',
      { 'Content-Type': 'application/json' },
      Buffer.from(JSON.stringify({ keyPrefix: 'uppy/', contentTypes: ['video/*'] })),
    );
    expect(created.status).toBe(201);
    const base = `${pathOf(json<{ url: string }>(created).url)}/s3`;
    // The session token is the credential: no API key on these requests, as from the browser.
    const browser = { Authorization: '', Origin: 'https://app.example.com' };
    const served = new Set<number>();
    const companion = async (method: string, target: string, body?: unknown) => {
      const reply = await call(
        method,
        `${base}${target}`,
        { ...browser, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
      );
      served.add(reply.served);
      expect({ target, status: reply.status }).toEqual({ target, status: 200 });
      return json(reply);
    };
    const file = randomBytes(12 * MiB);
    const partSize = 5 * MiB;
    const started = await companion('POST', '/multipart', { filename: 'film.mp4', type: 'video/mp4', metadata: {} });
    const { key, uploadId } = started as { key: string; uploadId: string };
    const query = `?key=${encodeURIComponent(key)}`;
    const upload = `/multipart/${encodeURIComponent(uploadId)}`;
    const parts: { PartNumber: number; ETag: string }[] = [];
    for (let n = 1; n * partSize - partSize < file.length; n++) {
      const { url } = (await companion('GET', `${upload}/${n}${query}`)) as { url: string };
      const body = file.subarray((n - 1) * partSize, n * partSize);
      // The service's own part route (through nginx, so it alternates too), or a presigned S3 URL.
      const put = url.startsWith(`https://${HOST}/`)
        ? await call('PUT', pathOf(url), { ...browser, 'Content-Length': body.length }, body)
        : await send(url, { method: 'PUT', headers: { 'Content-Length': body.length }, body });
      expect(put.status).toBe(200);
      parts.push({ PartNumber: n, ETag: String(put.headers.etag) });
      if (n === 2) {
        // Uppy lists the parts S3 holds when it resumes (after a pause or a reload).
        const listed = (await companion('GET', `${upload}${query}`)) as unknown as { PartNumber: number }[];
        expect(listed.map((p) => p.PartNumber)).toEqual([1, 2]);
      }
    }
    const done = await companion('POST', `${upload}/complete${query}`, { parts });
    expect(done).toEqual(expect.objectContaining({ key, bucket: s3.bucket }));
    expect(served).toEqual(new Set([0, 1]));
    const got = await call('GET', `/files/${encodeKey(key)}`);
    expect(sha256(got.body)).toBe(sha256(file));
    expect(await liveMultipartUploads(s3.s3, s3.bucket, key)).toEqual([]);
  }, 60_000);

  /** tus requests: each names the instance that answered. */
  const tus = (method: string, target: string, extra: Record<string, string | number> = {}, body?: Buffer) =>
    call(method, target, { 'Tus-Resumable': '1.0.0', ...extra }, body);
  const patch = (target: string, offset: number, body: Buffer) =>
    tus('PATCH', target, { 'Upload-Offset': offset, 'Content-Type': 'application/offset+octet-stream' }, body);
  const createTus = async (size: number, name: string, auth?: string) => {
    const metadata = `filename ${Buffer.from(name).toString('base64')}`;
    const created = await tus('POST', '/uploads', {
      'Upload-Length': size,
      'Upload-Metadata': metadata,
      ...(auth ? { Authorization: `Bearer ${auth}` } : {}),
    });
    expect(created.status).toBe(201);
    const location = String(created.headers.location);
    return { target: location.startsWith('/') ? location : pathOf(location), served: created.served };
  };
  const keyOf = (target: string) => decodeURIComponent(target.replace(/^\/uploads\//, ''));
  /** A PATCH whose body goes in `pieces`, `gapMs` apart: it holds the upload's lock meanwhile. */
  const slowPatch = (target: string, offset: number, body: Buffer, pieces: number, gapMs: number) =>
    new Promise<Reply & { served: number }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: nginx.port,
          method: 'PATCH',
          path: target,
          agent: false,
          headers: headers({
            'Tus-Resumable': '1.0.0',
            'Upload-Offset': offset,
            'Content-Type': 'application/offset+octet-stream',
            'Content-Length': body.length,
          }),
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const served = instances.findIndex(
              (i) => res.headers['x-instance'] === `${network.serviceAddress}:${i.port}`,
            );
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0), served });
          });
        },
      );
      req.on('error', reject);
      const size = Math.ceil(body.length / pieces);
      const next = (i: number) => {
        const piece = body.subarray(i * size, (i + 1) * size);
        if (i === pieces - 1) {
          req.end(piece);
        } else {
          req.write(piece);
          setTimeout(() => next(i + 1), gapMs);
        }
      };
      next(0);
    });

  it('should complete a tus upload started on one instance and resumed on the other, with the right SHA-256', async () => {
    const file = randomBytes(12 * MiB + 12345);
    const { target, served } = await createTus(file.length, 'resumed.bin');
    // Under 5 MiB: the bytes wait in the `.part` object, which the other instance must pick up.
    const first = await patch(target, 0, file.subarray(0, 3 * MiB));
    expect({ status: first.status, offset: first.headers['upload-offset'] }).toEqual({
      status: 204,
      offset: String(3 * MiB),
    });
    const head = await tus('HEAD', target);
    expect(head.headers['upload-offset']).toBe(String(3 * MiB));
    const second = await patch(target, 3 * MiB, file.subarray(3 * MiB, 9 * MiB));
    expect(second.headers['upload-offset']).toBe(String(9 * MiB));
    const last = await patch(target, 9 * MiB, file.subarray(9 * MiB));
    expect(last.status).toBe(204);
    expect([served, first.served, head.served, second.served, last.served]).toEqual(
      [0, 1, 0, 1, 0].map((i) => (i + served) % 2),
    );
    const got = await call('GET', `/files/${encodeKey(keyOf(target))}`);
    expect(createHash('sha256').update(got.body).digest('hex')).toBe(sha256(file));
  }, 30_000);

  it('should never answer 204 to two PATCHes of one upload at one offset through both instances', async () => {
    const size = 2 * MiB;
    const [mine, theirs, rest] = [randomBytes(MiB), randomBytes(MiB), randomBytes(MiB)];
    const { target } = await createTus(size, 'raced.bin');
    // The first PATCH sends half its body, then stalls a while: it holds the upload meanwhile.
    const slow = slowPatch(target, 0, mine, 2, 1500);
    await sleep(300);
    const fast = await patch(target, 0, theirs);
    const first = await slow;
    expect(fast.served).toBe(1 - first.served);
    // One is told its bytes are in; the other waits, then learns the offset moved (409) or that it is busy (423).
    expect(first.status).toBe(204);
    expect([409, 423]).toContain(fast.status);
    const head = await tus('HEAD', target);
    expect(head.headers['upload-offset']).toBe(String(MiB));
    expect((await patch(target, MiB, rest)).status).toBe(204);
    const got = await call('GET', `/files/${encodeKey(keyOf(target))}`);
    expect(sha256(got.body)).toBe(sha256(Buffer.concat([mine, rest])));
  }, 30_000);

  it("should keep a long PATCH's lock renewed, so no waiter on either instance takes it over", async () => {
    const file = randomBytes(MiB);
    const { target } = await createTus(file.length, 'long.bin');
    const lockKey = `${RESERVED_PREFIX}${createHash('sha256').update(keyOf(target)).digest('base64url')}.lock`;
    // Longer than a lock stays fresh (8 s) unless renewed, and than the three waiters below: 11 pieces, 1 s apart.
    const long = slowPatch(target, 0, file, 11, 1000);
    await sleep(300);
    const waiters: { status: number; served: number }[] = [];
    let lock: { write?: number } = {};
    while (waiters.length < 3) {
      const head = await tus('HEAD', target);
      waiters.push({ status: head.status, served: head.served });
      if (waiters.length === 2) {
        const read = await s3.s3.send(new GetObjectCommand({ Bucket: s3.bucket, Key: lockKey }));
        lock = JSON.parse((await read.Body?.transformToString()) ?? '{}') as { write?: number };
      }
    }
    const holder = await long;
    expect(waiters.map((w) => w.status)).toEqual([423, 423, 423]);
    expect(new Set(waiters.map((w) => w.served))).toEqual(new Set([0, 1]));
    // Written once, then renewed every 2 s: after two waiters (over 6 s), at least three writes.
    expect(lock.write).toBeGreaterThanOrEqual(3);
    expect({ status: holder.status, offset: holder.headers['upload-offset'] }).toEqual({
      status: 204,
      offset: String(MiB),
    });
    const got = await call('GET', `/files/${encodeKey(keyOf(target))}`);
    expect(sha256(got.body)).toBe(sha256(file));
    expect(await objectExists(s3.s3, s3.bucket, lockKey)).toBe(false);
  }, 30_000);

  it("should take over a lock whose holder died, once it is stale, within tus-js-client's retries", async () => {
    const file = randomBytes(MiB);
    const { target } = await createTus(file.length, 'orphaned.bin');
    // A lock as a holder that then died left it: nobody renews it.
    const lockKey = `${RESERVED_PREFIX}${createHash('sha256').update(keyOf(target)).digest('base64url')}.lock`;
    await s3.s3.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: lockKey,
        Body: '{"holder":"gone"}',
        ContentType: 'application/json',
      }),
    );
    const started = Date.now();
    const statuses: number[] = [];
    // tus-js-client's default retryDelays, each retry beginning with a HEAD.
    for (const delay of [0, 0, 1000, 3000, 5000]) {
      await sleep(delay);
      const head = await tus('HEAD', target);
      statuses.push(head.status);
      if (head.status !== 423) {
        break;
      }
    }
    const seconds = (Date.now() - started) / 1000;
    expect(statuses.at(-1)).toBe(200);
    expect(statuses.slice(0, -1).every((s) => s === 423)).toBe(true);
    // Stale after 8 s unchanged; each waiting request waits up to 3 s.
    expect(seconds).toBeGreaterThanOrEqual(7.5);
    expect(seconds).toBeLessThan(14);
    expect((await patch(target, 0, file)).status).toBe(204);
    const got = await call('GET', `/files/${encodeKey(keyOf(target))}`);
    expect(sha256(got.body)).toBe(sha256(file));
    // Released when the request ended.
    expect(await objectExists(s3.s3, s3.bucket, lockKey)).toBe(false);
  }, 30_000);

  it('should resume on one instance an upload to a key the other instance had cached an earlier upload of', async () => {
    const created = await call(
      'POST',
      '/upload-sessions',
      { 'Content-Type': 'application/json' },
      Buffer.from(JSON.stringify({ key: `again/${randomBytes(4).toString('hex')}.bin` })),
    );
    const { token } = json<{ token: string }>(created);
    const [one, two] = [randomBytes(2 * MiB), randomBytes(3 * MiB)];
    const sessionTus = (method: string, target: string, extra: Record<string, string | number> = {}, body?: Buffer) =>
      tus(method, target, { Authorization: `Bearer ${token}`, ...extra }, body);
    const first = await createTus(one.length, 'one.bin', token);
    const half = await sessionTus(
      'PATCH',
      first.target,
      { 'Upload-Offset': 0, 'Content-Type': 'application/offset+octet-stream' },
      one.subarray(0, MiB),
    );
    // This instance now knows the first upload (its `.info`)...
    const head = await sessionTus('HEAD', first.target);
    expect(head.served).toBe(first.served);
    const end = await sessionTus(
      'PATCH',
      first.target,
      { 'Upload-Offset': MiB, 'Content-Type': 'application/offset+octet-stream' },
      one.subarray(MiB),
    );
    expect([half.status, head.status, end.status]).toEqual([204, 200, 204]);
    // ...while the other finishes it and starts the second upload to the same key.
    await call('GET', '/health/live');
    const second = await createTus(two.length, 'two.bin', token);
    expect(second.served).toBe(1 - first.served);
    expect(second.target).toBe(first.target);
    const write = await sessionTus(
      'PATCH',
      second.target,
      { 'Upload-Offset': 0, 'Content-Type': 'application/offset+octet-stream' },
      two,
    );
    expect({ status: write.status, served: write.served }).toEqual({ status: 204, served: first.served });
    const got = await call('GET', `/files/${encodeKey(keyOf(second.target))}`);
    expect(sha256(got.body)).toBe(sha256(two));
  }, 30_000);
});
