import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { AwsCredentialIdentity } from '@aws-sdk/types';
import { startFakeImds, type FakeImds } from '../../test/support/fake-imds.js';
import { toAppConfig } from '../config/app-config.js';
import { validateEnvironment } from '../config/environment.js';
import { createCredentialSource, createS3Client, type CredentialSource } from './s3-client.factory.js';

/** Every variable the SDK's credential providers read, so none of the machine's own can answer. */
const CREDENTIAL_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_EC2_METADATA_SERVICE_ENDPOINT',
  'AWS_EC2_METADATA_DISABLED',
];

const chainConfig = toAppConfig(validateEnvironment({ S3_BUCKET: 'bucket' })).s3;

async function resolve(source: CredentialSource): Promise<{ name: string; credentials: AwsCredentialIdentity }> {
  const { provider } = source;
  const credentials = typeof provider === 'function' ? await provider() : provider;
  return { name: source.name(credentials), credentials };
}

describe(createCredentialSource.name, () => {
  const saved = Object.fromEntries(CREDENTIAL_VARIABLES.map((name) => [name, process.env[name]]));
  let dir: string;
  let imds: FakeImds;

  beforeAll(async () => {
    imds = await startFakeImds();
  });

  afterAll(async () => {
    await imds.close();
  });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'credential-chain-'));
    for (const name of CREDENTIAL_VARIABLES) {
      delete process.env[name];
    }
    // Files that do not exist (fresh names: the SDK caches the files it has read) and the fake instance role.
    process.env.AWS_CONFIG_FILE = path.join(dir, 'config');
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'credentials');
    process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imds.endpoint;
  });

  afterEach(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) {
        delete process.env[name];
      } else {
        process.env[name] = value;
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('should name configured keys as static keys, without asking the chain', async () => {
    const source = createCredentialSource({
      ...chainConfig,
      credentials: { accessKeyId: 'AKIA1', secretAccessKey: 's' },
    });
    const { name, credentials } = await resolve(source);
    expect(name).toBe('static keys (AWS_ACCESS_KEY_ID)');
    expect(credentials.accessKeyId).toBe('AKIA1');
    expect(source.current()).toBe(credentials);
    expect(imds.requests).toEqual([]);
  });

  it('should name environment variables first', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIAFROMENV';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    const { name, credentials } = await resolve(createCredentialSource(chainConfig));
    expect({ name, id: credentials.accessKeyId }).toEqual({ name: 'environment variables', id: 'AKIAFROMENV' });
  });

  it('should name a shared credentials file profile', async () => {
    await writeFile(
      process.env.AWS_SHARED_CREDENTIALS_FILE!,
      '[default]\naws_access_key_id = AKIAFROMFILE\naws_secret_access_key = secret\n',
    );
    const { name, credentials } = await resolve(createCredentialSource(chainConfig));
    expect({ name, id: credentials.accessKeyId }).toEqual({ name: 'shared config profile', id: 'AKIAFROMFILE' });
  });

  it('should name a profile of the config file, chosen by AWS_PROFILE', async () => {
    await writeFile(
      process.env.AWS_CONFIG_FILE!,
      '[profile files]\naws_access_key_id = AKIAFROMCONFIG\naws_secret_access_key = secret\n',
    );
    process.env.AWS_PROFILE = 'files';
    const { name, credentials } = await resolve(createCredentialSource(chainConfig));
    expect({ name, id: credentials.accessKeyId }).toEqual({ name: 'shared config profile', id: 'AKIAFROMCONFIG' });
  });

  it('should name container credentials when ECS announces an endpoint, and not ask IMDS', async () => {
    const expiration = new Date(Date.now() + 3600_000).toISOString();
    const server = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ AccessKeyId: 'ASIATASK', SecretAccessKey: 's', Token: 't', Expiration: expiration }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const { name, credentials } = await resolve(createCredentialSource(chainConfig));
      expect({ name, id: credentials.accessKeyId }).toEqual({
        name: 'container credentials (ECS task role)',
        id: 'ASIATASK',
      });
      expect(imds.requests).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('should name the instance role last, over IMDSv2 only, and resolve it once for all its users', async () => {
    imds.requests.length = 0;
    const source = createCredentialSource(chainConfig);
    expect(source.current()).toBeUndefined();
    const [first, second] = await Promise.all([resolve(source), resolve(source)]);
    expect(source.current()).toBe(first.credentials);
    expect(first.name).toBe('instance role (IMDS)');
    expect(first.credentials).toMatchObject({
      accessKeyId: imds.current.AccessKeyId,
      sessionToken: imds.current.Token,
    });
    expect(first.credentials.expiration?.toISOString()).toBe(new Date(imds.current.Expiration).toISOString());
    expect(second.credentials).toBe(first.credentials);
    expect(imds.served).toHaveLength(1);
    expect(imds.requests.filter((r) => r.method === 'GET' && r.token === undefined)).toEqual([]);
  });

  it('should fail when no step has credentials', async () => {
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    await expect(resolve(createCredentialSource(chainConfig))).rejects.toThrow(/^no credentials from the environment/);
  });
});

describe(createS3Client.name, () => {
  it('should leave out the SDK logging middleware, which only feeds its no-op logger', () => {
    const config = toAppConfig(
      validateEnvironment({ S3_BUCKET: 'bucket', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' }),
    ).s3;
    const client = createS3Client(config, createCredentialSource(config));
    try {
      const stack = client.middlewareStack.identify().join('\n');
      expect(stack).not.toMatch(/loggerMiddleware/);
      expect(stack).toMatch(/httpSigningMiddleware/);
    } finally {
      client.destroy();
    }
  });

  it('should resolve its middleware stack once per command class, not on every request', async () => {
    const config = toAppConfig(
      validateEnvironment({ S3_BUCKET: 'bucket', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' }),
    ).s3;
    const client = createS3Client(config, createCredentialSource(config));
    let resolved = 0;
    client.middlewareStack.add(
      () => {
        resolved++;
        return () => Promise.resolve({ output: { $metadata: {} }, response: {} });
      },
      { step: 'initialize', name: 'answerHere' },
    );
    try {
      for (let i = 0; i < 3; i++) {
        await client.send(new HeadObjectCommand({ Bucket: 'bucket', Key: `k${i}` }));
      }
      await client.send(new DeleteObjectCommand({ Bucket: 'bucket', Key: 'k' }));
      expect(resolved).toBe(2);
    } finally {
      client.destroy();
    }
  });
});
