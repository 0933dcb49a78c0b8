import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { toAppConfig } from '../src/config/app-config.js';
import { validateEnvironment } from '../src/config/environment.js';
import { ProbedCapabilities } from '../src/storage/probed-capabilities.js';
import { S3Gateway } from '../src/storage/s3-gateway.js';
import { StorageService } from '../src/storage/storage.service.js';
import { randomKey, s3Env, s3Suite } from './support/app.js';

/** Which S3 calls an upload costs: every extra request is paid by S3 on the hot path of small uploads. */
describe(StorageService.name, () => {
  let storage: StorageService;
  let calls: string[] = [];

  const suite = s3Suite();

  beforeAll(async () => {
    suite.s3.s3.middlewareStack.add(
      (next, context) => (args) => {
        calls.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize' },
    );
    const config = toAppConfig(validateEnvironment(s3Env(suite.s3.endpoint, suite.s3.bucket)));
    // Both backends honour If-None-Match on PutObject (s3rver through its gap fill): learned by the probe, as at boot.
    const capabilities = new ProbedCapabilities(suite.s3.s3, config, suite.s3.s3);
    await capabilities.onApplicationBootstrap();
    expect(await capabilities.conditionalWrites()).toMatchObject({ putIfNoneMatch: true });
    // The signing client only presigns URLs, which these uploads never do.
    storage = new StorageService(new S3Gateway(suite.s3.s3, config), config, suite.s3.s3, capabilities);
  });

  beforeEach(() => {
    calls = [];
  });

  const BODY = 'four kibibytes would do as well';
  const upload = (
    key: string,
    options: { reportCreated?: boolean; ifNoneMatch?: boolean; size?: number; body?: string } = {},
  ) => {
    const { body, ...rest } = options;
    return storage.upload({
      key,
      body: Readable.from([Buffer.from(body ?? BODY)]),
      contentType: 'text/plain',
      maxBytes: 1024,
      ...rest,
    });
  };
  const stored = async (key: string) =>
    (await suite.s3.s3.send(new GetObjectCommand({ Bucket: suite.s3.bucket, Key: key }))).Body!.transformToString();

  it('should upload a small body with one PutObject when nobody needs to know whether the key existed', async () => {
    const result = await upload(randomKey());

    expect(calls).toEqual(['PutObjectCommand']);
    expect(result.created).toBeUndefined();
  });

  it('should tell a new key from a replaced one by a conditional write when the body fits one part', async () => {
    const key = randomKey();

    expect((await upload(key, { reportCreated: true, size: BODY.length })).created).toBe(true);
    expect(calls).toEqual(['PutObjectCommand']);
    calls = [];
    expect((await upload(key, { reportCreated: true, size: 7, body: 'replace' })).created).toBe(false);
    expect(calls).toEqual(['PutObjectCommand', 'PutObjectCommand']); // refused (412), then written
    expect(await stored(key)).toBe('replace');
  });

  it('should refuse an existing key by the conditional write alone when the body fits one part', async () => {
    const key = randomKey();
    await upload(key);
    calls = [];

    await expect(upload(key, { ifNoneMatch: true, size: 7, body: 'refused' })).rejects.toMatchObject({
      code: 'PreconditionFailed',
    });
    expect(calls).toEqual(['PutObjectCommand', 'HeadObjectCommand']); // the write, then: was it ours?
    expect(await stored(key)).toBe(BODY);
  });

  it('should ask S3 whether the key exists first when the size is unknown and the caller needs created or replaced', async () => {
    const key = randomKey();

    expect((await upload(key, { reportCreated: true })).created).toBe(true);
    expect((await upload(key, { reportCreated: true })).created).toBe(false);
    expect(calls).toEqual(['HeadObjectCommand', 'PutObjectCommand', 'HeadObjectCommand', 'PutObjectCommand']);
  });

  it('should check the key before sending a body of unknown size when overwrites are refused', async () => {
    const key = randomKey();
    await upload(key);
    calls = [];

    await expect(upload(key, { ifNoneMatch: true })).rejects.toMatchObject({ code: 'PreconditionFailed' });
    expect(calls).toEqual(['HeadObjectCommand']);
  });
});
