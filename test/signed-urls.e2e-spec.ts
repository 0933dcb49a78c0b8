import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { encodeKey, randomKey, s3Env, sha256, startApp, serviceSuite } from './support/app.js';
import { request } from './support/openapi.js';
import { describeWithPresignedPuts, objectExists as existsIn, testBackend } from './support/s3-server.js';

interface SignedUrlBody {
  url: string;
  method: 'GET' | 'PUT' | 'POST';
  headers?: Record<string, string>;
  fields?: Record<string, string>;
  expiresAt: string;
}

const TTL_SECONDS = 900;

async function s3ErrorCode(res: Response): Promise<string> {
  return /<Code>([^<]+)<\/Code>/.exec(await res.text())?.[1] ?? `HTTP ${res.status}`;
}

/** Uploads `data` as the signed answer says: a PUT with its headers, or a POST form with its fields. */
async function sendUpload(body: SignedUrlBody, data: string | Uint8Array): Promise<number> {
  const res =
    body.method === 'PUT'
      ? await fetch(body.url, { method: 'PUT', headers: body.headers, body: data })
      : await fetch(body.url, {
          method: 'POST',
          body: form(body.fields!, typeof data === 'string' ? Buffer.from(data) : data),
        });
  await res.arrayBuffer();
  return res.status;
}

function form(fields: Record<string, string>, data: Uint8Array, fileName = 'upload.bin'): FormData {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    body.append(name, value);
  }
  body.append('file', new Blob([data]), fileName);
  return body;
}

