import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { startFakeImds, type FakeImds } from './support/fake-imds.js';
import { startRecordingProxy, type RecordingProxy } from './support/recording-proxy.js';
import { startS3Server, testCredentials, type TestS3Server } from './support/s3-server.js';
import { startBuiltService, type BuiltService } from './support/built-service.js';

const HOST = 'files.example.com';
const INSTANCE_IP = '10.0.9.17';

/**
 * On Elastic Beanstalk the hop-limit hook's ModifyInstanceMetadataOptions answers "pending" and applies later: the
 * container may start while IMDS token responses still die at the Docker bridge. The service must not be left
 * refusing the health checker's Host (the instance IP) for the life of the process.
 */
describe('instance IP lookup racing the hop-limit change (e2e: real process, fake IMDSv2)', () => {
  let s3: TestS3Server;
  let proxy: RecordingProxy;
  let imds: FakeImds;
  let service: BuiltService;

  beforeAll(async () => {
    [s3, imds] = await Promise.all([
      startS3Server(),
      startFakeImds({ localIpv4: INSTANCE_IP, dropTokenResponses: true }),
    ]);
    proxy = await startRecordingProxy(s3.endpoint, { resignWith: testCredentials() });
    service = await startBuiltService({
      NODE_ENV: 'production',
      PORT: '0',
      LOG_LEVEL: 'info',
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: proxy.endpoint,
      ALLOWED_HOSTS: HOST,
      ALLOWED_HOSTS_FROM_EC2: 'true',
      API_KEYS: randomBytes(24).toString('hex'),
      AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint,
      S3_CONNECT_TIMEOUT_MS: '1000',
      S3_REQUEST_TIMEOUT_MS: '5000',
    });
  });

  afterAll(async () => {
    await service?.stop(0);
    await Promise.all([proxy?.close(), imds?.close(), s3?.stop()]);
  });

  const added = () => service.logs.filter((l) => l.msg.startsWith('ALLOWED_HOSTS_FROM_EC2: added'));

  it('should refuse the instance IP while IMDS is out of reach, then accept it once IMDS answers, without a restart', async () => {
    await request(service.url).get('/health/').set('Host', INSTANCE_IP).expect(400);
    expect(added()).toEqual([]);

    imds.setDropTokenResponses(false);
    const line = await service.waitForLog((l) => l.msg.startsWith('ALLOWED_HOSTS_FROM_EC2: added'), 15_000);
    expect(line.msg).toMatch(
      new RegExp(`added this instance's private IPv4 ${INSTANCE_IP.replaceAll('.', '\\.')} \\(lookup \\d+`),
    );
    // The instance role's credentials come back too: the whole health check passes with the instance IP as Host.
    const health = await request(service.url).get('/health/').set('Host', INSTANCE_IP);
    expect({ status: health.status, body: health.body as unknown }).toMatchObject({
      status: 200,
      body: { status: 'ok', info: { storage: { status: 'up' } } },
    });
  });

  it('should stop looking once it has the address, and have said so once', async () => {
    const lookups = imds.requests.filter((r) => r.path === '/latest/meta-data/local-ipv4').length;
    await new Promise((r) => setTimeout(r, 2500));
    expect(imds.requests.filter((r) => r.path === '/latest/meta-data/local-ipv4')).toHaveLength(lookups);
    expect(added()).toHaveLength(1);
    expect(service.logs.filter((l) => l.msg.startsWith('ALLOWED_HOSTS_FROM_EC2: could not read'))).toHaveLength(1);
  });
});
