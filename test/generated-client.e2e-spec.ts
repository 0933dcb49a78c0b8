import { randomBytes } from 'node:crypto';
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from './generated/openapi.js';
import { randomKey, sha256, serviceSuite } from './support/app.js';
import { assertMatchesOpenApi } from './support/openapi.js';

/** Every response the client gets is checked against openapi.json, as in the other e2e tests. */
const matchesOpenApi: Middleware = {
  async onResponse({ request, response }) {
    const { pathname, search } = new URL(request.url);
    const body = request.method === 'HEAD' ? new ArrayBuffer(0) : await response.clone().arrayBuffer();
    const isJson = /json/.test(response.headers.get('content-type') ?? '') && body.byteLength > 0;
    assertMatchesOpenApi({
      method: request.method,
      path: pathname + search,
      status: response.status,
      headers: Object.fromEntries(response.headers),
      json: isJson ? JSON.parse(Buffer.from(body).toString('utf8')) : undefined,
      hasBody: body.byteLength > 0,
    });
    return undefined;
  },
};

/** A client generated from openapi.json (openapi-typescript types + openapi-fetch): no hand-written requests. */
describe('Generated client (openapi-typescript + openapi-fetch)', () => {
  let client: Client<paths>;

  const suite = serviceSuite();

  beforeAll(() => {
    client = createClient<paths>({ baseUrl: suite.url });
    client.use(matchesOpenApi);
  });

  it('should upload (multipart and raw), list, download, sign, and delete', async () => {
    const folder = randomKey('').slice(0, -1);
    const photo = randomBytes(30_000);
    const uploaded = await client.POST('/files', {
      params: { query: { key: `${folder}/photo 1.png` } },
      body: { file: new File([photo], 'photo 1.png', { type: 'image/png' }) },
      bodySerializer: (body) => {
        const form = new FormData();
        form.append('file', body.file);
        return form;
      },
    });
    expect(uploaded.response.status).toBe(201);
    expect(uploaded.data).toEqual({
      key: `${folder}/photo 1.png`,
      size: photo.length,
      contentType: 'image/png',
      etag: expect.any(String),
    });

    const csv = Buffer.from('a,b\n1,2\n');
    const put = await client.PUT('/files/{key}', {
      params: {
        path: { key: `${folder}/sub/data.csv` },
        header: { 'Cache-Control': 'private, max-age=60', 'Content-Disposition': 'attachment; filename="report.csv"' },
      },
      headers: { 'Content-Type': 'text/csv', 'X-Meta-Owner': '42' },
      body: new Blob([csv]),
      bodySerializer: (body) => body,
    });
    expect(put.response.status).toBe(201);
    expect(put.data?.key).toBe(`${folder}/sub/data.csv`);

    const listed = await client.GET('/files', { params: { query: { prefix: `${folder}/`, delimiter: '/' } } });
    expect(listed.data?.items.map((item) => item.key)).toEqual([`${folder}/photo 1.png`]);
    expect(listed.data?.prefixes).toEqual([`${folder}/sub/`]);
    expect(listed.data?.nextCursor).toBeNull();

    const downloaded = await client.GET('/files/{key}', {
      params: { path: { key: `${folder}/photo 1.png` } },
      parseAs: 'arrayBuffer',
    });
    expect(downloaded.response.headers.get('content-type')).toBe('image/png');
    expect(sha256(new Uint8Array(downloaded.data!))).toBe(sha256(photo));

    const range = await client.GET('/files/{key}', {
      params: { path: { key: `${folder}/sub/data.csv` }, header: { Range: 'bytes=0-2' } },
      parseAs: 'text',
    });
    expect(range.response.status).toBe(206);
    expect(range.data).toBe('a,b');
    expect(range.response.headers.get('cache-control')).toBe('private, max-age=60');
    expect(range.response.headers.get('content-disposition')).toBe('attachment; filename=report.csv');
    expect(range.response.headers.get('x-meta-owner')).toBe('42');

    const signed = await client.POST('/signed-urls', {
      body: { key: `${folder}/sub/data.csv`, operation: 'download', expiresIn: 60 },
    });
    expect(signed.data?.method).toBe('GET');
    expect(Buffer.from(await (await fetch(signed.data!.url)).arrayBuffer()).equals(csv)).toBe(true);

    for (const key of [`${folder}/photo 1.png`, `${folder}/sub/data.csv`]) {
      const removed = await client.DELETE('/files/{key}', { params: { path: { key } } });
      expect(removed.response.status).toBe(204);
    }
    const gone = await client.HEAD('/files/{key}', { params: { path: { key: `${folder}/photo 1.png` } } });
    expect(gone.response.status).toBe(404);
    const empty = await client.GET('/files', { params: { query: { prefix: `${folder}/` } } });
    expect(empty.data?.items).toEqual([]);
  });

  it('should send a key with / as one %2F-encoded segment, the documented form, which the service takes', async () => {
    const key = `${randomKey('').slice(0, -1)}/a b/c.txt`;
    const sent: string[] = [];
    const record: Middleware = {
      onRequest({ request }) {
        sent.push(new URL(request.url).pathname);
        return undefined;
      },
    };
    client.use(record);
    try {
      const put = await client.PUT('/files/{key}', {
        params: { path: { key } },
        headers: { 'Content-Type': 'text/plain' },
        body: new Blob(['x']),
        bodySerializer: (body) => body,
      });
      expect(put.data?.key).toBe(key);
      const got = await client.GET('/files/{key}', { params: { path: { key } }, parseAs: 'text' });
      expect(got.data).toBe('x');
    } finally {
      client.eject(record);
    }
    const encoded = `/files/${key.replaceAll('/', '%2F').replaceAll(' ', '%20')}`;
    expect(sent).toEqual([encoded, encoded]);
  });

  it('should get a typed 302 to S3 with redirect=1, and the object from there', async () => {
    const key = randomKey('photo.png');
    const photo = randomBytes(20_000);
    await client.PUT('/files/{key}', {
      params: { path: { key } },
      headers: { 'Content-Type': 'image/png' },
      body: new Blob([photo]),
      bodySerializer: (body) => body,
    });
    const found = await client.GET('/files/{key}', {
      params: { path: { key }, query: { redirect: '1', download: 'true' } },
      redirect: 'manual',
      parseAs: 'stream',
    });
    expect(found.response.status).toBe(302);
    const res = await fetch(found.response.headers.get('location')!);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename=photo.png');
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(photo));
  });

  it('should update and delete only the version it read (If-Match), with 412 JSON otherwise', async () => {
    const key = randomKey();
    const put = (body: string, headers: { 'If-Match'?: string } = {}) =>
      client.PUT('/files/{key}', {
        params: { path: { key }, header: headers },
        body: new Blob([body]),
        bodySerializer: (b) => b,
      });
    const first = await put('v1');
    const etag = first.data!.etag;
    expect((await put('v2', { 'If-Match': etag })).response.status).toBe(200);
    // A second writer still holding the first version's ETag would lose the first one's update.
    const lost = await put('v2 from elsewhere', { 'If-Match': etag });
    expect(lost.response.status).toBe(412);
    expect(lost.error?.statusCode).toBe(412);
    const stale = await client.DELETE('/files/{key}', { params: { path: { key }, header: { 'If-Match': etag } } });
    expect(stale.response.status).toBe(412);
    const current = await client.HEAD('/files/{key}', { params: { path: { key } } });
    const removed = await client.DELETE('/files/{key}', {
      params: { path: { key }, header: { 'If-Match': current.response.headers.get('etag')! } },
    });
    expect(removed.response.status).toBe(204);
  });

  it('should copy, move and batch-delete', async () => {
    const folder = randomKey('').slice(0, -1);
    const uploaded = await client.PUT('/files/{key}', {
      params: { path: { key: `${folder}/a b.txt` } },
      body: new Blob(['hello'], { type: 'text/plain' }),
      bodySerializer: (b) => b,
    });
    expect(uploaded.response.status).toBe(201);
    const copied = await client.POST('/files/{key}/copy', {
      params: { path: { key: `${folder}/a b.txt` } },
      body: { to: `${folder}/copy.txt`, overwrite: false },
    });
    expect(copied.data).toEqual({
      key: `${folder}/copy.txt`,
      size: 5,
      contentType: uploaded.data!.contentType,
      etag: uploaded.data!.etag,
    });
    const again = await client.POST('/files/{key}/copy', {
      params: { path: { key: `${folder}/a b.txt` } },
      body: { to: `${folder}/copy.txt`, overwrite: false },
    });
    expect(again.error?.statusCode).toBe(409);
    const moved = await client.POST('/files/{key}/move', {
      params: { path: { key: `${folder}/copy.txt` }, header: { 'If-Match': copied.data!.etag } },
      body: { to: `${folder}/moved.txt` },
    });
    expect(moved.data).toMatchObject({ key: `${folder}/moved.txt`, from: `${folder}/copy.txt`, sourceDeleted: true });
    const removed = await client.POST('/files/delete', {
      body: { keys: [`${folder}/a b.txt`, `${folder}/moved.txt`] },
    });
    expect(removed.data).toEqual({
      deleted: 2,
      failed: 0,
      results: [
        { key: `${folder}/a b.txt`, deleted: true },
        { key: `${folder}/moved.txt`, deleted: true },
      ],
    });
    const empty = await client.GET('/files', { params: { query: { prefix: `${folder}/` } } });
    expect(empty.data?.items).toEqual([]);
  });

  it('should get typed errors', async () => {
    const missing = await client.GET('/files/{key}', { params: { path: { key: randomKey() } } });
    expect(missing.response.status).toBe(404);
    expect(missing.error).toEqual({ statusCode: 404, error: 'Not Found', message: 'no object with this key' });
    const bad = await client.GET('/files', { params: { query: { limit: 0 } } });
    expect(bad.error?.statusCode).toBe(400);
  });
});
