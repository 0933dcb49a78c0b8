import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsEmpty,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateBy,
  ValidateIf,
  getMetadataStorage,
  validateSync,
  type ValidationError,
} from 'class-validator';
import { isCacheControl, MAX_PARTS, SSE_MODES, STORAGE_CLASSES } from './s3-options.js';
import { parseMetricsListen, toAppConfig } from './app-config.js';
import { LIST_FORM, splitList } from './list.js';

const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') {
    return value;
  }
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) {
    return true;
  }
  if (['false', '0', 'no', 'off', ''].includes(v)) {
    return false;
  }
  return value;
};
const toInteger = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
const emptyToUndefined = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const CONTROL_OR_BACKSLASH = /[\\\u0000-\u001f\u007f-\u009f]/;

/** A folder of keys, as the key rules allow one (`src/files/file-key.ts`), `/` at the end optional; or empty. */
const isFolderOrEmpty = (entry: string): boolean => {
  if (entry === '') {
    return true;
  }
  const segments = entry.replace(/\/$/, '').split('/');
  return (
    segments[0] !== '.tus' &&
    segments.every((s) => s !== '' && s !== '.' && s !== '..' && !CONTROL_OR_BACKSLASH.test(s))
  );
};

const isProduction = (env: Environment): boolean => env.NODE_ENV === 'production';
const metricsBeyondLoopback = (env: Environment): boolean =>
  typeof env.METRICS_PORT === 'string' && parseMetricsListen(env.METRICS_PORT)?.loopback === false;

const API_KEY = /^[A-Za-z0-9._~+/=-]{16,}$/;

/** A list setting (see `list.ts`): at least one item, every item matching `item`. */
const IsListOf = (item: RegExp, what: string) =>
  ValidateBy({
    name: 'isListOf',
    validator: {
      validate: (value: unknown) =>
        typeof value === 'string' && splitList(value).length > 0 && splitList(value).every((i) => item.test(i)),
      defaultMessage: () => `must be ${LIST_FORM} of ${what}`,
    },
  });

/** Every variable the service reads, with its rules. Defaults live in `app-config.ts`. */
export class Environment {
  @IsOptional()
  @IsIn(['development', 'production', 'test'])
  NODE_ENV?: 'development' | 'production' | 'test';

  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number' })
  @Min(0)
  @Max(65535)
  PORT?: number;

