import { BlockList, isIP } from 'node:net';
import { MAX_SINGLE_UPLOAD_BYTES, type ObjectSettings } from './s3-options.js';
import type { Environment } from './environment.js';
import { asFolder, splitList } from './list.js';

/** The rules for request bodies that have no variable: fixed defaults, changed by tests through `createApp`. */
const REQUEST_BODIES = {
  /** Kestrel's MinRequestBodyDataRate: `bytesPerSecond` on average while the service waits, after `graceMs` (0: off). */
  minRate: { bytesPerSecond: 240, graceMs: 5_000 },
  /** nginx's lingering close after an early answer: lingering_time (`timeMs`) and lingering_timeout (`timeoutMs`). */
  lingering: { timeMs: 30_000, timeoutMs: 5_000 },
  /** An upload's wait for upload memory before a 503: under the 60 s after which EB's nginx and the ALB give up. */
  memoryWaitMs: 15_000,
};
export type RequestBodyRules = typeof REQUEST_BODIES;

/** The validated configuration, shaped by `toAppConfig` (every default is there): both the type and the DI token. */
export abstract class AppConfig extends (Object as unknown as abstract new () => ReturnType<typeof toAppConfig>) {}

/** Values only tests and benchmarks change: `createApp` options, not variables (one more thing to get wrong). */
export interface Tuning {
  readonly checksums?: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
  /** Overrides the detected If-Match form (ProbedCapabilities): quoted as HEAD gives it, unquoted (RGW), or off. */
  readonly ifMatch?: 'quoted' | 'unquoted' | 'off';
  readonly connectTimeoutMs?: number;
  /** A request body that sends nothing for this long is cut (nginx's client_body_timeout). */
  readonly idleTimeoutMs?: number;
  readonly copyMultipartThreshold?: number;
  readonly tusExpirySeconds?: number;
  readonly maxConnections?: number;
  readonly requestBodies?: Partial<RequestBodyRules>;
}

/** Variables earlier versions read, and what took their place: a boot warning names them, never a failed boot. */
export const REMOVED_VARIABLES: Readonly<Record<string, string>> = {
  S3_CHECKSUMS: 'checksums follow S3_ENDPOINT: WHEN_SUPPORTED on AWS S3, WHEN_REQUIRED on other S3 servers',
  S3_IF_MATCH: 'the service detects how its backend compares If-Match',
  S3_CONNECT_TIMEOUT_MS: 'a fixed 3 s connect timeout (S3_REQUEST_TIMEOUT_MS still applies)',
  S3_MAX_ATTEMPTS: "AWS_MAX_ATTEMPTS, the AWS SDK's standard name",
  CURSOR_SECRET: 'SIGNING_SECRET',
  UPLOAD_SESSION_SECRET: 'SIGNING_SECRET',
  UPLOAD_QUEUE_SIZE: 'a fixed 2 parts in flight per upload (UPLOAD_MEMORY_BYTES bounds the total)',
  COPY_MULTIPART_THRESHOLD: "S3's own limit: copies above 5 GiB are multipart",
  UPLOAD_IDLE_TIMEOUT_MS: 'a fixed 60 s (keep nginx client_body_timeout at 60 s)',
  MAX_CONNECTIONS: 'a fixed 2048 connections',
  TUS_EXPIRY_SECONDS: 'a fixed 24 h expiry of tus uploads',
  TUS_PARTS_IN_FLIGHT: 'derived from UPLOAD_MEMORY_BYTES and UPLOAD_PART_SIZE',
  SHUTDOWN_TIMEOUT_MS: "a fixed 8 s drain after SIGTERM (under Docker's 10 s)",
};

export const removedVariableWarnings = (raw: Record<string, unknown>): string[] =>
  Object.entries(REMOVED_VARIABLES)
    .filter(([name]) => raw[name] !== undefined)
    .map(([name, replacement]) => `${name} is no longer read and has no effect: replaced by ${replacement}`);

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** METRICS_PORT: `9464` on loopback, `<IP address>:9464` (`0.0.0.0:9464`, `[::]:9464`) there; else undefined. */
export function parseMetricsListen(value: string): { host: string; port: number; loopback: boolean } | undefined {
  const match = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):)?(\d{1,5})$/.exec(value.trim());
  const host = match?.[1] ?? match?.[2] ?? '127.0.0.1';
  const port = Number(match?.[3]);
  const family = isIP(host);
  return !match || port > 65535 || family === 0
    ? undefined
    : { host, port, loopback: LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6') };
}

// Express splits a string on commas only; a list of addresses and names works whatever the separators were.
const parseTrustProxy = (value = 'false'): boolean | number | readonly string[] =>
  value === 'true' || value === 'false' ? value === 'true' : /^\d+$/.test(value) ? Number(value) : splitList(value);