describe(`Signed URLs (e2e against ${testBackend()})`, () => {
  const suite = serviceSuite({
    env: { SIGNED_URL_TTL_SECONDS: String(TTL_SECONDS), MAX_UPLOAD_BYTES: String(1024 * 1024) },
    // The SDK's AWS default, under which it would presign a PUT with the checksum of an empty body.
    tuning: { checksums: 'WHEN_SUPPORTED' },
  });

  const sign = (body: Record<string, unknown>) => request(suite.url).post('/signed-urls').send(body);

  async function signed(body: Record<string, unknown>): Promise<SignedUrlBody> {
    return (await sign(body).expect(201)).body as SignedUrlBody;
  }

  const objectExists = (key: string): Promise<boolean> => existsIn(suite.s3.s3, suite.s3.bucket, key);

  describe('downloads', () => {
    it('should sign a GET that serves the object byte-exact, for the default lifetime', async () => {
      const key = randomKey('photo 1.jpg');
      const data = randomBytes(50_000);
      await request(suite.url)
        .put(`/files/${encodeKey(key)}`)
        .set('Content-Type', 'image/jpeg')
        .send(data)
        .expect(201);
      const before = Date.now();
      const body = await signed({ key, operation: 'download' });
      expect(body).toEqual({ url: expect.any(String), method: 'GET', expiresAt: expect.any(String) });
      expect(new URL(body.url).origin).toBe(suite.s3.endpoint);
      const expiresAt = Date.parse(body.expiresAt);
      expect(expiresAt).toBeGreaterThan(before + (TTL_SECONDS - 2) * 1000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + TTL_SECONDS * 1000);
      expect(new URL(body.url).searchParams.get('X-Amz-Expires')).toBe(String(TTL_SECONDS));

      const res = await fetch(body.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/jpeg');
      expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(data));
    });

    it('should make S3 serve an attachment with the file name asked for', async () => {
      const key = randomKey('a.txt');
      await request(suite.url)
        .put(`/files/${encodeKey(key)}`)
        .send('x')
        .expect(201);
      const body = await signed({ key, operation: 'download', fileName: 'Rapport "final" é.txt', expiresIn: 60 });
      const res = await fetch(body.url);
      expect(res.headers.get('content-disposition')).toBe(
        `attachment; filename="Rapport \\"final\\" ?.txt"; filename*=UTF-8''Rapport%20%22final%22%20%C3%A9.txt`,
      );
    });

    describe('active content (the same inline allowlist as GET /files/{key})', () => {
      /** Stores `body` under a new key with this Content-Type, straight in S3 (as any other client could). */
      async function stored(
        contentType: string,
        name = 'page.html',
        body = '<script>alert(1)</script>',
      ): Promise<string> {
        const key = randomKey(name);
        await suite.s3.s3.send(
          new PutObjectCommand({ Bucket: suite.s3.bucket, Key: key, Body: body, ContentType: contentType }),
        );
        return key;
      }
      const follow = async (key: string, extra: Record<string, unknown> = {}) => {
        const res = await fetch((await signed({ key, operation: 'download', ...extra })).url);
        await res.arrayBuffer();
        return {
          status: res.status,
          type: res.headers.get('content-type'),
          disposition: res.headers.get('content-disposition'),
        };
      };

      it.each([
        ['image/png', 'image/png'],
        ['IMAGE/PNG', 'image/png'],
        ['text/plain; charset=UTF-8', 'text/plain; charset=utf-8'],
        ['application/pdf', 'application/pdf'],
        ['video/mp4', 'video/mp4'],
      ])('should let S3 serve %j inline, as %j', async (type, served) => {
        expect(await follow(await stored(type, 'a.bin'))).toEqual({ status: 200, type: served, disposition: null });
      });

      it.each([
        ['text/csv', 'text/csv'],
        ['application/zip', 'application/zip'],
        ['text/html', 'application/octet-stream'],
        ['text/html; charset=utf-8', 'application/octet-stream'],
        ['image/svg+xml', 'application/octet-stream'],
        ['application/xhtml+xml', 'application/octet-stream'],
        ['text/xml', 'application/octet-stream'],
        ['application/javascript', 'application/octet-stream'],
        ['text/plain; charset=utf-8, text/html', 'application/octet-stream'],
        ['image/png;a=b,text/html', 'application/octet-stream'],
      ])('should make S3 serve %j as an attachment of %j', async (type, served) => {
        const key = await stored(type);
        expect(await follow(key)).toEqual({ status: 200, type: served, disposition: 'attachment; filename=page.html' });
      });

      it('should keep serving the type seen at signing when the object is replaced by HTML', async () => {
        const key = await stored('image/png', 'a.png', 'png');
        const { url: signedUrl } = await signed({ key, operation: 'download' });
        await suite.s3.s3.send(
          new PutObjectCommand({
            Bucket: suite.s3.bucket,
            Key: key,
            Body: '<script>1</script>',
            ContentType: 'text/html',
          }),
        );
        const res = await fetch(signedUrl);
        expect([res.status, res.headers.get('content-type')]).toEqual([200, 'image/png']);
        expect(await res.text()).toBe('<script>1</script>');
      });

      it('should sign a key with no object yet as an attachment of application/octet-stream', async () => {
        const key = randomKey('later.html');
        const { url: signedUrl } = await signed({ key, operation: 'download' });
        expect((await fetch(signedUrl)).status).toBe(404);
        await suite.s3.s3.send(
          new PutObjectCommand({ Bucket: suite.s3.bucket, Key: key, Body: '<p>', ContentType: 'text/html' }),
        );
        const res = await fetch(signedUrl);
        expect([res.status, res.headers.get('content-type'), res.headers.get('content-disposition')]).toEqual([
          200,
          'application/octet-stream',
          'attachment; filename=later.html',
        ]);
      });

      it('should name the attachment fileName asks for, without format characters, and keep it safe', async () => {
        const key = await stored('text/html');
        expect(await follow(key, { fileName: 'invoice\u202Etxt.exe' })).toEqual({
          status: 200,
          type: 'application/octet-stream',
          disposition: 'attachment; filename=invoicetxt.exe',
        });
        expect(await follow(await stored('image/png', 'a.png'), { fileName: 'b.png' })).toEqual({
          status: 200,
          type: 'image/png',
          disposition: 'attachment; filename=b.png',
        });
      });
    });

    it('should stop working once expired', async () => {
      const key = randomKey();
      await request(suite.url)
        .put(`/files/${encodeKey(key)}`)
        .send('x')
        .expect(201);
      const body = await signed({ key, operation: 'download', expiresIn: 1 });
      expect(Date.parse(body.expiresAt) - Date.now()).toBeLessThanOrEqual(1000);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(body.expiresAt) - Date.now()) + 1100));
      const res = await fetch(body.url);
      expect(res.status).toBe(403);
      expect(await s3ErrorCode(res)).toBe('AccessDenied');
    });
  });

  describeWithPresignedPuts('uploads as presigned PUTs', () => {
    it('should sign a PUT with its Content-Type, without a checksum of an empty body', async () => {
      const key = randomKey('data.csv');
      const body = await signed({ key, operation: 'upload', contentType: 'text/csv', expiresIn: 120 });
      expect(body.method).toBe('PUT');
      expect(body.headers).toEqual({ 'Content-Type': 'text/csv' });
      const params = [...new URL(body.url).searchParams.keys()].map((k) => k.toLowerCase());
      expect(params.filter((k) => k.startsWith('x-amz-checksum') || k === 'x-amz-sdk-checksum-algorithm')).toEqual([]);
      expect(new URL(body.url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-type;host');

      const wrongType = await fetch(body.url, { method: 'PUT', headers: { 'Content-Type': 'text/html' }, body: 'a' });
      expect(await s3ErrorCode(wrongType)).toBe('SignatureDoesNotMatch');
      expect(await objectExists(key)).toBe(false);

      const data = randomBytes(200_000);
      const put = await fetch(body.url, { method: 'PUT', headers: body.headers, body: data });
      expect(put.status).toBe(200);
      const got = await request(suite.url)
        .get(`/files/${encodeKey(key)}`)
        .buffer(true)
        .parse((res, done) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => done(null, Buffer.concat(chunks)));
        })
        .expect(200);
      expect(got.headers['content-type']).toBe('text/csv');
      expect(sha256(got.body as Buffer)).toBe(sha256(data));
    });
  });

  describe('uploads', () => {
    /** The signed Content-Type: a PUT's header, or a POST form's field. */
    const signedType = (body: SignedUrlBody) => (body.headers ?? body.fields)!['Content-Type'];

    it.each([
      ['Text/CSV; Charset=UTF-8', 'text/csv; charset=utf-8'],
      ['image/png;name="a b"', 'image/png; name="a b"'],
    ])('should sign the Content-Type %j in its canonical form %j', async (contentType, canonical) => {
      const body = await signed({ key: randomKey(), operation: 'upload', contentType });
      expect(signedType(body)).toBe(canonical);
      const post = await signed({ key: randomKey(), operation: 'upload', contentType, maxBytes: 10 });
      expect(post.fields!['Content-Type']).toBe(canonical);
    });

    it('should default the Content-Type to application/octet-stream', async () => {
      const body = await signed({ key: randomKey(), operation: 'upload' });
      expect(signedType(body)).toBe('application/octet-stream');
    });

    it('should sign a POST policy when maxBytes is given, so S3 refuses bigger files', async () => {
      const key = randomKey('small.png');
      const body = await signed({ key, operation: 'upload', contentType: 'image/png', maxBytes: 1000 });
      expect(body).toEqual({
        url: `${suite.s3.endpoint}/${suite.s3.bucket}`,
        method: 'POST',
        fields: expect.objectContaining({ key, 'Content-Type': 'image/png', Policy: expect.any(String) }),
        expiresAt: expect.any(String),
      });
      const policy = JSON.parse(Buffer.from(body.fields!.Policy, 'base64').toString()) as {
        expiration: string;
        conditions: unknown[];
      };
      expect(policy.conditions).toContainEqual(['content-length-range', 0, 1000]);
      expect(Date.parse(policy.expiration)).toBe(Date.parse(body.expiresAt));

      const tooBig = await fetch(body.url, { method: 'POST', body: form(body.fields!, randomBytes(1001)) });
      expect(tooBig.status).toBe(400);
      expect(await s3ErrorCode(tooBig)).toBe('EntityTooLarge');
      expect(await objectExists(key)).toBe(false);

      const data = randomBytes(1000);
      const ok = await fetch(body.url, { method: 'POST', body: form(body.fields!, data) });
      expect(ok.status).toBe(204);
      const got = await fetch((await signed({ key, operation: 'download' })).url);
      expect(got.headers.get('content-type')).toBe('image/png');
      expect(sha256(new Uint8Array(await got.arrayBuffer()))).toBe(sha256(data));
    });

    it.each([
      'text/html',
      'Text/HTML; charset=utf-8',
      'image/svg+xml',
      'application/xhtml+xml',
      'application/xml',
      'text/xml',
      'text/javascript',
      'application/javascript',
      'application/x-javascript',
      'text/xsl',
    ])('should refuse to sign an upload of active content %j (PUT and POST) with 400', async (contentType) => {
      for (const extra of [{}, { maxBytes: 100 }]) {
        const res = await sign({ key: randomKey(), operation: 'upload', contentType, ...extra }).expect(400);
        expect(res.body.message).toMatch(/active content.*SIGNED_UPLOAD_ACTIVE_CONTENT=true/);
      }
    });

    it('should sign uploads of active content when SIGNED_UPLOAD_ACTIVE_CONTENT=true', async () => {
      const open = await startApp(s3Env(suite.s3.endpoint, suite.s3.bucket, { SIGNED_UPLOAD_ACTIVE_CONTENT: 'true' }));
      try {
        const key = randomKey('page.html');
        const put = (
          await request(open.url)
            .post('/signed-urls')
            .send({ key, operation: 'upload', contentType: 'text/html' })
            .expect(201)
        ).body as SignedUrlBody;
        expect(await sendUpload(put, '<p>')).toBeLessThan(300);
        // Served through a signed GET all the same as an attachment.
        const get = await fetch((await signed({ key, operation: 'download' })).url);
        expect([get.headers.get('content-type'), get.headers.get('content-disposition')]).toEqual([
          'application/octet-stream',
          'attachment; filename=page.html',
        ]);
      } finally {
        await open.app.close();
      }
    });

    it('should put keys under S3_PREFIX', async () => {
      const prefixed = await startApp(s3Env(suite.s3.endpoint, suite.s3.bucket, { S3_PREFIX: 'tenant-a' }));
      try {
        const key = randomKey('p.txt');
        const put = (await request(prefixed.url).post('/signed-urls').send({ key, operation: 'upload' }).expect(201))
          .body as SignedUrlBody;
        if (put.method === 'PUT') {
          expect(new URL(put.url).pathname).toBe(`/${suite.s3.bucket}/tenant-a/${encodeKey(key)}`);
        } else {
          expect(put.fields!.key).toBe(`tenant-a/${key}`);
        }
        const post = (
          await request(prefixed.url).post('/signed-urls').send({ key, operation: 'upload', maxBytes: 10 }).expect(201)
        ).body as SignedUrlBody;
        expect(post.fields!.key).toBe(`tenant-a/${key}`);
      } finally {
        await prefixed.app.close();
      }
    });
  });

  describe('bad requests', () => {
    it.each([
      ['a traversal key', { key: 'a/../b', operation: 'download' }, /\.\./],
      ['an empty key', { key: '', operation: 'download' }, /empty/],
      ['a control character', { key: 'a\u0000b', operation: 'upload' }, /control/],
      ['a key that is too long', { key: 'k'.repeat(1025), operation: 'upload' }, /1024/],
      ['no key', { operation: 'download' }, /key/],
      ['an unknown operation', { key: 'a', operation: 'delete' }, /operation/],
      ['expiresIn 0', { key: 'a', operation: 'download', expiresIn: 0 }, /expiresIn/],
      ['expiresIn over 7 days', { key: 'a', operation: 'download', expiresIn: 604_801 }, /expiresIn/],
      ['a fractional expiresIn', { key: 'a', operation: 'download', expiresIn: 1.5 }, /expiresIn/],
      ['expiresIn as a string', { key: 'a', operation: 'download', expiresIn: '60' }, /expiresIn/],
      ['maxBytes on a download', { key: 'a', operation: 'download', maxBytes: 10 }, /uploads/],
      ['a contentType on a download', { key: 'a', operation: 'download', contentType: 'text/plain' }, /uploads/],
      ['a cacheControl on a download', { key: 'a', operation: 'download', cacheControl: 'no-store' }, /uploads/],
      ['maxBytes over MAX_UPLOAD_BYTES', { key: 'a', operation: 'upload', maxBytes: 1024 * 1024 + 1 }, /maxBytes/],
      ['a malformed contentType', { key: 'a', operation: 'upload', contentType: 'text/html\r\nX: y' }, /contentType/],
      ...['text/plain; charset=utf-8, text/html', 'image/png;a=b,text/html', 'text/plain; a="é"', 'a/b; c=d; C=e'].map(
        (contentType): [string, Record<string, unknown>, RegExp] => [
          `contentType ${contentType}`,
          { key: 'a', operation: 'upload', contentType },
          /^contentType must/,
        ],
      ),
      ['${filename} in a POST key', { key: 'a/${filename}', operation: 'upload', maxBytes: 10 }, /filename/],
      ['an unknown property', { key: 'a', operation: 'download', acl: 'public-read' }, /acl/],
    ])('should answer 400 to %s', async (_name, body, reason) => {
      const res = await sign(body).expect(400);
      expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(reason) });
    });

    it('should answer 400 to malformed JSON, 415 to another media type, 413 to a huge body', async () => {
      const bad = await request(suite.url)
        .post('/signed-urls')
        .set('Content-Type', 'application/json')
        .send('{"key": ')
        .expect(400);
      expect(bad.body.message).toBe('request body is not valid JSON');
      const form = await request(suite.url).post('/signed-urls').type('form').send({ key: 'a' }).expect(415);
      expect(form.body.statusCode).toBe(415);
      await request(suite.url).post('/signed-urls').expect(415);
      await sign({ key: 'a', operation: 'download', padding: 'x'.repeat(20_000) }).expect(413);
    });
  });
  describe('with API keys', () => {
    const readWrite = 'rw-'.padEnd(32, 'x');
    const readOnly = 'ro-'.padEnd(32, 'y');

    const keyed = suite.withApp({ env: { API_KEYS: readWrite, API_KEYS_READONLY: readOnly } });

    const signWith = (apiKey: string | undefined, body: Record<string, unknown>) => {
      const req = request(keyed.url).post('/signed-urls');
      return (apiKey ? req.set('Authorization', `Bearer ${apiKey}`) : req).send(body);
    };

    it('should let a read-only key sign downloads only', async () => {
      const key = randomKey('ro.txt');
      await signWith(readOnly, { key, operation: 'download' }).expect(201);
      const refused = await signWith(readOnly, { key, operation: 'upload' }).expect(403);
      expect(refused.body).toEqual({
        statusCode: 403,
        error: 'Forbidden',
        message: expect.stringMatching(/read-only/),
      });
      await signWith(readWrite, { key, operation: 'upload' }).expect(201);
    });

    it('should refuse a request without a known key', async () => {
      await signWith(undefined, { key: randomKey(), operation: 'download' }).expect(401);
      await signWith('unknown-'.padEnd(32, 'z'), { key: randomKey(), operation: 'download' }).expect(401);
    });
  });
});