  /** Always required: the app has no S3 of its own (`npm start` runs a development S3 when it is unset). */
  @Transform(emptyToUndefined)
  @IsString({ message: 'is required (for development, `npm start` without S3_BUCKET starts a local S3 and sets it)' })
  @Matches(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: 'must be a valid S3 bucket name (3-63 of a-z 0-9 . -)' })
  S3_BUCKET!: string;

  @IsOptional()
  @Matches(/^[a-z]{2}(-[a-z]+)+-\d+$/, { message: 'must be an AWS region such as us-east-1' })
  AWS_REGION?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl(
    { require_tld: false, require_protocol: true, protocols: ['http', 'https'] },
    { message: 'must be an http(s) URL' },
  )
  S3_ENDPOINT?: string;

  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  S3_FORCE_PATH_STYLE?: boolean;

  @Transform(emptyToUndefined)
  @IsOptional()
  @MaxLength(512)
  @Matches(/^[^\\\u0000-\u001f\u007f]+$/, { message: 'must not contain control characters or backslashes' })
  S3_PREFIX?: string;

  /** Server-side encryption asked for on every write (the bucket's default encryption applies otherwise). */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(SSE_MODES, { message: `must be ${SSE_MODES.join(' or ')}` })
  S3_SSE?: (typeof SSE_MODES)[number];

  @Transform(emptyToUndefined)
  @ValidateIf((env: Environment) => env.S3_SSE_KMS_KEY_ID !== undefined)
  @ValidateBy({
    name: 'needsKms',
    validator: {
      validate: (_value: unknown, args) => (args?.object as Environment).S3_SSE === 'aws:kms',
      defaultMessage: () => 'is only used with S3_SSE=aws:kms',
    },
  })
  @Matches(/^[\w:/.-]{1,2048}$/, { message: 'must be a KMS key id, key ARN, alias name or alias ARN' })
  S3_SSE_KMS_KEY_ID?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(STORAGE_CLASSES, { message: `must be one of ${STORAGE_CLASSES.join(', ')}` })
  S3_STORAGE_CLASS?: (typeof STORAGE_CLASSES)[number];

  /** Stored with every object whose upload names no Cache-Control. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @ValidateBy({
    name: 'isCacheControl',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && isCacheControl(value.trim()),
      defaultMessage: () => 'must be a list of cache directives (RFC 9111), e.g. "private, max-age=3600"',
    },
  })
  DEFAULT_CACHE_CONTROL?: string;

  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number of milliseconds' })
  @Min(100)
  S3_REQUEST_TIMEOUT_MS?: number;

  /** The AWS SDK's own setting (its standard name), read here so it is validated and reported like the others. */
  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number' })
  @Min(1)
  @Max(10)
  AWS_MAX_ATTEMPTS?: number;

  @Transform(emptyToUndefined)
  @ValidateIf((env: Environment) => env.AWS_ACCESS_KEY_ID !== undefined || env.AWS_SECRET_ACCESS_KEY !== undefined)
  @IsString({ message: 'must be set together with AWS_SECRET_ACCESS_KEY' })
  AWS_ACCESS_KEY_ID?: string;

  @Transform(emptyToUndefined)
  @ValidateIf((env: Environment) => env.AWS_ACCESS_KEY_ID !== undefined || env.AWS_SECRET_ACCESS_KEY !== undefined)
  @IsString({ message: 'must be set together with AWS_ACCESS_KEY_ID' })
  AWS_SECRET_ACCESS_KEY?: string;

  @Transform(emptyToUndefined)
  @ValidateIf((env: Environment) => env.AWS_SESSION_TOKEN !== undefined && env.AWS_ACCESS_KEY_ID === undefined)
  @IsEmpty({ message: 'is only used with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY' })
  AWS_SESSION_TOKEN?: string;

  @Transform(emptyToUndefined)
  @ValidateIf((env: Environment) => isProduction(env) || env.ALLOWED_HOSTS !== undefined)
  @IsString({ message: 'is required when NODE_ENV=production' })
  @IsListOf(/^[^\s,;]+$/, 'host names')
  ALLOWED_HOSTS?: string;

  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  ALLOWED_HOSTS_FROM_EC2?: boolean;

  @Transform(emptyToUndefined)
  @ValidateIf((env: Environment) => isProduction(env) || env.API_KEYS !== undefined)
  @IsString({ message: 'is required when NODE_ENV=production' })
  @IsListOf(API_KEY, 'keys of 16+ characters (A-Z a-z 0-9 . _ ~ + / = -)')
  API_KEYS?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsListOf(API_KEY, 'keys of 16+ characters (A-Z a-z 0-9 . _ ~ + / = -)')
  API_KEYS_READONLY?: string;

  /** Folders (`public/`, `media/avatars/`) whose files anyone may read (GET, HEAD) without an API key. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @ValidateBy({
    name: 'isFolderList',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && splitList(value).every(isFolderOrEmpty),
      defaultMessage: () =>
        'must be folders such as public/ or media/avatars/, separated by commas or spaces (no leading /, no empty, ' +
        '. or .. segments, no backslashes or control characters, not .tus/)',
    },
  })
  PUBLIC_PREFIXES?: string;

  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number of bytes' })
  @Min(1)
  @Max(5 * 1024 ** 4)
  MAX_UPLOAD_BYTES?: number;

  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number of seconds' })
  @Min(1)
  @Max(604800)
  SIGNED_URL_TTL_SECONDS?: number;

  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  SIGNED_UPLOAD_ACTIVE_CONTENT?: boolean;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(['proxy', 'redirect'], { message: 'must be proxy or redirect' })
  DOWNLOAD_MODE?: 'proxy' | 'redirect';

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^(true|false|\d+|[\w.:/,;\s-]+)$/, {
    message: `must be true, false, a hop count, or ${LIST_FORM} of trusted addresses/subnets`,
  })
  TRUST_PROXY?: string;

  /** Django's USE_X_FORWARDED_HOST: useless without a trusted proxy, so asking for it alone is a mistake. */
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  @ValidateBy({
    name: 'needsTrustProxy',
    validator: {
      validate: (value: unknown, args) =>
        value !== true || !['false', '0', undefined].includes((args?.object as Environment).TRUST_PROXY),
      defaultMessage: () => 'needs TRUST_PROXY: X-Forwarded-Host is only believed from a trusted proxy',
    },
  })
  USE_X_FORWARDED_HOST?: boolean;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  CORS_ORIGINS?: string;

  /**
   * Signs list cursors and upload-session tokens (each with a key of its own derived from it); every instance behind
   * one load balancer needs the same value.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^[\x21-\x7e]{32,}$/, { message: 'must be 32+ printable ASCII characters, e.g. from: openssl rand -hex 32' })
  SIGNING_SECRET?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(['public', 'key', 'off'], { message: 'must be public, key or off' })
  DOCS?: 'public' | 'key' | 'off';

  /**
   * A separate listener that serves only GET /metrics (Prometheus); unset: no such listener. `9464` listens on
   * loopback; `0.0.0.0:9464` (any IP address) listens there, and then METRICS_TOKEN is required.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @ValidateBy({
    name: 'metricsListen',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && parseMetricsListen(value) !== undefined,
      defaultMessage: () => 'must be a port (0-65535) on loopback, or <IP address>:<port> such as 0.0.0.0:9464',
    },
  })
  @ValidateBy({
    name: 'notThePort',
    validator: {
      validate: (value: unknown, args) => {
        const port = typeof value === 'string' ? parseMetricsListen(value)?.port : undefined;
        return port === undefined || port === 0 || port !== ((args?.object as Environment).PORT ?? 3000);
      },
      defaultMessage: () => 'must differ from PORT (the metrics listener is separate from the API)',
    },
  })
  METRICS_PORT?: string;

  /**
   * Bearer token for GET /metrics: on the main port without METRICS_PORT, required on the metrics port if set, and
   * required when METRICS_PORT listens beyond loopback.
   */
  @Transform(emptyToUndefined)
  @ValidateIf((env: Environment) => env.METRICS_TOKEN !== undefined || metricsBeyondLoopback(env))
  @ValidateBy({
    name: 'metricsToken',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && /^[A-Za-z0-9._~+/=-]{16,}$/.test(value),
      defaultMessage: (args) =>
        args?.value === undefined
          ? 'is required when METRICS_PORT listens on an address other than loopback'
          : 'must be 16+ characters (A-Z a-z 0-9 . _ ~ + / = -), e.g. from: openssl rand -hex 32',
    },
  })
  METRICS_TOKEN?: string;

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

  /** Also read by the AWS SDK itself, so the instance-role credentials and the EC2 address come from one place. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl(
    { require_tld: false, require_protocol: true, protocols: ['http'] },
    { message: 'must be an http URL such as http://169.254.169.254' },
  )
  AWS_EC2_METADATA_SERVICE_ENDPOINT?: string;

  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number of bytes' })
  @Min(5 * 1024 * 1024, { message: 'must be at least 5 MiB (the S3 minimum part size)' })
  @Max(5 * 1024 ** 3)
  UPLOAD_PART_SIZE?: number;

  @IsOptional()
  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number of bytes' })
  @Min(5 * 1024 * 1024, { message: 'must be at least 5 MiB (one part of the smallest size S3 allows)' })
  UPLOAD_MEMORY_BYTES?: number;
}

export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigValidationError';
  }
}

/**
 * One reason per variable: the check listed first on the property (required, whole number...), which class-validator
 * runs last; a value that fails it fails the narrower checks below it too, and those would only confuse.
 */
