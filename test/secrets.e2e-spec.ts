import { s3Env } from './support/app.js';
import { FaultProxy, type FaultMode } from './support/fault-proxy.js';
import { send } from './support/http.js';
import { startS3Server, type TestS3Server } from './support/s3-server.js';
import { startServiceProcess, type ServiceProcess } from './support/built-service.js';

const KEY_ID = 'AKIAHOSTILETEST7Q2Z';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYHOSTILE0042';
const SESSION_TOKEN = 'FwoGZXIvYXdzEHostileSessionToken0123456789abcdef';

/** What S3 echoes when it refuses a request: the key id, and the string it signed (which names it again). */
const ECHO =
  `<AWSAccessKeyId>${KEY_ID}</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n20260101T000000Z\n` +
  `20260101/us-east-1/s3/aws4_request\nCredential=${KEY_ID}/20260101</StringToSign>`;

/** S3 refusing our keys, stalling or gone: the answers and the logs (at trace level) never carry a secret. */
describe('Secrets on error paths (e2e)', () => {
  let s3: TestS3Server;
  let proxy: FaultProxy;
  let service: ServiceProcess;

  beforeAll(async () => {
    s3 = await startS3Server();
    proxy = await FaultProxy.start(s3.port);
    // Keys s3rver does not know: it answers InvalidAccessKeyId, naming the key id.
    service = await startServiceProcess(
      s3Env(proxy.endpoint, s3.bucket, {
        LOG_LEVEL: 'trace',
        S3_REQUEST_TIMEOUT_MS: '500',
        S3_MAX_ATTEMPTS: '2',
        AWS_ACCESS_KEY_ID: KEY_ID,
        AWS_SECRET_ACCESS_KEY: SECRET,
        AWS_SESSION_TOKEN: SESSION_TOKEN,
      }),
    );
  });

  afterAll(async () => {
    await service?.stop();
    await proxy?.close();
    await s3?.stop();
  });

  const leaks = (text: string): string[] =>
    [KEY_ID, SECRET, SESSION_TOKEN, encodeURIComponent(SECRET)].filter((secret) => text.includes(secret));

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
      await send(`${service.url}/files`),
      await send(`${service.url}/files/a/b.txt`),
      await send(`${service.url}/files/a/b.txt`, { method: 'HEAD' }),
      await send(`${service.url}/files/a/b.txt`, { method: 'PUT', body: Buffer.from('data') }),
      await send(`${service.url}/files/a/b.txt`, { method: 'DELETE' }),
    ];
    for (const res of answers) {
      expect(res.status).toBe(status);
      expect(leaks(JSON.stringify(res.headers) + res.body.toString())).toEqual([]);
    }
  });

  it('should keep every secret out of the logs, and say where the credentials come from', () => {
    const logs = service.output();
    expect(logs).toContain(`static keys (AWS_ACCESS_KEY_ID), key id ${KEY_ID.slice(0, 4)}…`);
    // The failures above were logged (5xx are), without the secrets.
    for (const code of ['AccessDenied', 'Timeout', 'Unavailable', 'BadGateway']) {
      expect(logs).toContain(code);
    }
    expect(leaks(logs)).toEqual([]);
  });
});
