import { s3Env } from './support/app.js';
import { FaultProxy, type FaultMode } from './support/fault-proxy.js';
import { send } from './support/http.js';
import { startS3Server, type TestS3Server } from './support/s3-server.js';
import { startBuiltService, type BuiltService } from './support/built-service.js';

const KEY_ID = 'AKIAHOSTILETEST7Q2Z';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYHOSTILE0042';
const SESSION_TOKEN = 'FwoGZXIvYXdzEHostileSessionToken0123456789abcdef';
const API_KEY = 'rw-Key.hostile~test+0123456789/abc=';
const READ_ONLY_KEY = 'ro-Key.hostile~test+9876543210/xyz=';
const AUTH = { Authorization: `Bearer ${API_KEY}` };

/** What S3 echoes when it refuses a request: the key id, and the string it signed (which names it again). */
const ECHO =
  `<AWSAccessKeyId>${KEY_ID}</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n20260101T000000Z\n` +
  `20260101/us-east-1/s3/aws4_request\nCredential=${KEY_ID}/20260101</StringToSign>`;

/** S3 refusing our keys, stalling or gone: the answers and the logs (at trace level) never carry a secret. */
describe('Secrets on error paths (e2e)', () => {
  let s3: TestS3Server;
  let proxy: FaultProxy;
  let service: BuiltService;

  beforeAll(async () => {
    s3 = await startS3Server();
    proxy = await FaultProxy.start(s3.port);
    // Keys the S3 server does not know: it answers InvalidAccessKeyId, naming the key id.
    service = await startBuiltService(
      s3Env(proxy.endpoint, s3.bucket, {
        LOG_LEVEL: 'trace',
        S3_REQUEST_TIMEOUT_MS: '1000', // a loaded CI machine took over 500 ms to relay an S3 error once: 504, not 502
        AWS_MAX_ATTEMPTS: '2',
        AWS_ACCESS_KEY_ID: KEY_ID,
        AWS_SECRET_ACCESS_KEY: SECRET,
        AWS_SESSION_TOKEN: SESSION_TOKEN,
        API_KEYS: API_KEY,
        API_KEYS_READONLY: READ_ONLY_KEY,
      }),
    );
  });

  afterAll(async () => {
    await service?.stop();
    await proxy?.close();
    await s3?.stop();
  });

  /** The secrets, and the parts of the API keys a near miss would show (a key is never echoed, even in part). */
  const leaks = (text: string): string[] =>
    [
      KEY_ID,
      SECRET,
      SESSION_TOKEN,
      encodeURIComponent(SECRET),
      API_KEY.slice(3, -4),
      READ_ONLY_KEY.slice(3, -4),
    ].filter((secret) => text.includes(secret) || text.includes(encodeURIComponent(secret)));

  it.each<[string, FaultMode, number]>([
    ['refusing the key id', { kind: 'pass' }, 502],
    [
      'refusing the signature',
      { kind: 'error', status: 403, code: 'SignatureDoesNotMatch', times: 1000, detail: ECHO },
      502,
    ],
    ['refusing an expired token', { kind: 'error', status: 400, code: 'ExpiredToken', times: 1000, detail: ECHO }, 502],
    ['stalling', { kind: 'stall' }, 504],
    ['unreachable', { kind: 'refuse' }, 503],
    ['failing', { kind: 'error', status: 500, code: 'InternalError', times: 1000, detail: ECHO }, 502],
  ])('should keep every secret out of the answers while S3 is %s', async (_name, mode, status) => {
    await proxy.setMode(mode);
    const answers = [
      await send(`${service.url}/files`, { headers: AUTH }),
      await send(`${service.url}/files/a/b.txt`, { headers: AUTH }),
      await send(`${service.url}/files/a/b.txt`, { method: 'HEAD', headers: AUTH }),
      await send(`${service.url}/files/a/b.txt`, { method: 'PUT', body: Buffer.from('data'), headers: AUTH }),
      await send(`${service.url}/files/a/b.txt`, { method: 'DELETE', headers: AUTH }),
    ];
    for (const res of answers) {
      expect(res.status).toBe(status);
      expect(leaks(JSON.stringify(res.headers) + res.body.toString())).toEqual([]);
    }
  });

  it.each<[string, string, string, number]>([
    ['a key with one character changed', 'GET', `Bearer ${API_KEY.slice(0, -1)}x`, 401],
    ['a key with one character more', 'GET', `Bearer ${API_KEY}x`, 401],
    ['a key cut short', 'GET', `Bearer ${API_KEY.slice(0, -1)}`, 401],
    ['the key as Basic credentials', 'GET', `Basic ${Buffer.from(`user:${API_KEY}`).toString('base64')}`, 401],
    ['the key without a scheme', 'GET', API_KEY, 401],
    ['the key twice', 'GET', `Bearer ${API_KEY} ${API_KEY}`, 401],
    ['the read-only key on a write', 'PUT', `Bearer ${READ_ONLY_KEY}`, 403],
    ['the read-only key on a delete', 'DELETE', `Bearer ${READ_ONLY_KEY}`, 403],
  ])('should refuse %s without echoing any key', async (_name, method, authorization, status) => {
    await proxy.setMode({ kind: 'pass' });
    const res = await send(`${service.url}/files/a/b.txt`, {
      method,
      headers: { Authorization: authorization },
      ...(method === 'PUT' && { body: Buffer.from('data') }),
    });
    expect(res.status).toBe(status);
    expect(leaks(JSON.stringify(res.headers) + res.body.toString())).toEqual([]);
  });

  it('should keep every secret out of the logs, and say where the credentials come from', () => {
    const logs = service.output();
    expect(logs).toContain(`static keys (AWS_ACCESS_KEY_ID), key id ${KEY_ID.slice(0, 4)}…`);
    // The failures above were logged (5xx are), without the secrets.
    for (const code of ['AccessDenied', 'Timeout', 'Unavailable', 'BadGateway']) {
      expect(logs).toContain(code);
    }
    // The refused keys were logged as requests (401/403 lines), without the keys.
    expect(logs).toMatch(/"statusCode":401/);
    expect(logs).toMatch(/"statusCode":403/);
    expect(leaks(logs)).toEqual([]);
  });
});
