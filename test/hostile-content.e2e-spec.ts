import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { serviceSuite } from './support/app.js';
import { expectJsonError, rawRequest, send, type HttpResult } from './support/http.js';
import { objectExists } from './support/s3-server.js';

const BOUNDARY = 'content-boundary-7f3a';

/** A form with one file part whose header lines are given raw (as bytes), so any spelling can be sent. */
function formWith(partHeaders: string[], data = 'hello'): { body: Buffer; headers: Record<string, string> } {
  const body = Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\n${partHeaders.map((h) => `${h}\r\n`).join('')}\r\n`, 'utf8'),
    Buffer.from(data),
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
  return { body, headers: { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` } };
}

const asText = (res: HttpResult) => ({ ...res, body: res.body.toString('utf8') });
const json = (res: HttpResult): Record<string, unknown> => JSON.parse(res.body.toString('utf8')) as never;

/** File names and Content-Types a hostile or merely unusual client sends: decoded as UTF-8, parsed strictly. */
describe('Hostile content types and file names (e2e)', () => {
  const suite = serviceSuite({ env: { S3_PREFIX: 'tenant' } });

  async function upload(partHeaders: string[], key?: string): Promise<HttpResult> {
    const form = formWith(partHeaders);
    const query = key === undefined ? '' : `?key=${encodeURIComponent(key)}`;
    return send(`${suite.url}/files${query}`, { method: 'POST', body: form.body, headers: form.headers });
  }

  describe('multipart file names', () => {
    it.each([
      ['UTF-8 bytes in filename="…" (curl, browsers)', 'form-data; name="file"; filename="résumé.txt"'],
      ["filename*=UTF-8''… (RFC 5987)", `form-data; name="file"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt`],
    ])('should keep the name given as %s', async (_how, disposition) => {
      const res = await upload([`Content-Disposition: ${disposition}`, 'Content-Type: text/plain']);
      expect(res.status).toBe(201);
      const { key } = json(res) as { key: string };
      expect(key).toMatch(/^[0-9a-f-]{36}\/résumé\.txt$/);
      const got = await send(`${suite.url}/files/${key.split('/').map(encodeURIComponent).join('/')}`);
      expect(got.body.toString()).toBe('hello');
    });

    it.each([
      ['U+202E (right-to-left override)', 'invoice\u202Etxt.exe', 'invoicetxt.exe'],
      ['bidi isolates and marks', '\u2066a\u2069\u200Fb\u200E.txt', 'ab.txt'],
      ['zero-width and BOM', 'a\u200Bb\uFEFF\u2060c.txt', 'abc.txt'],
      ['only format characters', '\u202E\u202D', 'file'],
    ])('should strip %s from the generated key', async (_what, name, clean) => {
      const res = await upload([`Content-Disposition: form-data; name="file"; filename="${name}"`]);
      expect(res.status).toBe(201);
      expect((json(res) as { key: string }).key.split('/')[1]).toBe(clean);
    });
  });

  describe('Content-Disposition file names', () => {
    it('should strip format and bidi controls from the name of a download', async () => {
      const key = `names/evil\u202Egpj.exe`;
      const path = `/files/${key.split('/').map(encodeURIComponent).join('/')}`;
      expect((await send(`${suite.url}${path}`, { method: 'PUT', body: Buffer.from('x') })).status).toBe(201);
      const res = await send(`${suite.url}${path}?download=1`);
      expect(res.headers['content-disposition']).toBe(`attachment; filename=evilgpj.exe`);
    });
  });

  describe('Content-Type, one media type (RFC 9110 8.3.1)', () => {
    let n = 0;
    const path = () => `/files/types/${++n}.bin`;
    const storedType = async (p: string) =>
      (
        await suite.s3.s3.send(
          new HeadObjectCommand({ Bucket: suite.s3.bucket, Key: `tenant/${p.slice('/files/'.length)}` }),
        )
      ).ContentType;
    const exists = (p: string) =>
      storedType(p).then(
        () => true,
        () => false,
      );

    it.each([
      'text/plain; charset=utf-8, text/html',
      'image/png;a=b,text/html',
      'text/plain, text/html',
      'image/png; charset',
      'text/html; charset=utf-8; charset=latin1',
      'image/png; a="b',
      'text/plain/html',
      'text/plain; a="é"',
    ])('should refuse PUT with Content-Type: %s (400, nothing stored)', async (type) => {
      const p = path();
      const res = await send(`${suite.url}${p}`, {
        method: 'PUT',
        body: Buffer.from('<script>1</script>'),
        headers: { 'Content-Type': type },
      });
      expectJsonError(asText(res), 400);
      expect(json(res).message).toMatch(/^Content-Type must/);
      expect(await exists(p)).toBe(false);
    });

    it('should refuse two Content-Type headers (Node would keep the first)', async () => {
      const p = path();
      const res = await rawRequest(
        suite.port,
        `PUT ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: image/png\r\n` +
          'Content-Type: text/html\r\nContent-Length: 1\r\n\r\nx',
      );
      expectJsonError(res, 400);
      expect(await exists(p)).toBe(false);
    });

    it.each([
      ['Text/HTML;Charset="UTF-8"', 'text/html; charset=utf-8', 'attachment'],
      ['IMAGE/PNG', 'image/png', 'inline'],
      ['text/plain ;charset=UTF-8', 'text/plain; charset=utf-8', 'inline'],
      ['application/json; q="a b"', 'application/json; q="a b"', 'inline'],
      ['image/SVG+xml', 'image/svg+xml', 'attachment'],
    ])('should store %j as %j and serve it as %s', async (type, canonical, disposition) => {
      const p = path();
      const put = await send(`${suite.url}${p}`, {
        method: 'PUT',
        body: Buffer.from('x'),
        headers: { 'Content-Type': type },
      });
      expect(put.status).toBe(201);
      expect(json(put).contentType).toBe(canonical);
      expect(await storedType(p)).toBe(canonical);
      const got = await send(`${suite.url}${p}`);
      expect(got.headers['content-type']).toBe(canonical);
      expect(String(got.headers['content-disposition']).split(';')[0]).toBe(disposition);
    });

    it.each(['text/plain; charset=utf-8, text/html', 'image/png;a=b,text/html', 'image/png; x'])(
      'should serve an object stored with %j by another client as an attachment of application/octet-stream',
      async (type) => {
        const p = path();
        const key = `tenant/${p.slice('/files/'.length)}`;
        await suite.s3.s3.send(
          new PutObjectCommand({ Bucket: suite.s3.bucket, Key: key, Body: '<script>1</script>', ContentType: type }),
        );
        for (const method of ['GET', 'HEAD']) {
          const got = await send(`${suite.url}${p}`, { method });
          expect(got.status).toBe(200);
          expect(got.headers['content-type']).toBe('application/octet-stream');
          expect(String(got.headers['content-disposition'])).toMatch(/^attachment/);
        }
      },
    );

    it.each([
      ['Text/HTML; charset=UTF-8', 'text/html; charset=utf-8', 'attachment'],
      ['IMAGE/PNG', 'image/png', 'inline'],
      ['text/plain;  Charset="UTF-8"', 'text/plain; charset=utf-8', 'inline'],
    ])('should store a form part of Content-Type %j as %j, served as %s', async (type, stored, disposition) => {
      const res = await upload([
        `Content-Disposition: form-data; name="file"; filename="a.bin"`,
        `Content-Type: ${type}`,
      ]);
      expect(res.status).toBe(201);
      expect(json(res).contentType).toBe(stored);
      const got = await send(
        `${suite.url}/files/${String(json(res).key).split('/').map(encodeURIComponent).join('/')}`,
      );
      expect(got.headers['content-type']).toBe(stored);
      expect(String(got.headers['content-disposition']).split(';')[0]).toBe(disposition);
    });

    it("should read the file part's Content-Type where its headers arrive well after the body began", async () => {
      const body = Buffer.from(
        `${'p'.repeat(70_000)}\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\n` +
          `${'n'.repeat(15_000)}\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n` +
          `Content-Type: image/png, text/html\r\n\r\nhello\r\n--${BOUNDARY}--\r\n`,
      );
      const headers = { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` };
      expect((await send(`${suite.url}/files`, { method: 'POST', body, headers })).status).toBe(400);
      const fine = Buffer.from(body.toString('latin1').replace('image/png, text/html', 'IMAGE/PNG'), 'latin1');
      const res = await send(`${suite.url}/files`, { method: 'POST', body: fine, headers });
      expect(res.status).toBe(201);
      expect(json(res).contentType).toBe('image/png');
    });

    it.each([
      [['Content-Type: text/plain; charset=utf-8, text/html']],
      [['Content-Type: image/png;a=b,text/html']],
      [['Content-Type: image/png; x']],
      [['Content-Type: image/png', 'Content-Type: text/html']],
    ])('should refuse a file part with %j (400) and store nothing', async (typeHeaders) => {
      const key = `form-type/${Math.random().toString(16).slice(2)}.bin`;
      const res = await upload([`Content-Disposition: form-data; name="file"; filename="a.bin"`, ...typeHeaders], key);
      expect(res.status).toBe(400);
      expect(json(res).message).toMatch(/Content-Type/);
      expect(await objectExists(suite.s3.s3, suite.s3.bucket, `tenant/${key}`)).toBe(false);
    });
  });
});
