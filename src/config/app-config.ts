import type { ObjectSettings } from './s3-options.js';
import type { Environment } from './environment.js';
import { splitList } from './list.js';

export type LogLevel = NonNullable<Environment['LOG_LEVEL']>;

export interface StaticCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/**
 * The validated, typed configuration. An abstract class so it can be both the type and the DI token.
 * Every default is set here, in `toAppConfig`.
 */
export abstract class AppConfig {
  abstract readonly production: boolean;
  abstract readonly port: number;
  abstract readonly logLevel: LogLevel;
  abstract readonly s3: {
    readonly bucket: string;
    readonly region: string;
    readonly endpoint?: string;
    readonly forcePathStyle: boolean;
    /** Normalised: no leading slash, ends with `/`, or empty. */
    readonly prefix: string;
    readonly checksums: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
    /** How a conditional write passes the ETag to S3: as HEAD gives it, without its quotes (Ceph RGW), or not at all. */
    readonly ifMatch: 'quoted' | 'unquoted' | 'off';
    readonly connectTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly maxAttempts: number;
    /** Static keys, or undefined for the SDK's default chain (instance role on EB). */
    readonly credentials?: StaticCredentials;
  };
  /** Encryption, storage class and default Cache-Control of every write. */
  abstract readonly objects: ObjectSettings;
  abstract readonly uploads: {
    readonly maxBytes: number;
    readonly partSize: number;
    readonly queueSize: number;
    /** A request body that sends nothing for this long is cut (nginx's client_body_timeout). */
    readonly idleTimeoutMs: number;
    /** Upload bytes all uploads together may hold in memory; more waits (backpressure). */
    readonly memoryBytes: number;
  };
  /** Copies of objects larger than this are multipart (UploadPartCopy in parts of `uploads.partSize`). */
  abstract readonly copyMultipartThreshold: number;
  /** tus uploads at /uploads. */
  abstract readonly tus: {
    /** An upload expires this long after its creation; then the cleanup removes its parts and bookkeeping. */
    readonly expirySeconds: number;
    /** Parts written to temporary files and sent to S3 at once, across all tus uploads of the process. */
    readonly partsInFlight: number;
  };
  /** Open connections the server accepts at once (`server.maxConnections`). */
  abstract readonly maxConnections: number;
  abstract readonly signedUrlTtlSeconds: number;
  /** Whether a signed upload may declare active content (HTML, SVG, XML, JavaScript...). */
  abstract readonly signedUploadActiveContent: boolean;
  /** How `GET /files/{key}` answers by default: streams the object, or redirects to a presigned S3 URL. */
  abstract readonly downloadMode: 'proxy' | 'redirect';
  abstract readonly allowedHosts: readonly string[];
  abstract readonly allowedHostsFromEc2: boolean;
  abstract readonly apiKeys: { readonly readWrite: readonly string[]; readonly readOnly: readonly string[] };
  /** Express `trust proxy` value. */
  abstract readonly trustProxy: boolean | number | readonly string[];
  /** Django's USE_X_FORWARDED_HOST: the trusted proxy's `X-Forwarded-Host` replaces `Host` for the Host check. */
  abstract readonly useForwardedHost: boolean;
  abstract readonly corsOrigins: readonly string[];
  /** Signs list cursors (HMAC key material): CURSOR_SECRET, or else derived from the API keys. */
  abstract readonly cursorSecret: string;
  /**
   * Signs upload-session tokens (HMAC key material): UPLOAD_SESSION_SECRET, or else derived from the API keys;
   * undefined when neither is set (development: the service then signs with a random per-process secret).
   */
  abstract readonly uploadSessionSecret?: string;
  /** Who may read /docs and /docs-json: anyone, any API key, or nobody (not served). */
  abstract readonly docs: 'public' | 'key' | 'off';
  /**
   * Prometheus metrics: off unless METRICS_PORT or METRICS_TOKEN is set. With a port, GET /metrics is served only
   * there (the token, if set, required there too); with only a token, on the main port behind that token.
   */
  abstract readonly metrics: {
    readonly enabled: boolean;
    readonly port?: number;
    readonly host: string;
    readonly token?: string;
  };
  /** How long in-flight requests may run on after SIGTERM before the process exits anyway. */
  abstract readonly shutdownTimeoutMs: number;
  /** The EC2 instance metadata service (IMDSv2). */
  abstract readonly imdsEndpoint: string;
}

const normalisePrefix = (prefix: string | undefined): string => {
  const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  return trimmed ? `${trimmed}/` : '';
};

const parseTrustProxy = (value: string | undefined): boolean | number | readonly string[] => {
  if (value === undefined || value === 'false') {
    return false;
  }
  if (value === 'true') {
    return true;
  }
  // Express splits a string on commas only; a list of addresses and names works whatever the separators were.
  return /^\d+$/.test(value) ? Number(value) : splitList(value);
};

