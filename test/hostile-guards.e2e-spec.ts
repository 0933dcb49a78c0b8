import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { serviceSuite } from './support/app.js';
import { expectJsonError, rawRequest, send, type RawResponse } from './support/http.js';
import { objectExists } from './support/s3-server.js';

const KEY = 'rw-guard-key.0123456789~abcdef';
const READ_ONLY_KEY = 'ro-guard-key.0123456789~abcdef';
const ORIGIN = 'https://app.example.com';
/** The load balancer's public address: never a Host the service should accept. */
const BALANCER_IP = '52.95.110.1';

/** The Host check, API keys and CORS under attack: every refusal a 4xx JSON error, and the service keeps serving. */
describe('Hostile input against the Host check, API keys and CORS (e2e)', () => {
  const env = {
    ALLOWED_HOSTS: 'files.example.com,127.0.0.1',
    API_KEYS: KEY,
    API_KEYS_READONLY: READ_ONLY_KEY,
    CORS_ORIGINS: ORIGIN,
  };
  const suite = serviceSuite({ env });
  const proxied = suite.withApp({ env: { ...env, TRUST_PROXY: 'loopback' } });
  const untrusted = suite.withApp({ env: { ...env, TRUST_PROXY: '10.0.0.0/8' } });
  const forwarding = suite.withApp({ env: { ...env, TRUST_PROXY: 'loopback', USE_X_FORWARDED_HOST: 'true' } });
  const forwardingUntrusted = suite.withApp({
    env: { ...env, TRUST_PROXY: '10.0.0.0/8', USE_X_FORWARDED_HOST: 'true' },
  });

  afterEach(async () => {
    const res = await send(`${suite.url}/files?limit=1`, { headers: { Authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(200);
  });

  /** A request written byte for byte (header values node:http would refuse to send). */
  const raw = (target: string, headerLines: string, toPort = suite.port): Promise<RawResponse> =>
    rawRequest(toPort, Buffer.from(`GET ${target} HTTP/1.1\r\n${headerLines}Connection: close\r\n\r\n`, 'latin1'));
  const withKey = `Authorization: Bearer ${KEY}\r\n`;

  describe('Host', () => {
    it.each([
      ['an unlisted name', 'evil.example'],
      ['localhost', 'localhost'],
      ['a look-alike suffix', 'files.example.com.evil.example'],
      ['a look-alike prefix', 'evilfiles.example.com'],
      ["the load balancer's public IP", BALANCER_IP],
      ["the load balancer's public IP with a port", `${BALANCER_IP}:80`],
      ['userinfo', 'user@files.example.com'],
      ['userinfo pointing elsewhere', 'files.example.com@evil.example'],
      ['userinfo with a password', 'user:secret@127.0.0.1'],
      ['a path', 'files.example.com/evil'],
      ['a path to the allowed name', 'evil.example/files.example.com'],
      ['a query', 'files.example.com?x=1'],
      ['a fragment', 'files.example.com#x'],
      ['a space inside', 'files.example.com evil.example'],
      ['a tab inside', 'files.example.com\tevil.example'],
      ['an empty port', 'files.example.com:'],
      ['a named port', 'files.example.com:http'],
      ['a negative port', 'files.example.com:-1'],
      ['two ports', 'files.example.com:80:80'],
      ['an IPv6 loopback', '[::1]'],
      ['an IPv4-mapped IPv6 loopback', '[::ffff:127.0.0.1]'],
      ['a bare IPv6 literal', '::1'],
      ['an unclosed IPv6 literal', '[::1'],
      ['an IPv6 zone id', '[fe80::1%25eth0]'],
      ['an encoded CR/LF injection', 'files.example.com%0d%0aX-Injected:%201'],
      ['a comma list', 'evil.example, files.example.com'],
      ['a non-ASCII name', 'f\u00efles.example.com'],
      ['an encoded name', 'files%2eexample.com'],
      ['a 4 KB name', `${'a'.repeat(4000)}.example.com`],
      ['an empty value', ''],
    ])('should refuse %s (Host: %j) with a 400 JSON error, before the API key', async (_name, host) => {
      for (const auth of ['', withKey]) {
        const res = await raw('/files', `Host: ${host}\r\n${auth}`);
        expectJsonError(res, 400);
        expect(res.raw).not.toMatch(/\r\nX-Injected/i);
      }
    });

    it.each([
      ['a bare CR', 'files.example.com\rX-Injected: 1'],
      ['a NUL byte', 'files.example.com\u0000.evil.example'],
      ['a bare LF', 'evil.example\nX-Injected: 1'],
    ])('should refuse a Host with %s as a malformed request', async (_name, host) => {
      const res = await raw('/files', `Host: ${host}\r\n${withKey}`);
      expectJsonError(res, 400);
      expect(res.raw).not.toMatch(/\r\nX-Injected/i);
    });

    it.each([
      ['the allowed name', 'files.example.com'],
      ['its upper case and port', 'FILES.Example.COM:8443'],
      ['its trailing dot', 'files.example.com.'],
      ['the listed IP', '127.0.0.1'],
    ])('should accept %s', async (_name, host) => {
      expect((await raw('/files?limit=1', `Host: ${host}\r\n${withKey}`)).status).toBe(200);
    });

    it.each([
      ['an unlisted one first', 'evil.example', 'files.example.com'],
      ['an unlisted one last', 'files.example.com', 'evil.example'],
      ['the same allowed name twice', 'files.example.com', 'files.example.com'],
      ['two allowed names', '127.0.0.1', 'FILES.example.com'],
    ])('should refuse two Host headers (%s) with a 400', async (_name, first, second) => {
      for (const target of ['/files?limit=1', '/health/live']) {
        expectJsonError(await raw(target, `Host: ${first}\r\nhost: ${second}\r\n${withKey}`), 400);
      }
    });

    it.each([
      ['an unlisted authority', 'http://evil.example/files?limit=1', 'files.example.com'],
      ['an unlisted authority with the listed Host', 'https://evil.example:443/health/live', '127.0.0.1'],
      ['userinfo in the authority', 'http://files.example.com@evil.example/files?limit=1', 'files.example.com'],
      ['an empty authority', 'http:///files?limit=1', 'files.example.com'],
      ['an allowed authority with an unlisted Host', 'http://files.example.com/files?limit=1', 'evil.example'],
    ])('should check an absolute request target like Host, refusing %s', async (_name, target, host) => {
      expectJsonError(await raw(target, `Host: ${host}\r\n${withKey}`), 400);
    });

    it('should accept an absolute request target whose authority and Host are allowed', async () => {
      expect(
        (await raw('http://files.example.com/files?limit=1', `Host: files.example.com\r\n${withKey}`)).status,
      ).toBe(200);
    });

    describe('X-Forwarded-Host', () => {
      const forwarded = (toUrl: string, host: string, forwardedHost: string) =>
        raw('/files?limit=1', `Host: ${host}\r\nX-Forwarded-Host: ${forwardedHost}\r\n${withKey}`, portOf(toUrl));
      const portOf = (u: string) => Number(new URL(u).port);

      it('should ignore it without TRUST_PROXY, both ways', async () => {
        expect((await forwarded(suite.url, 'files.example.com', 'evil.example')).status).toBe(200);
        expectJsonError(await forwarded(suite.url, 'evil.example', 'files.example.com'), 400);
      });

      it('should ignore it when TRUST_PROXY does not trust the peer, even with USE_X_FORWARDED_HOST', async () => {
        for (const app of [untrusted, forwardingUntrusted]) {
          expect((await forwarded(app.url, 'files.example.com', 'evil.example')).status).toBe(200);
          expectJsonError(await forwarded(app.url, 'evil.example', 'files.example.com'), 400);
        }
      });

      it('should ignore it behind a trusted proxy without USE_X_FORWARDED_HOST (only Host counts)', async () => {
        expect((await forwarded(proxied.url, 'files.example.com', 'evil.example')).status).toBe(200);
        expectJsonError(await forwarded(proxied.url, 'evil.example', 'files.example.com'), 400);
        expectJsonError(await forwarded(proxied.url, '10.0.0.5', 'files.example.com'), 400);
      });

      it.each([
        ['an unlisted name', 'evil.example'],
        ["the load balancer's public IP", BALANCER_IP],
        ['userinfo', 'files.example.com@evil.example'],
        ['an unlisted name last in a list', 'files.example.com, evil.example'],
        ['an empty last value', 'files.example.com,'],
        ['a path', 'files.example.com/x'],
      ])('should check it instead of Host with USE_X_FORWARDED_HOST, refusing %s', async (_name, forwardedHost) => {
        expectJsonError(await forwarded(forwarding.url, 'files.example.com', forwardedHost), 400);
      });

      it('should take the right-most value, the one the trusted proxy appended', async () => {
        expect((await forwarded(forwarding.url, '10.0.0.5', 'evil.example, files.example.com')).status).toBe(200);
        const twoHeaders = `Host: 10.0.0.5\r\nX-Forwarded-Host: files.example.com\r\nX-Forwarded-Host: evil.example\r\n`;
        expectJsonError(await raw('/files?limit=1', `${twoHeaders}${withKey}`, portOf(forwarding.url)), 400);
      });

      it('should accept an allowed name with USE_X_FORWARDED_HOST whatever the Host', async () => {
        expect((await forwarded(forwarding.url, '10.0.0.5', 'files.example.com')).status).toBe(200);
      });

      it('should fall back to Host with USE_X_FORWARDED_HOST when the proxy sends none', async () => {
        const port = portOf(forwarding.url);
        expect((await raw('/files?limit=1', `Host: files.example.com\r\n${withKey}`, port)).status).toBe(200);
        expectJsonError(await raw('/files?limit=1', `Host: evil.example\r\n${withKey}`, port), 400);
      });
    });
  });

  describe('Authorization', () => {
    const flip = (key: string, at: number) =>
      key.slice(0, at) + String.fromCharCode(key.charCodeAt(at) ^ 1) + key.slice(at + 1);

    it.each([
      ['no header', undefined, 'invalid_request'],
      ['an empty header', '', 'invalid_request'],
      ['Basic credentials', `Basic ${Buffer.from(`x:${KEY}`).toString('base64')}`, 'invalid_request'],
      ['the key with no scheme', KEY, 'invalid_request'],
      ['another scheme', `Token ${KEY}`, 'invalid_request'],
      ['an empty bearer', 'Bearer', 'invalid_request'],
      ['an empty bearer with a space', 'Bearer ', 'invalid_request'],
      ['a tab after the scheme', `Bearer\t${KEY}`, 'invalid_request'],
      ['two keys', `Bearer ${KEY} ${KEY}`, 'invalid_request'],
      ['a space inside the key', `Bearer ${KEY.slice(0, 8)} ${KEY.slice(8)}`, 'invalid_request'],
      ['the first character changed', `Bearer ${flip(KEY, 0)}`, 'invalid_token'],
      ['a middle character changed', `Bearer ${flip(KEY, 12)}`, 'invalid_token'],
      ['the last character changed', `Bearer ${flip(KEY, KEY.length - 1)}`, 'invalid_token'],
      ['the key cut short', `Bearer ${KEY.slice(0, -1)}`, 'invalid_token'],
      ['one character more', `Bearer ${KEY}x`, 'invalid_token'],
      ['the key in upper case', `Bearer ${KEY.toUpperCase()}`, 'invalid_token'],
      ['the key twice over', `Bearer ${KEY}${KEY}`, 'invalid_token'],
      ['an 8 KB key', `Bearer ${'k'.repeat(8000)}`, 'invalid_token'],
      ['a non-ASCII key', `Bearer ${KEY}\u00e9`, 'invalid_token'],
      ['the read-only key changed', `Bearer ${flip(READ_ONLY_KEY, 3)}`, 'invalid_token'],
    ])('should answer %s with 401 and a Bearer challenge, reading and writing nothing', async (_name, auth, error) => {
      const key = `guarded/${Math.random().toString(16).slice(2)}.txt`;
      const headers = auth === undefined ? '' : `Authorization: ${auth}\r\n`;
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const body = method === 'PUT' ? 'data' : '';
        const res = await rawRequest(
          suite.port,
          Buffer.from(
            `${method} /files/${key} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Content-Length: ${body.length}\r\n` +
              `Connection: close\r\n\r\n${body}`,
            'latin1',
          ),
        );
        expectJsonError(res, 401);
        expect(res.headers['www-authenticate']).toBe(`Bearer error="${error}"`);
        expect(res.raw).not.toContain(KEY.slice(4));
      }
      expect(await objectExists(suite.s3.s3, suite.s3.bucket, key)).toBe(false);
    });

    it('should answer a key too long for the header limit with a 431 JSON error', async () => {
      expectJsonError(await raw('/files', `Host: 127.0.0.1\r\nAuthorization: Bearer ${'k'.repeat(64_000)}\r\n`), 431);
    });

    it.each([
      ['a lower-case scheme', `bearer ${KEY}`],
      ['spaces after the scheme', `Bearer   ${KEY}`],
      ['a trailing space', `Bearer ${KEY} `],
    ])('should accept the key with %s (RFC 6750 / 9110 leeway)', async (_name, auth) => {
      expect((await raw('/files?limit=1', `Host: 127.0.0.1\r\nAuthorization: ${auth}\r\n`)).status).toBe(200);
    });

    it.each(['PUT', 'POST', 'DELETE'])('should answer a read-only key on %s with 403 and write nothing', async (m) => {
      const key = `guarded/${Math.random().toString(16).slice(2)}.txt`;
      const target = m === 'POST' ? `${suite.url}/files?key=${key}` : `${suite.url}/files/${key}`;
      const res = await send(target, {
        method: m,
        headers: { Authorization: `Bearer ${READ_ONLY_KEY}`, 'Content-Type': 'text/plain' },
        ...(m !== 'DELETE' && { body: Buffer.from('data') }),
      });
      expectJsonError(res, 403);
      expect(await objectExists(suite.s3.s3, suite.s3.bucket, key)).toBe(false);
      const read = await send(`${suite.url}/files?limit=1`, { headers: { Authorization: `Bearer ${READ_ONLY_KEY}` } });
      expect(read.status).toBe(200);
    });
  });

  describe('read-only key with a request body', () => {
    it.each([
      ['a JSON body', 'Content-Type: application/json\r\nContent-Length: 14\r\n\r\n{"keys":["x"]}'],
      ['malformed JSON', 'Content-Type: application/json\r\nContent-Length: 3\r\n\r\n{"k'],
      ['a chunked body', 'Transfer-Encoding: chunked\r\n\r\n2\r\nxx\r\n0\r\n\r\n'],
      ['a declared 1 TiB body', `Content-Length: ${2 ** 40}\r\n\r\nxx`],
    ])(
      'should answer DELETE with %s and a read-only key with 403 (access before the body), deleting nothing',
      async (_n, rest) => {
        const key = `guarded/${Math.random().toString(16).slice(2)}.txt`;
        const put = await send(`${suite.url}/files/${key}`, {
          method: 'PUT',
          headers: { Authorization: `Bearer ${KEY}` },
          body: Buffer.from('kept'),
        });
        expect(put.status).toBe(201);
        const res = await rawRequest(
          suite.port,
          Buffer.from(
            `DELETE /files/${key} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${READ_ONLY_KEY}\r\n` +
              `Connection: close\r\n${rest}`,
          ),
        );
        expectJsonError(res, 403);
        await expect(
          suite.s3.s3.send(new HeadObjectCommand({ Bucket: suite.s3.bucket, Key: key })),
        ).resolves.toBeDefined();
      },
    );
  });

  describe('CORS', () => {
    const preflight = (origin: string) =>
      send(`${suite.url}/files/a.txt`, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'PUT',
          'Access-Control-Request-Headers': 'authorization,content-type',
        },
      });
    const fromOrigin = (origin: string, auth = true) =>
      send(`${suite.url}/files?limit=1`, {
        headers: { Origin: origin, ...(auth && { Authorization: `Bearer ${KEY}` }) },
      });

    it.each([
      'https://evil.example',
      'null',
      'https://app.example.com.evil.test',
      'https://evilapp.example.com',
      'http://app.example.com',
      'https://app.example.com:8443',
      'https://APP.example.com',
      'https://app.example.com/',
      `${ORIGIN}, https://evil.example`,
      `https://evil.example ${ORIGIN}`,
    ])('should never send Access-Control-Allow-Origin to %j, preflight or not, key or not', async (origin) => {
      const answers = [await preflight(origin), await fromOrigin(origin), await fromOrigin(origin, false)];
      expect(answers.map((res) => res.status)).toEqual([204, 200, 401]);
      for (const res of answers) {
        expect(res.headers['access-control-allow-origin']).toBeUndefined();
        expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      }
    });

    it('should refuse a preflight with an unlisted Host before answering it', async () => {
      const res = await rawRequest(
        suite.port,
        Buffer.from(
          `OPTIONS /files/a.txt HTTP/1.1\r\nHost: evil.example\r\nOrigin: ${ORIGIN}\r\n` +
            'Access-Control-Request-Method: PUT\r\nConnection: close\r\n\r\n',
        ),
      );
      expectJsonError(res, 400);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('should allow the listed origin, exposing ETag, on preflights, answers and refusals', async () => {
      const pre = await preflight(ORIGIN);
      expect(pre.status).toBe(204);
      expect(pre.headers['access-control-allow-origin']).toBe(ORIGIN);
      expect(String(pre.headers['access-control-allow-methods'])).toMatch(/\bPUT\b/);
      expect(String(pre.headers['access-control-allow-headers'])).toMatch(/\bAuthorization\b/);
      for (const res of [await fromOrigin(ORIGIN), await fromOrigin(ORIGIN, false)]) {
        expect(res.headers['access-control-allow-origin']).toBe(ORIGIN);
        expect(String(res.headers['access-control-expose-headers'])).toMatch(/\bETag\b/);
        expect(String(res.headers.vary)).toMatch(/\bOrigin\b/);
      }
    });
  });
});
