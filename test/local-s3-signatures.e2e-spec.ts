import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { randomBytes, randomUUID } from 'node:crypto';
import { createDevS3Client } from '../dev/s3-client.ts';
import { s3Suite } from './support/app.js';
import { describeOnS3rver, objectExists } from './support/s3-server.js';

/** The presigned-URL and POST-policy checks the development S3 server adds to s3rver (which accepts any signature). */
describeOnS3rver('LocalS3Server signatures', () => {
  const suite = s3Suite();
  let s3: S3Client;
  let bucket: string;

  beforeAll(() => {
    ({ s3, bucket } = suite.s3);
  });

  const newKey = () => `sig/${randomUUID()}/a b+ü.txt`;

  const exists = (key: string): Promise<boolean> => objectExists(s3, bucket, key);

  async function errorCode(response: Response): Promise<string> {
    return /<Code>([^<]+)<\/Code>/.exec(await response.text())?.[1] ?? `HTTP ${response.status}`;
  }

  function postForm(fields: Record<string, string>, file: Uint8Array, fileName = 'f.bin'): FormData {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) {
      form.append(name, value);
    }
    form.append('file', new Blob([file]), fileName);
    return form;
  }

  describe('presigned URLs', () => {
    it('should serve a presigned GET and refuse it once tampered with', async () => {
      const key = newKey();
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'hello' }));
      const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: 60 });
      const ok = await fetch(url);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe('hello');

      const otherKey = url.replace(/\/sig\/[^/]+\//, `/sig/${randomUUID()}/`);
      expect(await errorCode(await fetch(otherKey))).toBe('SignatureDoesNotMatch');
      const longer = url.replace(/X-Amz-Expires=60/, 'X-Amz-Expires=600');
      expect(await errorCode(await fetch(longer))).toBe('SignatureDoesNotMatch');
      const forged = createDevS3Client(suite.s3.endpoint, { accessKeyId: 'S3RVER', secretAccessKey: 'not-the-secret' });
      const forgedUrl = await getSignedUrl(forged, new GetObjectCommand({ Bucket: bucket, Key: key }), {
        expiresIn: 60,
      });
      forged.destroy();
      expect(await errorCode(await fetch(forgedUrl))).toBe('SignatureDoesNotMatch');
    });

    it('should refuse an expired URL', async () => {
      const key = newKey();
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
      const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), {
        expiresIn: 60,
        signingDate: new Date(Date.now() - 61_000),
      });
      const res = await fetch(url);
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe('AccessDenied');
    });

    it('should accept a presigned PUT only with the Content-Type it was signed with', async () => {
      const key = newKey();
      const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: key, ContentType: 'text/csv' }), {
        expiresIn: 60,
        signableHeaders: new Set(['content-type']),
      });
      const wrong = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'text/html' }, body: 'a,b' });
      expect(await errorCode(wrong)).toBe('SignatureDoesNotMatch');
      expect(await exists(key)).toBe(false);
      const right = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'text/csv' }, body: 'a,b' });
      expect(right.status).toBe(200);
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.ContentType).toBe('text/csv');
    });
  });

  describe('POST policies', () => {
    const post = (key: string, maxBytes: number, expires = 60) =>
      createPresignedPost(s3, {
        Bucket: bucket,
        Key: key,
        Conditions: [['content-length-range', 0, maxBytes]],
        Fields: { 'Content-Type': 'image/png' },
        Expires: expires,
      });

    it('should store a file within the policy, with its Content-Type, byte-exact', async () => {
      const key = newKey();
      const { url, fields } = await post(key, 1000);
      const data = randomBytes(1000);
      const res = await fetch(url, { method: 'POST', body: postForm(fields, data) });
      expect(res.status).toBe(204);
      expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]{32}"$/);
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      expect(got.ContentType).toBe('image/png');
      expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
    });

    it('should refuse a file over content-length-range and store nothing', async () => {
      const key = newKey();
      const { url, fields } = await post(key, 1000);
      const res = await fetch(url, { method: 'POST', body: postForm(fields, randomBytes(1001)) });
      expect(res.status).toBe(400);
      expect(await errorCode(res)).toBe('EntityTooLarge');
      expect(await exists(key)).toBe(false);
    });

    it.each([
      ['a tampered policy', (f: Record<string, string>) => ({ ...f, Policy: f.Policy.slice(0, -4) + 'AAA=' })],
      ['another key', (f: Record<string, string>) => ({ ...f, key: `${f.key}.other` })],
      ['another Content-Type', (f: Record<string, string>) => ({ ...f, 'Content-Type': 'text/html' })],
      ['a field the policy does not cover', (f: Record<string, string>) => ({ ...f, acl: 'public-read' })],
    ])('should refuse %s', async (_name, change) => {
      const key = newKey();
      const { url, fields } = await post(key, 1000);
      const res = await fetch(url, { method: 'POST', body: postForm(change(fields), Buffer.from('x')) });
      expect(res.status).toBe(403);
      expect(['AccessDenied', 'SignatureDoesNotMatch']).toContain(await errorCode(res));
      expect(await exists(key)).toBe(false);
    });

    it('should refuse an expired policy', async () => {
      const key = newKey();
      const { url, fields } = await post(key, 1000, -1);
      const res = await fetch(url, { method: 'POST', body: postForm(fields, Buffer.from('x')) });
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/Policy expired/);
    });
  });
});
