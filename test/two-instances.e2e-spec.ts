import { randomBytes } from 'node:crypto';
import { encodeKey, s3Env, sha256 } from './support/app.js';
import { send } from './support/http.js';
import { startS3Server, type TestS3Server } from './support/s3-server.js';
import { startBuiltService, type BuiltService } from './support/built-service.js';

interface ListPage {
  items: { key: string; size: number }[];
  nextCursor: string | null;
}

/** Two service processes on one bucket, sharing nothing else: any instance can serve what another stored. */
describe('Two instances, one bucket (e2e)', () => {
  let s3: TestS3Server;
  let a: BuiltService;
  let b: BuiltService;

  beforeAll(async () => {
    s3 = await startS3Server();
    [a, b] = await Promise.all([
      startBuiltService(s3Env(s3.endpoint, s3.bucket)),
      startBuiltService(s3Env(s3.endpoint, s3.bucket)),
    ]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await s3?.stop();
  });

  const list = async (instance: BuiltService, query: Record<string, string>): Promise<ListPage> => {
    const res = await send(`${instance.url}/files?${new URLSearchParams(query).toString()}`);
    expect(res.status).toBe(200);
    return JSON.parse(res.body.toString()) as ListPage;
  };

  it('should list and serve through one instance what was uploaded through the other', async () => {
    const key = `two/${randomBytes(4).toString('hex')}/photo one.jpg`;
    const data = randomBytes(300_000);
    const put = await send(`${a.url}/files/${encodeKey(key)}`, {
      method: 'PUT',
      body: data,
      headers: { 'Content-Type': 'image/jpeg', 'Content-Length': data.length },
    });
    expect(put.status).toBe(201);

    const listed = await list(b, { prefix: key.slice(0, key.lastIndexOf('/') + 1) });
    expect(listed.items).toEqual([expect.objectContaining({ key, size: data.length })]);
    const got = await send(`${b.url}/files/${encodeKey(key)}`);
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('image/jpeg');
    expect(sha256(got.body)).toBe(sha256(data));

    expect((await send(`${b.url}/files/${encodeKey(key)}`, { method: 'DELETE' })).status).toBe(204);
    expect((await send(`${a.url}/files/${encodeKey(key)}`)).status).toBe(404);
  });

  it('should continue a listing on one instance from a cursor issued by the other', async () => {
    const prefix = `pages-${randomBytes(4).toString('hex')}/`;
    const keys = Array.from({ length: 7 }, (_, i) => `${prefix}${String(i).padStart(2, '0')}.txt`);
    for (const key of keys) {
      const body = Buffer.from(key);
      const res = await send(`${b.url}/files/${encodeKey(key)}`, {
        method: 'PUT',
        body,
        headers: { 'Content-Length': body.length },
      });
      expect(res.status).toBe(201);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      // Alternate instances on every page.
      const instance = page++ % 2 === 0 ? a : b;
      const result: ListPage = await list(instance, { prefix, limit: '2', ...(cursor ? { cursor } : {}) });
      seen.push(...result.items.map((i) => i.key));
      cursor = result.nextCursor;
    } while (cursor !== null);
    expect(seen).toEqual(keys);
    expect(page).toBe(4);
  });
});
