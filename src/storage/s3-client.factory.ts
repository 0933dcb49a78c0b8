import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import {
  fromContainerMetadata,
  fromEnv,
  fromHttp,
  fromIni,
  fromInstanceMetadata,
  fromProcess,
  fromSSO,
  fromTokenFile,
} from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { AppConfig } from '../config/app-config.js';

type S3Config = AppConfig['s3'];

export interface CredentialSource {
  readonly provider: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  name(credentials: AwsCredentialIdentity): string;
  /** The credentials last resolved (kept while a renewal fails); for metrics. */
  current(): AwsCredentialIdentity | undefined;
}

const REMOTE = { timeout: 1000, maxRetries: 1 };
/** Credentials are fetched again this long before they expire, as the SDK's own chain does. */
const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;

// The SDK's own switches between its remote steps (credential-provider-node's remoteProvider), read as it reads them.
const containerAnnounced = (): boolean =>
  Boolean(process.env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI);
const imdsAllowed = (): boolean =>
  !containerAnnounced() && [undefined, '', 'false'].includes(process.env.AWS_EC2_METADATA_DISABLED);

class NotApplicable extends Error {
  readonly tryNextLink = true;
}

const when =
  (applies: () => boolean, provider: AwsCredentialIdentityProvider): AwsCredentialIdentityProvider =>
  (props) =>
    applies() ? provider(props) : Promise.reject(new NotApplicable());

export function createCredentialSource(s3: S3Config): CredentialSource {
  if (s3.credentials) {
    const provider = { ...s3.credentials };
    return { provider, name: () => 'static keys (AWS_ACCESS_KEY_ID)', current: () => provider };
  }
  // The SDK's default chain (`defaultProvider`), step by step in its order, each named; IMDSv2 only.
  const container = 'container credentials (ECS task role)';
  const steps: [name: string, provider: AwsCredentialIdentityProvider][] = [
    ['environment variables', fromEnv()],
    ['SSO', fromSSO()],
    ['shared config profile', fromIni()],
    ['credential_process', fromProcess()],
    ['web identity token', fromTokenFile()],
    [container, when(containerAnnounced, fromHttp(REMOTE))],
    [container, when(containerAnnounced, fromContainerMetadata(REMOTE))],
    ['instance role (IMDS)', when(imdsAllowed, fromInstanceMetadata({ ...REMOTE, ec2MetadataV1Disabled: true }))],
  ];
  const names = new WeakMap<AwsCredentialIdentity, string>();
  let last: AwsCredentialIdentity | undefined;
  const resolve: AwsCredentialIdentityProvider = async (props) => {
    let lastError: unknown;
    for (const [name, provider] of steps) {
      try {
        const credentials = { ...(await provider(props)) };
        names.set(credentials, name);
        last = credentials;
        return credentials;
      } catch (error) {
        // As the SDK's chain: a step that found its configuration but failed ends the chain.
        if ((error as { tryNextLink?: boolean }).tryNextLink !== true) {
          throw error;
        }
        lastError = error instanceof NotApplicable ? lastError : error;
      }
    }
    throw new Error(
      `no credentials from the environment, shared config, SSO, credential_process, web identity, container or ` +
        `instance metadata${lastError instanceof Error ? ` (last: ${lastError.message})` : ''}`,
    );
  };
  const provider = memoize(resolve);
  return { provider, name: (credentials) => names.get(credentials) ?? 'default chain', current: () => last };
}

/** One resolution shared by both clients and the boot report; resolved again once the credentials near expiry. */
function memoize(provider: AwsCredentialIdentityProvider): AwsCredentialIdentityProvider {
  let current: Promise<AwsCredentialIdentity> | undefined;
  let resolved: AwsCredentialIdentity | undefined;
  return (props) => {
    const stale =
      resolved?.expiration !== undefined && resolved.expiration.getTime() - Date.now() < REFRESH_BEFORE_EXPIRY_MS;
    if (current === undefined || stale) {
      resolved = undefined;
      const attempt = provider(props);
      current = attempt;
      attempt.then(
        (credentials) => (resolved = credentials),
        () => {
          // A failure is not kept: the next call tries again.
          if (current === attempt) {
            current = undefined;
          }
        },
      );
    }
    return current;
  };
}

/** A client for the configured bucket; `checksums` overrides `S3_CHECKSUMS` (the presigning client's). */
export function createS3Client(s3: S3Config, source: CredentialSource, checksums = s3.checksums): S3Client {
  const client = new S3Client(s3ClientConfig(s3, source, checksums));
  // Without a logger, its middleware would still copy every command's input and output for the no-op one.
  client.middlewareStack.remove('loggerMiddleware');
  return client;
}

/** The settings of every S3 client of the service (also given to the tus store, which builds its own client). */
export function s3ClientConfig(s3: S3Config, source: CredentialSource, checksums = s3.checksums): S3ClientConfig {
  const agentOptions = { keepAlive: true, maxSockets: 256 };
  return {
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: s3.forcePathStyle,
    credentials: source.provider,
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    maxAttempts: s3.maxAttempts,
    retryMode: 'standard',
    // The middleware stack is resolved once per command class, not on every request (its sort and copies were about
    // 20 µs and 20 KiB of garbage per S3 call). Middleware must therefore be added before the first request.
    cacheMiddleware: true,
    requestHandler: {
      connectionTimeout: s3.connectTimeoutMs,
      // Socket inactivity (-> TimeoutError); the handler's `requestTimeout` only logs a warning unless told to throw.
      socketTimeout: s3.requestTimeoutMs,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    },
  };
}
