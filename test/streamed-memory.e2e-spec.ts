import { createHash, randomBytes } from 'node:crypto';
import { s3Env } from './support/app.js';
import { startBuiltService, type BuiltService } from './support/built-service.js';
import { send } from './support/http.js';
import { startS3Server, type TestS3Server } from './support/s3-server.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The collections V8 reported (`--trace-gc`) in `text`. */
const collections = (text: string) => ({
  full: (text.match(/: Mark-Compact /g) ?? []).length,
  minor: (text.match(/: Scavenge /g) ?? []).length,
});

/**
 * A streamed body's chunks live outside the JS heap: without a minor collection now and then, V8 frees them with a
 * full mark-compact about every 30 MiB, which marks the whole heap (see src/storage/streamed-chunks.ts).
 */
describe('Streamed bodies and garbage collection (e2e)', () => {
  let s3: TestS3Server;
  let service: BuiltService;

  beforeAll(async () => {
    s3 = await startS3Server();
    service = await startBuiltService(s3Env(s3.endpoint, s3.bucket, { MAX_UPLOAD_BYTES: String(SIZE) }), {
      nodeOptions: ['--trace-gc'],
    });
  });

  afterAll(async () => {
    await service?.stop();
    await s3?.stop();
  });

  it('should free the chunks of an upload and two downloads with minor collections, not full ones', async () => {
    const body = randomBytes(SIZE);
    const before = service.output().length;
    const put = await send(`${service.url}/files/streamed.bin`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': SIZE },
      body,
      timeoutMs: 120_000,
    });
    expect(put.status).toBe(201);
    for (let i = 0; i < 2; i++) {
      const got = await send(`${service.url}/files/streamed.bin`, { timeoutMs: 120_000 });
      expect(got.status).toBe(200);
      expect(sha256(got.body)).toBe(sha256(body));
    }
    const gc = collections(service.output().slice(before));
    // 192 MiB streamed: a minor collection every 4 MiB; without them, six or more full ones and no minor one.
    expect(gc.minor).toBeGreaterThanOrEqual(40);
    expect(gc.full).toBeLessThanOrEqual(3);
  });
});