/**
 * Without CURSOR_SECRET, cursors are signed with what every instance of one deployment already shares and a client
 * does not know in full: all the API keys. Rotating them invalidates cursors in flight (a 400; list again).
 */
const defaultCursorSecret = (env: Environment): string =>
  JSON.stringify([splitList(env.API_KEYS).sort(), splitList(env.API_KEYS_READONLY).sort()]);

export function toAppConfig(env: Environment): AppConfig {
  const endpoint = env.S3_ENDPOINT;
  const credentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        }
      : undefined;
  return {
    production: env.NODE_ENV === 'production',
    port: env.PORT ?? 3000,
    logLevel: env.LOG_LEVEL ?? 'info',
    s3: {
      bucket: env.S3_BUCKET,
      region: env.AWS_REGION ?? 'us-east-1',
      endpoint,
      forcePathStyle: env.S3_FORCE_PATH_STYLE ?? endpoint !== undefined,
      prefix: normalisePrefix(env.S3_PREFIX),
      // S3-compatible servers mostly store the SDK's default aws-chunked checksum bodies verbatim.
      checksums: env.S3_CHECKSUMS ?? (endpoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED'),
      ifMatch: env.S3_IF_MATCH ?? 'quoted',
      connectTimeoutMs: env.S3_CONNECT_TIMEOUT_MS ?? 3000,
      requestTimeoutMs: env.S3_REQUEST_TIMEOUT_MS ?? 30000,
      maxAttempts: env.S3_MAX_ATTEMPTS ?? 3,
      credentials,
    },
    objects: {
      sse: env.S3_SSE,
      sseKmsKeyId: env.S3_SSE_KMS_KEY_ID,
      storageClass: env.S3_STORAGE_CLASS,
      defaultCacheControl: env.DEFAULT_CACHE_CONTROL?.trim(),
    },
    uploads: {
      maxBytes: env.MAX_UPLOAD_BYTES ?? 5 * 1024 ** 3,
      partSize: env.UPLOAD_PART_SIZE ?? 8 * 1024 * 1024,
      queueSize: env.UPLOAD_QUEUE_SIZE ?? 2,
      idleTimeoutMs: env.UPLOAD_IDLE_TIMEOUT_MS ?? 60_000,
      // A t3.micro (1 GiB) runs the service in ~120 MiB; this leaves room for the OS, nginx and the EB agents.
      memoryBytes: env.UPLOAD_MEMORY_BYTES ?? Math.max(64 * 1024 * 1024, env.UPLOAD_PART_SIZE ?? 0),
    },
    copyMultipartThreshold: env.COPY_MULTIPART_THRESHOLD ?? 5 * 1024 ** 3,
    tus: {
      expirySeconds: env.TUS_EXPIRY_SECONDS ?? 86400,
      partsInFlight: env.TUS_PARTS_IN_FLIGHT ?? 4,
    },
    // Above EB nginx's 1024 worker_connections; each upload holds about (UPLOAD_QUEUE_SIZE + 2) parts of memory.
    maxConnections: env.MAX_CONNECTIONS ?? 2048,
    signedUrlTtlSeconds: env.SIGNED_URL_TTL_SECONDS ?? 900,
    signedUploadActiveContent: env.SIGNED_UPLOAD_ACTIVE_CONTENT ?? false,
    downloadMode: env.DOWNLOAD_MODE ?? 'proxy',
    allowedHosts: splitList(env.ALLOWED_HOSTS).map((h) => h.toLowerCase()),
    allowedHostsFromEc2: env.ALLOWED_HOSTS_FROM_EC2 ?? false,
    apiKeys: { readWrite: splitList(env.API_KEYS), readOnly: splitList(env.API_KEYS_READONLY) },
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    useForwardedHost: env.USE_X_FORWARDED_HOST ?? false,
    corsOrigins: splitList(env.CORS_ORIGINS),
    cursorSecret: env.CURSOR_SECRET ?? defaultCursorSecret(env),
    uploadSessionSecret:
      env.UPLOAD_SESSION_SECRET ?? (splitList(env.API_KEYS).length > 0 ? defaultCursorSecret(env) : undefined),
    docs: env.DOCS ?? (env.NODE_ENV === 'production' ? 'off' : 'public'),
    metrics: {
      enabled: env.METRICS_PORT !== undefined || env.METRICS_TOKEN !== undefined,
      port: env.METRICS_PORT,
      // All interfaces: in a container, loopback cannot be reached from the host (the usual scraper's place).
      host: env.METRICS_HOST ?? '0.0.0.0',
      token: env.METRICS_TOKEN,
    },
    // Under the 10 s Docker gives a container between SIGTERM and SIGKILL.
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS ?? 8000,
    imdsEndpoint: (env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? 'http://169.254.169.254').replace(/\/+$/, ''),
  };
}