export function toAppConfig(env: Environment, tuning: Tuning = {}, warnings: readonly string[] = []) {
  const metricsListen = env.METRICS_PORT === undefined ? undefined : parseMetricsListen(env.METRICS_PORT);
  // Static keys, or undefined for the SDK's default chain (instance role on EB).
  const credentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        }
      : undefined;
  // Without SIGNING_SECRET: what every instance shares and no client knows in full, all the API keys.
  const signingSecret =
    env.SIGNING_SECRET ?? JSON.stringify([splitList(env.API_KEYS).sort(), splitList(env.API_KEYS_READONLY).sort()]);
  const partSize = env.UPLOAD_PART_SIZE ?? 8 * 1024 * 1024;
  // A t3.micro (1 GiB) runs the service in ~120 MiB; this leaves room for the OS, nginx and the EB agents.
  const memoryBytes = env.UPLOAD_MEMORY_BYTES ?? Math.max(64 * 1024 * 1024, partSize);
  return {
    warnings,
    production: env.NODE_ENV === 'production',
    port: env.PORT ?? 3000,
    logLevel: env.LOG_LEVEL ?? 'info',
    s3: {
      bucket: env.S3_BUCKET,
      region: env.AWS_REGION ?? 'us-east-1',
      endpoint: env.S3_ENDPOINT,
      forcePathStyle: env.S3_FORCE_PATH_STYLE ?? env.S3_ENDPOINT !== undefined,
      prefix: asFolder((env.S3_PREFIX ?? '').replace(/^\/+|\/+$/g, '')),
      // S3-compatible servers mostly store the SDK's default aws-chunked checksum bodies verbatim.
      checksums: tuning.checksums ?? (env.S3_ENDPOINT ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED'),
      ifMatch: tuning.ifMatch,
      connectTimeoutMs: tuning.connectTimeoutMs ?? 3000,
      requestTimeoutMs: env.S3_REQUEST_TIMEOUT_MS ?? 30000,
      maxAttempts: env.AWS_MAX_ATTEMPTS ?? 3,
      credentials,
    },
    objects: {
      sse: env.S3_SSE,
      sseKmsKeyId: env.S3_SSE_KMS_KEY_ID,
      storageClass: env.S3_STORAGE_CLASS,
      defaultCacheControl: env.DEFAULT_CACHE_CONTROL?.trim(),
    } satisfies ObjectSettings,
    uploads: {
      maxBytes: env.MAX_UPLOAD_BYTES ?? MAX_SINGLE_UPLOAD_BYTES,
      partSize,
      queueSize: 2,
      idleTimeoutMs: tuning.idleTimeoutMs ?? 60_000,
      memoryBytes,
    },
    requestBodies: { ...REQUEST_BODIES, ...tuning.requestBodies },
    copyMultipartThreshold: tuning.copyMultipartThreshold ?? MAX_SINGLE_UPLOAD_BYTES,
    tus: {
      expirySeconds: tuning.tusExpirySeconds ?? 86400,
      // What the upload memory holds in parts, at least 1: tus parts come from temporary files, not the pool.
      partsInFlight: Math.max(1, Math.floor(memoryBytes / partSize / 2)),
    },
    // Above EB nginx's 1024 worker_connections; each upload holds about 4 parts (2 in flight + 2) of memory.
    maxConnections: tuning.maxConnections ?? 2048,
    signedUrlTtlSeconds: env.SIGNED_URL_TTL_SECONDS ?? 900,
    signedUploadActiveContent: env.SIGNED_UPLOAD_ACTIVE_CONTENT ?? false,
    downloadMode: env.DOWNLOAD_MODE ?? 'proxy',
    allowedHosts: splitList(env.ALLOWED_HOSTS).map((h) => h.toLowerCase()),
    allowedHostsFromEc2: env.ALLOWED_HOSTS_FROM_EC2 ?? false,
    apiKeys: { readWrite: splitList(env.API_KEYS), readOnly: splitList(env.API_KEYS_READONLY) },
    publicPrefixes: splitList(env.PUBLIC_PREFIXES).map(asFolder),
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    useForwardedHost: env.USE_X_FORWARDED_HOST ?? false,
    corsOrigins: splitList(env.CORS_ORIGINS),
    // One secret, two uses: each gets key material of its own, so a MAC made for one is never valid for the other.
    cursorSecret: `cursors:${signingSecret}`,
    // Undefined without SIGNING_SECRET or API keys: then a random per-process secret.
    uploadSessionSecret:
      env.SIGNING_SECRET !== undefined || splitList(env.API_KEYS).length > 0
        ? `upload-sessions:${signingSecret}`
        : undefined,
    docs: env.DOCS ?? (env.NODE_ENV === 'production' ? 'off' : 'public'),
    metrics: {
      enabled: env.METRICS_PORT !== undefined || env.METRICS_TOKEN !== undefined,
      port: metricsListen?.port,
      host: metricsListen?.host ?? '127.0.0.1',
      token: env.METRICS_TOKEN,
    },
    // Under the 10 s Docker gives a container between SIGTERM and SIGKILL.
    shutdownTimeoutMs: 8000,
    imdsEndpoint: (env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? 'http://169.254.169.254').replace(/\/+$/, ''),
  } as const;
}
