import { connect } from 'node:net';
import { paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { decodeExtended, parse as parseContentDisposition } from 'content-disposition';
import { encodeKey, serviceSuite } from './support/app.js';
import { expectJsonError, rawRequest, send } from './support/http.js';

const B = 'xXbOuNdArYXx';

/** A multipart/form-data request, written out byte for byte. */
function formRequest(body: string, contentType = `multipart/form-data; boundary=${B}`): string {
  return (
    `POST /files HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: ${contentType}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

const part = (headers: string, content = 'hello') => `--${B}\r\n${headers}\r\n\r\n${content}\r\n`;
const filePart = (name = 'file', fileName = 'a.txt', content = 'hello', type = 'text/plain') =>
  part(`Content-Disposition: form-data; name="${name}"; filename="${fileName}"\r\nContent-Type: ${type}`, content);
const END = `--${B}--\r\n`;

/** Malformed bodies and requests, file names and types meant to attack a browser, and cross-origin callers. */
describe('Hostile requests (e2e)', () => {
  const suite = serviceSuite({
    env: { MAX_UPLOAD_BYTES: String(1024 * 1024), CORS_ORIGINS: 'https://app.example.com' },
  });

  afterEach(async () => {
    expect((await send(`${suite.url}/files?limit=1`)).status).toBe(200);
  });

  async function objectCount(): Promise<number> {
    let count = 0;
    for await (const page of paginateListObjectsV2({ client: suite.s3.s3 }, { Bucket: suite.s3.bucket })) {
      count += page.KeyCount ?? 0;
    }
    return count;
  }

  describe('malformed multipart bodies', () => {
    it.each([
      ['no file part', part('Content-Disposition: form-data; name="key"', 'k.txt') + END],
      ['a text field named file', part('Content-Disposition: form-data; name="file"') + END],
      ['a file part under another name', filePart('upload') + END],
      ['two file parts', filePart() + filePart('file', 'b.txt') + END],
      ['a truncated body', `${filePart().slice(0, 60)}`],
      ['no closing delimiter', filePart()],
      ['only the closing delimiter', END],
      [
        'a giant part header',
        part(`Content-Disposition: form-data; name="file"; filename="a.txt"\r\nX-Junk: ${'j'.repeat(100_000)}`) + END,
      ],
      [
        '300 fields',
        Array.from({ length: 300 }, (_, i) => part(`Content-Disposition: form-data; name="f${i}"`)).join('') + END,
      ],
      [
        'a 100 KB field value',
        part('Content-Disposition: form-data; name="key"', 'k'.repeat(100_000)) + filePart() + END,
      ],
      ['a key field after the file', filePart() + part('Content-Disposition: form-data; name="key"', 'late.txt') + END],
      ['CR/LF in the file name', filePart('file', 'evil\r\nSet-Cookie: a=b.html') + END],
      ['garbage', 'this is not multipart at all'],
    ])('should answer 400 JSON to %s and store nothing', async (_name, body) => {
      const before = await objectCount();
      const res = await rawRequest(suite.port, formRequest(body));
      expectJsonError(res, 400);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(await objectCount()).toBe(before);
    });

    it.each([
      ['a second file part', `${filePart('file', 'b.txt', 'forged')}${END}`],
      ['a key field after the file', `${part('Content-Disposition: form-data; name="key"', 'late.txt')}${END}`],
      ['no closing delimiter', `${part('Content-Disposition: form-data; name="x"', 'y')}`],
    ])(
      'should leave an existing object untouched when the form turns out bad after the file part (%s)',
      async (_name, rest) => {
        const key = `kept/${Math.random().toString(16).slice(2)}.txt`;
        expect((await send(`${suite.url}/files/${key}`, { method: 'PUT', body: Buffer.from('original') })).status).toBe(
          201,
        );
        // The file part and the next boundary first, so the file is complete before the problem shows.
        const head = `${filePart('file', 'a.txt', 'replacement')}--${B}\r\nContent-Dispo`;
        const tail = rest.slice(`--${B}\r\nContent-Dispo`.length);
        const request = formRequest(head + tail).replace('POST /files ', `POST /files?key=${key} `);
        const cut = request.length - tail.length;
        const socket = connect(suite.port, '127.0.0.1');
        const answer: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => answer.push(chunk));
        socket.write(request.slice(0, cut));
        await new Promise((resolve) => setTimeout(resolve, 300));
        socket.write(request.slice(cut));
        await new Promise((resolve) => socket.once('close', resolve));
        expect(Buffer.concat(answer).toString()).toMatch(/^HTTP\/1\.1 400 /);
        expect((await send(`${suite.url}/files/${key}`)).body.toString()).toBe('original');
      },
    );

    it.each([
      ['no boundary', 'multipart/form-data'],
      ['an empty boundary', 'multipart/form-data; boundary='],
      ['a 200-character boundary', `multipart/form-data; boundary=${'b'.repeat(200)}`],
      ['JSON', 'application/json'],
      ['a urlencoded form', 'application/x-www-form-urlencoded'],
    ])('should answer 400 JSON to a form upload with %s', async (_name, contentType) => {
      const before = await objectCount();
      expectJsonError(await rawRequest(suite.port, formRequest(filePart() + END, contentType)), 400);
      expect(await objectCount()).toBe(before);
    });
  });

  describe('malformed HTTP', () => {
    const head = 'Host: 127.0.0.1\r\nConnection: close\r\n';
    it.each([
      ['oversized headers', 431, `GET /files HTTP/1.1\r\n${head}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
      ['too many headers', 431, `GET /files HTTP/1.1\r\n${head}${'X-A: b\r\n'.repeat(3000)}\r\n`],
      ['a garbage request line', 400, 'GARBAGE\r\n\r\n'],
      ['a raw space in the path', 400, `GET /files/a b HTTP/1.1\r\n${head}\r\n`],
      ['a raw byte over 0x7f in the path', 400, `GET /files/caf\u00e9 HTTP/1.1\r\n${head}\r\n`],
      [
        'both Content-Length and chunked',
        400,
        `POST /files HTTP/1.1\r\n${head}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      ],
      [
        'a bad chunk size',
        400,
        `PUT /files/x HTTP/1.1\r\n${head}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
      ],
      ['a bad Content-Length', 400, `PUT /files/x HTTP/1.1\r\n${head}Content-Length: 12abc\r\n\r\nhello`],
      ['a control character in a header', 400, `GET /files HTTP/1.1\r\n${head}X-Bad: a\u0001b\r\n\r\n`],
      ['an obsolete line folding', 400, `GET /files HTTP/1.1\r\n${head}X-Fold: a\r\n b\r\n\r\n`],
      ['HTTP/2 preface on HTTP/1', 400, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ])('should answer %s with a JSON %d', async (_name, status, request) => {
      expectJsonError(await rawRequest(suite.port, Buffer.from(request, 'latin1')), status);
    });

    it('should answer a request with no Host header with a 400', async () => {
      const res = await rawRequest(suite.port, 'GET /files HTTP/1.1\r\nConnection: close\r\n\r\n');
      expect(res.status).toBe(400);
    });
  });

  describe('file names in Content-Disposition', () => {
    it.each([
      'x"; filename="evil.html',
      'it\'s "quoted"; and ;semi=colons.txt',
      'résumé "final".pdf',
      '%0d%0aSet-Cookie: a=b',
      'tab\there.txt'.replace('\t', ' '),
    ])('should quote the file name of %j so it cannot add parameters or headers', async (name) => {
      const key = `cd/${name}`;
      expect(
        (await send(`${suite.url}/files/${encodeKey(key)}`, { method: 'PUT', body: Buffer.from('x') })).status,
      ).toBe(201);
      for (const query of ['', '?download=1']) {
        const res = await send(`${suite.url}/files/${encodeKey(key)}${query}`);
        expect(res.status).toBe(200);
        expect(res.headers['set-cookie']).toBeUndefined();
        // One header, one quoted file name (plus its RFC 5987 form): nothing else can be smuggled in.
        const { parameters } = parseContentDisposition(String(res.headers['content-disposition']));
        expect(Object.keys(parameters).filter((p) => p !== 'filename' && p !== 'filename*')).toEqual([]);
        const star = parameters['filename*'];
        expect(star === undefined ? parameters.filename : decodeExtended(star)).toBe(name);
      }
    });

    it('should sanitise a multipart file name with quotes and semicolons into a safe key', async () => {
      const res = await rawRequest(
        suite.port,
        formRequest(filePart('file', 'e\\"vil\\";x=.html', '<script>', 'text/html') + END),
      );
      expect(res.status).toBe(201);
      const { key } = JSON.parse(res.body) as { key: string };
      expect(key).toMatch(/^[0-9a-f-]{36}\/[^"\\/\r\n]+$/);
      const got = await send(`${suite.url}/files/${encodeKey(key)}`);
      expect(parseContentDisposition(String(got.headers['content-disposition'])).type).toBe('attachment');
    });
  });

  describe('active content', () => {
    const serve = async (contentType: string, query = '') => {
      const key = `active/${Math.random().toString(16).slice(2)}`;
      const put = await send(`${suite.url}/files/${key}`, {
        method: 'PUT',
        body: Buffer.from('<script>alert(document.domain)</script>'),
        headers: { 'Content-Type': contentType },
      });
      expect(put.status).toBe(201);
      const [get, head] = [
        await send(`${suite.url}/files/${key}${query}`),
        await send(`${suite.url}/files/${key}${query}`, { method: 'HEAD' }),
      ];
      for (const res of [get, head]) {
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(res.headers['content-security-policy']).toBe("default-src 'none'; sandbox");
      }
      expect(head.headers['content-disposition']).toBe(get.headers['content-disposition']);
      return parseContentDisposition(String(get.headers['content-disposition'])).type;
    };

    it.each([
      'text/html',
      'TEXT/HTML; charset=utf-8',
      'text/html;charset=utf-8',
      'application/xhtml+xml',
      'image/svg+xml',
      'image/svg+xml; charset=utf-8',
      'text/javascript',
      'application/javascript',
      'application/ecmascript',
      'text/xml',
      'application/xml',
      'text/css',
      'application/x-shockwave-flash',
      'multipart/x-mixed-replace; boundary=x',
      'application/octet-stream',
      'x-unknown/whatever',
    ])('should serve %s as an attachment, never inline', async (contentType) => {
      expect(await serve(contentType)).toBe('attachment');
    });

    // Browsers read the last type of a list: one media type or nothing (RFC 9110 8.3).
    it.each(['image/png, text/html', 'text/plain , text/html'])(
      'should refuse the Content-Type list %s with 400 and store nothing',
      async (contentType) => {
        const key = `active/${Math.random().toString(16).slice(2)}`;
        const put = await send(`${suite.url}/files/${key}`, {
          method: 'PUT',
          body: Buffer.from('<script>alert(document.domain)</script>'),
          headers: { 'Content-Type': contentType },
        });
        expect(put.status).toBe(400);
        expect((await send(`${suite.url}/files/${key}`, { method: 'HEAD' })).status).toBe(404);
      },
    );

    it.each(['image/png', 'image/jpeg', 'application/pdf', 'text/plain; charset=utf-8', 'video/mp4'])(
      'should serve the allowlisted %s inline unless download=1',
      async (contentType) => {
        expect(await serve(contentType)).toBe('inline');
        expect(await serve(contentType, '?download=1')).toBe('attachment');
      },
    );
  });

  describe('CORS', () => {
    it.each([
      'https://evil.example',
      'null',
      'https://app.example.com.evil.example',
      'https://evil.example/https://app.example.com',
    ])('should never reflect the unlisted origin %s', async (origin) => {
      const requests = [
        send(`${suite.url}/files`, { headers: { Origin: origin } }),
        send(`${suite.url}/files/x`, { method: 'PUT', body: Buffer.from('x'), headers: { Origin: origin } }),
        send(`${suite.url}/files/x`, {
          method: 'OPTIONS',
          headers: {
            Origin: origin,
            'Access-Control-Request-Method': 'DELETE',
            'Access-Control-Request-Headers': 'authorization',
          },
        }),
      ];
      for (const res of await Promise.all(requests)) {
        expect(res.status).toBeLessThan(500);
        expect([undefined, 'https://app.example.com']).toContain(res.headers['access-control-allow-origin']);
        if (res.headers['access-control-allow-credentials'] !== undefined) {
          expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com');
        }
      }
    });
  });
});
