import { FLAG_VALUES } from '../src/http/download-options.js';
import { encodeKey, randomKey, serviceSuite } from './support/app.js';
import { OPENAPI_DOCUMENT, request } from './support/openapi.js';
import { objectExists, testBackend } from './support/s3-server.js';

interface Parameter {
  name: string;
  in: string;
  description: string;
  schema: { type: string; enum?: string[]; example?: string };
}

const operation = (path: string, method: string) =>
  OPENAPI_DOCUMENT.paths[path][method] as unknown as {
    description?: string;
    parameters: Parameter[];
    requestBody?: { content: Record<string, unknown> };
  };
const parameter = (path: string, method: string, name: string): Parameter =>
  operation(path, method).parameters.find((p) => p.name === name)!;

/** What a client generated from openapi.json sends, and what the service does with it (issue 14, items 7-10). */
describe(`OpenAPI consumers (e2e against ${testBackend()})`, () => {
  const suite = serviceSuite();

  describe('keys with / (documented as %2F)', () => {
    it('should document the key as one %2F-encoded segment, with an unencoded example value', () => {
      const key = parameter('/files/{key}', 'get', 'key');
      expect(key.description).toContain('`/` as `%2F`');
      expect(key.schema.example).toBe('photos/2026/a b.jpg');
    });

    it('should treat %2F and / in the path as the same key', async () => {
      const key = randomKey('sub dir/a b.txt');
      await request(suite.url)
        .put(`/files/${encodeURIComponent(key)}`)
        .send('both')
        .expect(201);
      const got = await request(suite.url)
        .get(`/files/${encodeKey(key)}`)
        .expect(200);
      expect(got.text).toBe('both');
      const listed = await request(suite.url)
        .get(`/files?prefix=${encodeURIComponent(key)}`)
        .expect(200);
      expect(listed.body.items.map((item: { key: string }) => item.key)).toEqual([key]);
    });
  });

  describe('download and redirect: schema, description and validation agree', () => {
    it.each(['download', 'redirect'])('should document %s as exactly the accepted values', (name) => {
      for (const method of ['get', 'head']) {
        const documented = parameter('/files/{key}', method, name);
        expect(documented.schema).toEqual({ type: 'string', enum: [...FLAG_VALUES] });
        expect(documented.description).toContain('any other value is a 400');
      }
    });

    it.each([
      ['1', 'attachment'],
      ['true', 'attachment'],
      ['0', 'inline'],
      ['false', 'inline'],
    ])('should take download=%s (%s)', async (value, disposition) => {
      const key = randomKey('a.png');
      await request(suite.url)
        .put(`/files/${encodeKey(key)}`)
        .set('Content-Type', 'image/png')
        .send('png')
        .expect(201);
      for (const method of ['get', 'head'] as const) {
        const res = await request(suite.url)
          [method](`/files/${encodeKey(key)}?download=${value}`)
          .expect(200);
        expect(res.headers['content-disposition']).toMatch(new RegExp(`^${disposition};`));
      }
    });

    it.each(['', 'yes', 'TRUE', '2', 'attachment'])('should refuse download=%j with 400', async (value) => {
      const key = randomKey('a.png');
      await request(suite.url)
        .put(`/files/${encodeKey(key)}`)
        .send('png')
        .expect(201);
      const res = await request(suite.url)
        .get(`/files/${encodeKey(key)}?download=${value}`)
        .expect(400);
      expect(res.body.message).toBe('download must be one of 1, true, 0, false');
      await request(suite.url)
        .head(`/files/${encodeKey(key)}?download=${value}`)
        .expect(400);
    });

    it('should check download before asking S3, so a missing key with a bad value is a 400', async () => {
      await request(suite.url)
        .get(`/files/${encodeKey(randomKey())}?download=yes`)
        .expect(400);
    });
  });

  describe('raw PUT media types', () => {
    it('should list application/octet-stream first, which generated clients send', () => {
      expect(Object.keys(operation('/files/{key}', 'put').requestBody!.content)).toEqual([
        'application/octet-stream',
        '*/*',
      ]);
    });

    it.each(['*/*', 'image/*', '*/json', '*/*; q=0.8'])(
      'should refuse the wildcard Content-Type %j with 400 and store nothing',
      async (contentType) => {
        const key = randomKey();
        const res = await request(suite.url)
          .put(`/files/${encodeKey(key)}`)
          .set('Content-Type', contentType)
          .send('x');
        expect(res.status).toBe(400);
        expect(res.body.message).toBe('Content-Type must be a media type, not a wildcard such as */* or image/*');
        expect(await objectExists(suite.s3.s3, suite.s3.bucket, key)).toBe(false);
      },
    );

    it('should refuse a form file part of type */* with 400 and store nothing', async () => {
      const key = randomKey();
      const res = await request(suite.url)
        .post(`/files?key=${encodeURIComponent(key)}`)
        .attach('file', Buffer.from('x'), { filename: 'a.bin', contentType: '*/*' });
      expect(res.status).toBe(400);
      expect(await objectExists(suite.s3.s3, suite.s3.bucket, key)).toBe(false);
    });
  });

  describe('form field order', () => {
    it('should say in the operation that key goes first or in the query, and show the query form', () => {
      const upload = operation('/files', 'post');
      expect(upload.description).toMatch(/POST \/files\?key=/);
      expect(upload.description).toMatch(/only before the `file` part/);
      expect(parameter('/files', 'post', 'key').schema.example).toBe('photos/2026/a.jpg');
    });

    it('should refuse a key field after the file, saying where it belongs', async () => {
      const key = randomKey();
      const res = await request(suite.url)
        .post('/files')
        .attach('file', Buffer.from('x'), 'a.txt')
        .field('key', key)
        .expect(400);
      expect(res.body.message).toBe('form field "key" must come before the file part, or go in the query');
      expect(await objectExists(suite.s3.s3, suite.s3.bucket, key)).toBe(false);
    });
  });
});