const flatten = (errors: ValidationError[]): string[] =>
  errors.flatMap((e) => {
    const reason = Object.values(e.constraints ?? {}).at(-1);
    return reason === undefined ? [] : [describe(e.property, reason)];
  });

/** class-validator messages start with the property name; keep the name, drop any echoed value. */
const describe = (name: string, reason: string): string =>
  `${name} ${reason.startsWith(name) ? reason.slice(name.length).trim() : reason}`;

/** Every variable name the schema knows, in declaration order (also checked against `.env.example`). */
export const ENVIRONMENT_VARIABLES: readonly string[] = getMetadataStorage()
  .getTargetValidationMetadatas(Environment, '', true, false)
  .map((m) => m.propertyName)
  .filter((name, i, all) => all.indexOf(name) === i);

/**
 * A body of unknown length (chunked, a form part) must fit in 10,000 parts of UPLOAD_PART_SIZE, and the upload
 * memory budget must hold at least one part.
 */
function uploadSizeProblems(env: Environment): string[] {
  const { maxBytes, partSize, memoryBytes } = toAppConfig(env).uploads;
  const memory =
    memoryBytes < partSize
      ? ['UPLOAD_MEMORY_BYTES is smaller than UPLOAD_PART_SIZE: an upload needs room for at least one part']
      : [];
  return maxBytes > partSize * MAX_PARTS
    ? [
        `MAX_UPLOAD_BYTES is more than ${MAX_PARTS} parts of UPLOAD_PART_SIZE can carry for a body of unknown ` +
          `length: raise UPLOAD_PART_SIZE to at least MAX_UPLOAD_BYTES / ${MAX_PARTS} (rounded up), or lower MAX_UPLOAD_BYTES`,
        ...memory,
      ]
    : memory;
}

/** Validates the raw environment; throws one error listing every problem by name and reason, never by value. */
export function validateEnvironment(raw: Record<string, unknown>): Environment {
  const known = Object.fromEntries(
    ENVIRONMENT_VARIABLES.map((k): [string, unknown] => [k, raw[k]]).filter(([, v]) => v !== undefined),
  );
  const env = plainToInstance(Environment, known);
  const errors = validateSync(env, { validationError: { target: false, value: false } });
  const problems = flatten(errors);
  if (!errors.some((e) => ['MAX_UPLOAD_BYTES', 'UPLOAD_PART_SIZE', 'UPLOAD_MEMORY_BYTES'].includes(e.property))) {
    problems.push(...uploadSizeProblems(env));
  }
  if (problems.length > 0) {
    throw new ConfigValidationError(problems);
  }
  return env;
}
