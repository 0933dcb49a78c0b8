import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { AppConfig } from '../config/app-config.js';

/** Where the S3 client's credentials come from, as said in the boot log. */
export interface CredentialSource {
  /** `static keys` when keys are configured; otherwise resolved lazily by the default chain. */
  readonly kind: 'static' | 'default-chain';
  /** How static keys are named in the log. */
  readonly label?: string;
  readonly provider: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}

/** The part of the config the client needs: the local S3 server supplies its own target. */
export interface S3Target {
  readonly bucket: string;
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
  readonly credentials?: AppConfig['s3']['credentials'];
  /** Overrides `S3_CHECKSUMS` for a target known to need it (the embedded server). */
  readonly checksums?: AppConfig['s3']['checksums'];
  /** Names static credentials that do not come from AWS_ACCESS_KEY_ID. */
  readonly credentialsLabel?: string;
}

const SOURCE_NAMES: Record<string, string> = {
  CREDENTIALS_IMDS: 'instance role (IMDS)',
  CREDENTIALS_HTTP: 'container credentials (ECS task role)',
  CREDENTIALS_ENV_VARS: 'environment variables',
  CREDENTIALS_ENV_VARS_STS_WEB_ID_TOKEN: 'web identity token',
  CREDENTIALS_STS_ASSUME_ROLE_WEB_ID: 'web identity token',
  CREDENTIALS_PROFILE_STS_WEB_ID_TOKEN: 'web identity token',
  CREDENTIALS_SSO: 'SSO',
  CREDENTIALS_SSO_LEGACY: 'SSO',
  CREDENTIALS_PROFILE_SSO: 'SSO profile',
  CREDENTIALS_PROCESS: 'credential_process',
  CREDENTIALS_PROFILE_PROCESS: 'credential_process profile',
  CREDENTIALS_PROFILE: 'shared config profile',
};

/** Names the source of resolved credentials from the SDK's own feature marks. */
export function describeCredentials(
  credentials: AwsCredentialIdentity,
  source: Omit<CredentialSource, 'provider'>,
): string {
  if (source.kind === 'static') {
    return source.label ?? 'static keys (AWS_ACCESS_KEY_ID)';
  }
  const marks = Object.keys((credentials as { $source?: Record<string, string> }).$source ?? {});
  const named = marks.map((m) => SOURCE_NAMES[m]).find((n) => n !== undefined);
  return named ?? (marks.length > 0 ? `default chain (${marks.join(', ')})` : 'default chain');
}

export function createCredentialSource(target: S3Target): CredentialSource {
  if (target.credentials) {
    return { kind: 'static', label: target.credentialsLabel, provider: { ...target.credentials } };
  }
  return { kind: 'default-chain', provider: defaultChainNamingItsSource() };
}

/** The chain's steps, as its debug log names them, and the feature mark of the credentials each gives. */
const CHAIN_STEPS: [RegExp, string][] = [
  [/fromEnv/, 'CREDENTIALS_ENV_VARS'],
  [/fromSSO/, 'CREDENTIALS_SSO'],
  [/fromIni/, 'CREDENTIALS_PROFILE'],
  [/fromProcess/, 'CREDENTIALS_PROCESS'],
  [/fromTokenFile/, 'CREDENTIALS_ENV_VARS_STS_WEB_ID_TOKEN'],
  [/fromHttp|fromContainerMetadata/, 'CREDENTIALS_HTTP'],
  [/fromInstanceMetadata/, 'CREDENTIALS_IMDS'],
];

/**
 * The SDK's default chain (IMDSv1 fallback off: the IMDSv2 token is required). Its providers do not all mark the
 * credentials they return with their source, so the step the chain last tried (from its debug log) names it.
 */
function defaultChainNamingItsSource(): AwsCredentialIdentityProvider {
  let lastStep: string | undefined;
  const ignore = (): void => undefined;
  const logger = {
    debug: (...parts: unknown[]) => {
      const text = parts.map(String).join(' ');
      lastStep = CHAIN_STEPS.find(([pattern]) => pattern.test(text))?.[1] ?? lastStep;
    },
    info: ignore,
    warn: ignore,
    error: ignore,
  };
  const chain = fromNodeProviderChain({ ec2MetadataV1Disabled: true, timeout: 1000, maxRetries: 1, logger });
  return async (props) => {
    const credentials = await chain(props);
    const marked = Object.keys((credentials as { $source?: object }).$source ?? {}).length > 0;
    return marked || lastStep === undefined ? credentials : { ...credentials, $source: { [lastStep]: '0' } };
  };
}

export function createS3Client(config: AppConfig['s3'], target: S3Target, source: CredentialSource): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: 256 };
  return new S3Client({
    region: config.region,
    endpoint: target.endpoint,
    forcePathStyle: target.forcePathStyle,
    credentials: source.provider,
    requestChecksumCalculation: target.checksums ?? config.checksums,
    responseChecksumValidation: target.checksums ?? config.checksums,
    maxAttempts: config.maxAttempts,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: config.connectTimeoutMs,
      // Socket inactivity (-> TimeoutError); the handler's `requestTimeout` only logs a warning unless told to throw.
      socketTimeout: config.requestTimeoutMs,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    },
  });
}
