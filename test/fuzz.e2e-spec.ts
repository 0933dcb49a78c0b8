import { randomBytes } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { s3Env, sha256, serviceSuite } from './support/app.js';
import { rawRequest, send } from './support/http.js';
import { startRecordingProxy, type RecordingProxy } from './support/recording-proxy.js';

const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const BOUNDARY = 'fuzzBoundary';
const KNOWN = randomBytes(3000);
const KEY = 'fuzz-read-write-key.0123456789';
const READ_ONLY_KEY = 'fuzz-read-only-key.0123456789';
const AUTH = { Authorization: `Bearer ${KEY}` };

const pct = (bytes: Uint8Array): string => [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
const printable = (maxLength: number) =>
  fc.string({ maxLength }).map((s) => s.replace(/[^\x20-\x7e]/g, '') /* header values Node accepts */);

const segment = fc.oneof(
  fc.constantFrom('..', '.', '', '%2e%2e', '%2E%2e', '%2f', '%2F', '%5c', '%00', '%0d%0a', '%c0%ae', '%ff', '%', '%zz'),
  fc.constantFrom('known.bin', 'dir', '~', ';', '%252e%252e', 'a'.repeat(300), '%e2%80%ae', 'CON', 'x.html'),
  fc.constantFrom('copy', 'move', 'delete', 'COPY', 'move/'),
  fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{1,16}$/),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map(pct),
);
const rawJunk = fc.constantFrom(' ', '\u00e9', '\\', '"', '<', '{', '|', '^', '`', '#', '\t', '\u0000');
const path = fc.oneof(
  { weight: 6, arbitrary: fc.array(segment, { maxLength: 5 }).map((s) => `/files/${s.join('/')}`) },
  { weight: 2, arbitrary: fc.constantFrom('/files', '/files/', '/files/known.bin', '/signed-urls') },
  {
    weight: 2,
    arbitrary: fc.constantFrom('/files/delete', '/files/known.bin/copy', '/files/known.bin/move', '/files/a/b/copy/'),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.array(segment, { maxLength: 3 }), rawJunk)
      .map(([s, junk]) => `/files/${s.join('/')}${junk}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('/', '/health/', '/FILES', '/files/../files', '//files', '*', '/files%2fknown.bin'),
  },
);
const queryValue = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }).map(pct) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      '0',
      '1',
      '-1',
      '1000',
      '1001',
      'true',
      'false',
      '1e3',
      '%',
      '..%2f',
      'bnVsbA',
      'e30',
      'a/',
      '/',
    ),
  },
);
const queryName = fc.constantFrom(
  'prefix',
  'delimiter',
  'limit',
  'cursor',
  'download',
  'key',
  'overwrite',
  'x',
  'prefix[]',
  '__proto__',
);
/** Mostly distinct names (so requests get past the repeated-parameter 400 to the routes), now and then a repeat. */
const query = fc
  .oneof(
    { weight: 4, arbitrary: fc.uniqueArray(fc.tuple(queryName, queryValue), { maxLength: 4, selector: ([k]) => k }) },
    { weight: 1, arbitrary: fc.array(fc.tuple(queryName, queryValue), { maxLength: 4 }) },
  )
  .map((pairs) => (pairs.length > 0 ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));

const headers = fc.record(
  {
    Range: fc.oneof(
      fc.tuple(fc.nat(4000), fc.nat(4000)).map(([a, b]) => `bytes=${a}-${b}`),
      fc.nat(4000).map((n) => `bytes=-${n}`),
      printable(20),
    ),
    'If-None-Match': fc.oneof(fc.constantFrom('*', '"x"', 'W/"x"', '"a", "b"'), printable(30)),
    'If-Modified-Since': fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()),
      printable(30),
    ),
    'Content-Type': fc.constantFrom(
      `multipart/form-data; boundary=${BOUNDARY}`,
      'multipart/form-data',
      'application/json',
      'text/html',
      'image/svg+xml',
      'text/plain; charset=utf-8, text/html',
      'image/png;a=b,text/html',
      'application/octet-stream',
      `multipart/form-data; boundary=${'x'.repeat(80)}`,
    ),
    Origin: fc.constantFrom('https://evil.example', 'null', 'https://app.example.com'),
    'X-Forwarded-Host': fc.constantFrom('evil.example', '127.0.0.1'),
    Expect: fc.constant('100-continue'),
    'X-Forwarded-For': printable(30),
    'Transfer-Encoding': fc.constantFrom('chunked', 'gzip', 'chunked, chunked', 'identity'),
    // Object parameters (PUT): valid, malformed, non-ASCII (sent as latin1 bytes) or random.
    'Cache-Control': fc.oneof(
      fc.constantFrom('no-store', 'public, max-age=60', 'a="b', ',', 'max-age=1;x', 'caf\u00e9', 'x'.repeat(600)),
      printable(40),
    ),
    'Content-Disposition': fc.oneof(
      fc.constantFrom(
        'attachment; filename="a.txt"',
        "inline; filename*=UTF-8''%E2%82%AC%20a.txt",
        "attachment; filename*=UTF-8''%FF%FE",
        'attachment; filename="../../x"',
        'attachment',
        'form-data; name="file"',
        'attachment; filename="caf\u00e9"',
      ),
      printable(40),
    ),
    'X-Meta-Owner': fc.oneof(printable(40), fc.constantFrom('', 'Z\u00fcrich', 'x'.repeat(1100))),
    'X-Meta-Bad_Name': printable(5),
    'X-Meta-Upload-Marker': printable(5),
  },
  { requiredKeys: [] },
);

const formPart = fc
  .record({
    name: fc.constantFrom(
      'file',
      'key',
      'overwrite',
      'other',
      'cacheControl',
      'fileName',
      'x-meta-owner',
      'x-meta-a_b',
    ),
    fileName: fc.option(printable(20).map((n) => n.replace(/"/g, ''))),
    content: fc.oneof(printable(40), fc.constantFrom('../x', 'k/ok.txt', 'false', 'true')),
  })
  .map(({ name, fileName, content }) => {
    const disposition = `form-data; name="${name}"${fileName === null ? '' : `; filename="${fileName}"`}`;
    return `--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n\r\n${content}\r\n`;
  });
const jsonKey = fc.oneof(
  fc.constantFrom('known.bin', 'k/copied.txt', '../secret.txt', '', 'a//b', '/x', 'x'.repeat(1100), '\u0000', 'a\\b'),
  fc.string({ maxLength: 12 }),
);
const jsonRequest = fc.oneof(
  fc.record(
    { keys: fc.oneof(fc.array(jsonKey, { maxLength: 5 }), fc.constantFrom('a', null, [['a']], {})), x: fc.boolean() },
    { requiredKeys: [] },
  ),
  fc.record(
    { to: fc.oneof(jsonKey, fc.integer()), overwrite: fc.oneof(fc.boolean(), fc.constantFrom('false', 0, null)) },
    { requiredKeys: [] },
  ),
  fc.constantFrom({ keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) }, [], 'keys', null),
);
const body = fc.oneof(
  { weight: 4, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.array(formPart, { maxLength: 4 }), fc.boolean())
      .map(([parts, close]) => Buffer.from(parts.join('') + (close ? `--${BOUNDARY}--\r\n` : ''))),
  },
  // JSON nested past any sane depth, balanced or not.
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(['[', ']'], ['{"a":', '}'], ['[{"b":', '}]']),
        fc.integer({ min: 1, max: 3000 }),
        fc.boolean(),
      )
      .map(([[open, close], depth, balanced]) =>
        Buffer.from(open.repeat(depth) + (balanced ? `1${close.repeat(depth)}` : '')),
      ),
  },
  // Batch delete, copy and move bodies, good and bad.
  { weight: 2, arbitrary: jsonRequest.map((value) => Buffer.from(JSON.stringify(value))) },
  // Over MAX_UPLOAD_BYTES; a string so that a failing case prints short.
  { weight: 1, arbitrary: fc.constant('80 KiB of z') },
);

/** A Host and whether ALLOWED_HOSTS lists it. */
const host = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(['127.0.0.1', true], ['FILES.example.com:8443', true]) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      ...['localhost', '52.95.110.1', 'user@127.0.0.1', '127.0.0.1/x', '127.0.0.1 x', '127.0.0.1:x', '[::1]', ''].map(
        (h) => [h, false],
      ),
    ),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9.-]{1,20}$/).map((h) => [`${h}.evil.example`, false]) },
) as fc.Arbitrary<[string, boolean]>;

/** Origin-form (the usual), or absolute-form with an authority that is (or is not) an allowed host. */
const targetForm = fc.oneof(
  { weight: 8, arbitrary: fc.constant(['', true]) },
  { weight: 1, arbitrary: fc.constantFrom(['http://127.0.0.1', true], ['http://evil.example', false]) },
) as fc.Arbitrary<[string, boolean]>;

/** Now and then a second Host header, which is refused whatever it says. */
const secondHost = fc.oneof(
  { weight: 10, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom('127.0.0.1', 'evil.example') },
);

/** Whether a request target is valid percent-encoded UTF-8 and names no query parameter twice. */
function targetIsClean(target: string): boolean {
  try {
    decodeURIComponent(target);
  } catch {
    return false;
  }
  const at = target.indexOf('?');
  const names =
    at === -1
      ? []
      : target
          .slice(at + 1)
          .split('&')
          .map((pair) => pair.split('=')[0]);
  return new Set(names).size === names.length;
}

/** An Authorization header (or none) and the access it grants. */
type Grant = 'read-write' | 'read-only' | 'none';
const authorization = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom([`Bearer ${KEY}`, 'read-write'], [`bearer  ${KEY}`, 'read-write']) },
  { weight: 2, arbitrary: fc.constant([`Bearer ${READ_ONLY_KEY}`, 'read-only']) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom(undefined, '', 'Bearer', 'Bearer x', 'Basic Zm9vOmJhcg==', KEY, `Bearer ${'a'.repeat(1000)}`),
        fc
          .nat(KEY.length - 1)
          .map((at) => `Bearer ${KEY.slice(0, at)}${KEY[at] === 'z' ? 'y' : 'z'}${KEY.slice(at + 1)}`),
        printable(40).map((junk) => `Bearer ${junk}`),
      )
      .map((value) => [value, 'none']),
  },
) as fc.Arbitrary<[string | undefined, Grant]>;

/** True about one time in 20. */
const refreshKnown = fc.integer({ min: 0, max: 19 }).map((n) => n === 0);

const method = fc.constantFrom('GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND');

/** One request as bytes: the body is chunked when Transfer-Encoding says so, else framed by Content-Length. */
function build(m: string, target: string, h: Record<string, string>, content: Buffer | string): Buffer {
  const payload = typeof content === 'string' ? Buffer.alloc(80 * 1024, 'z') : content;
  const lines = [`${m} ${target} HTTP/1.1`, 'Connection: close'];
  for (const [name, value] of Object.entries(h)) {
    lines.push(`${name}: ${value}`);
  }
  const chunked = h['Transfer-Encoding'] !== undefined;
  if (!chunked) {
    lines.push(`Content-Length: ${payload.length}`);
  }
  const framed = chunked
    ? Buffer.concat([
        payload.length > 0 ? Buffer.from(`${payload.length.toString(16)}\r\n`) : Buffer.alloc(0),
        payload,
        Buffer.from(payload.length > 0 ? '\r\n0\r\n\r\n' : '0\r\n\r\n'),
      ])
    : payload;
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), framed]);
}

/**
 * A few thousand random requests, valid and not, with API keys and allowed hosts configured: never a 5xx, never a
 * hang, every error in the one JSON shape, and no request without a good key and Host reaches S3.
 */
describe('Random-request fuzz (e2e)', () => {
  let recorder: RecordingProxy;

  const suite = serviceSuite({
    env: async (s3) => {
      recorder = await startRecordingProxy(s3.endpoint);
      return s3Env(recorder.endpoint, s3.bucket, {
        S3_PREFIX: 'tenant',
        MAX_UPLOAD_BYTES: String(64 * 1024),
        ALLOWED_HOSTS: '127.0.0.1,files.example.com',
        API_KEYS: KEY,
        API_KEYS_READONLY: READ_ONLY_KEY,
        CORS_ORIGINS: 'https://app.example.com',
      });
    },
  });

  beforeAll(async () => {
    await suite.s3.s3.send(
      new PutObjectCommand({ Bucket: suite.s3.bucket, Key: 'secret.txt', Body: 'outside the prefix' }),
    );
  });

  afterAll(async () => {
    await recorder?.close();
  });

  /** Waits until the S3 traffic of earlier requests has ended: no request in flight, none new for 5 ms. */
  async function s3Settled(): Promise<void> {
    const until = Date.now() + 2000;
    let seen = -1;
    while ((recorder.requests.length !== seen || recorder.inFlight > 0) && Date.now() < until) {
      seen = recorder.requests.length;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  const objectPath = (s3Path: string) => s3Path.split('?')[0];

  it(
    `should answer ${FUZZ_RUNS} random requests with no 5xx, no hang and JSON errors`,
    async () => {
      const statuses = new Map<number, number>();
      let refused = 0;
      // A request whose body turns out malformed is answered at once, while its handler may go on with S3 for its
      // key (an SDK retry after a backoff, then the upload-marker check): that later traffic is not a leak.
      const lingering = new Set<string>();
      await fc.assert(
        fc.asyncProperty(
          method,
          path,
          query,
          headers,
          host,
          authorization,
          body,
          targetForm,
          secondHost,
          // Drawn, not Math.random, so that a failure replays from its seed.
          refreshKnown,
          async (m, p, q, h, hh, a, payload, [origin, originAllowed], otherHost, refresh) => {
            // Refreshed now and then, since random DELETEs and PUTs may hit it.
            if (refresh) {
              await suite.s3.s3.send(
                new PutObjectCommand({ Bucket: suite.s3.bucket, Key: 'tenant/known.bin', Body: KNOWN }),
              );
            }
            const [hostValue, hostAllowed] = hh;
            const [auth, grant] = a;
            const allHeaders = {
              Host: hostValue,
              ...(otherHost !== null && { host: otherHost }),
              ...(auth !== undefined && { Authorization: auth }),
              ...h,
            };
            // Only one allowed Host (and target authority) with a clean target and a key that may do this (or the
            // public health check) may reach storage.
            const mayReachStorage =
              hostAllowed &&
              originAllowed &&
              otherHost === null &&
              targetIsClean(`${p}${q}`) &&
              (p.startsWith('/health') ||
                grant === 'read-write' ||
                (grant === 'read-only' && (m === 'GET' || m === 'HEAD')));
            if (!mayReachStorage) {
              await s3Settled();
            }
            const s3RequestsBefore = recorder.requests.length;
            const res = await rawRequest(suite.port, build(m, `${origin}${p}${q}`, allHeaders, payload), 10_000);
            if (!mayReachStorage) {
              refused++;
              const reached = recorder.requests.slice(s3RequestsBefore);
              expect(reached.filter((r) => !lingering.has(objectPath(r.path)))).toEqual([]);
            }
            if (res.body.includes('malformed HTTP request')) {
              recorder.requests.slice(s3RequestsBefore).forEach((r) => lingering.add(objectPath(r.path)));
            }
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            expect(res.status).toBeGreaterThanOrEqual(200);
            expect(res.status).toBeLessThan(500);
            if (res.status >= 400 && m !== 'HEAD') {
              expect(res.headers['content-type']).toMatch(/^application\/json/);
              expect(JSON.parse(res.body)).toEqual({
                statusCode: res.status,
                error: expect.any(String),
                message: expect.any(String),
              });
            }
          },
        ),
        { numRuns: FUZZ_RUNS },
      );
      process.stdout.write(
        `\nFuzz: ${FUZZ_RUNS} random requests (${refused} that must not reach S3), statuses ${[...statuses]
          .sort(([a], [b]) => a - b)
          .map(([s, n]) => `${s}: ${n}`)
          .join(', ')}\n`,
      );

      // Still serving, and nothing outside the prefix was touched.
      await suite.s3.s3.send(new PutObjectCommand({ Bucket: suite.s3.bucket, Key: 'tenant/known.bin', Body: KNOWN }));
      const known = await send(`${suite.url}/files/known.bin`, { headers: AUTH });
      expect(sha256(known.body)).toBe(sha256(KNOWN));
      const secret = await suite.s3.s3.send(new GetObjectCommand({ Bucket: suite.s3.bucket, Key: 'secret.txt' }));
      expect(await secret.Body!.transformToString()).toBe('outside the prefix');
    },
    Math.max(60_000, FUZZ_RUNS * 100),
  );
});
