import type { NestExpressApplication } from '@nestjs/platform-express';
import { s3Env, startApp } from './support/app.js';
import { send, type HttpResult } from './support/http.js';
import { startS3Server, type TestS3Server } from './support/s3-server.js';

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

const json = (res: HttpResult): Record<string, unknown> => JSON.parse(res.body.toString('utf8')) as never;

/** File names and Content-Types a hostile or merely unusual client sends: decoded as UTF-8, parsed strictly. */
describe('Hostile content types and file names (e2e)', () => {
  let s3: TestS3Server;
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    s3 = await startS3Server();
    ({ app, url } = await startApp(s3Env(s3.endpoint, s3.bucket, { S3_PREFIX: 'tenant' })));
  });

  afterAll(async () => {
    await app?.close();
    await s3?.stop();
  });

  async function upload(partHeaders: string[]): Promise<HttpResult> {
    const form = formWith(partHeaders);
    return send(`${url}/files`, { method: 'POST', body: form.body, headers: form.headers });
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
      const got = await send(`${url}/files/${key.split('/').map(encodeURIComponent).join('/')}`);
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
      expect((await send(`${url}${path}`, { method: 'PUT', body: Buffer.from('x') })).status).toBe(201);
      const res = await send(`${url}${path}?download=1`);
      expect(res.headers['content-disposition']).toBe(`attachment; filename=evilgpj.exe`);
    });
  });
});
