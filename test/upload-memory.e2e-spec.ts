import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { StorageService } from '../src/storage/storage.service.js';
import { encodeKey, eventually, randomKey, sha256, serviceSuite } from './support/app.js';
import { multipartBody, send } from './support/http.js';
import { listMultipartUploads, objectExists } from './support/s3-server.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const BUDGET = 2 * PART;

/** The process-wide upload memory budget (UPLOAD_MEMORY_BYTES): uploads over it wait, none fails or leaks. */
describe('Upload memory budget (e2e)', () => {
  let memory: StorageService['uploadMemory'];

  const suite = serviceSuite({
    env: { UPLOAD_PART_SIZE: String(PART), UPLOAD_MEMORY_BYTES: String(BUDGET) },
  });

  beforeAll(() => {
    memory = suite.app.get(StorageService).uploadMemory;
  });

  it('should store four concurrent multipart uploads over the budget exactly, never holding more than it', async () => {
    const bodies = [0, 1, 2, 3].map(() => randomBytes(3 * PART + 12345));
    const keys = bodies.map(() => randomKey());
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, memory.inUse)), 5);
    try {
      const answers = await Promise.all(
        bodies.map((body, i) => {
          if (i % 2 === 0) {
            return send(`${suite.url}/files/${encodeKey(keys[i])}`, {
              method: 'PUT',
              headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
              body,
              timeoutMs: 60_000,
            });
          }
          const form = multipartBody({ key: keys[i] }, [{ name: 'file', fileName: 'f.bin', data: body }]);
          return send(`${suite.url}/files`, {
            method: 'POST',
            headers: { 'content-type': form.contentType, 'content-length': form.length },
            body: form.parts,
            timeoutMs: 60_000,
          });
        }),
      );
      expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201]);
    } finally {
      clearInterval(watch);
    }
    expect(peak).toBeGreaterThan(PART);
    expect(peak).toBeLessThanOrEqual(BUDGET);
    expect(memory.inUse).toBe(0);
    for (const [i, key] of keys.entries()) {
      const got = await send(`${suite.url}/files/${encodeKey(key)}`, { timeoutMs: 30_000 });
      expect(got.status).toBe(200);
      expect(sha256(got.body)).toBe(sha256(bodies[i]));
    }
  }, 120_000);

  it('should give back the memory of an upload whose client goes away, and abort its multipart upload', async () => {
    const key = randomKey();
    const req = httpRequest(`${suite.url}/files/${encodeKey(key)}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(4 * PART) },
    });
    req.on('error', () => undefined);
    req.write(randomBytes(PART + MiB));
    await eventually(() => memory.inUse > 0);
    await eventually(async () => (await listMultipartUploads(suite.s3.s3, suite.s3.bucket, key)).length === 1, 20_000);
    const closed = new Promise((resolve) => req.once('close', resolve));
    req.destroy();
    await closed;
    await eventually(() => memory.inUse === 0, 20_000);
    await eventually(async () => (await listMultipartUploads(suite.s3.s3, suite.s3.bucket, key)).length === 0, 20_000);
    expect(await objectExists(suite.s3.s3, suite.s3.bucket, key)).toBe(false);
  }, 60_000);
});
