import { applyDecorators } from '@nestjs/common';
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
import { isCacheControl, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, SSE_MODES, STORAGE_CLASSES } from './s3-options.js';
import { parseMetricsListen, toAppConfig } from './app-config.js';
import { splitList } from './list.js';

const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off', ''];
const toBoolean = ({ value }: { value: unknown }): unknown => {
  const word = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
  return word !== undefined && [...TRUE_WORDS, ...FALSE_WORDS].includes(word) ? TRUE_WORDS.includes(word) : value;
};
const toInteger = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
const emptyToUndefined = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

/** Decorators in the order they would be stacked on the property (`applyDecorators` applies in list order). */
const rules = (...decorators: PropertyDecorator[]) => applyDecorators(...[...decorators].reverse());

/** Unset or empty: the default applies. */
const Optional = () => rules(Transform(emptyToUndefined), IsOptional());
const Flag = () => rules(IsOptional(), Transform(toBoolean), IsBoolean({ message: 'must be true or false' }));
const WholeNumber = ({ min, max, of, tooSmall }: { min: number; max?: number; of?: string; tooSmall?: string }) =>
  rules(
    IsOptional(),
    Transform(toInteger),
    IsInt({ message: `must be a whole number${of ? ` of ${of}` : ''}` }),
    Min(min, tooSmall ? { message: tooSmall } : undefined),
    ...(max === undefined ? [] : [Max(max)]),
  );
const RequiredInProduction = () =>
  rules(
    Transform(emptyToUndefined),
    ValidateIf((env: Environment, value: unknown) => env.NODE_ENV === 'production' || value !== undefined),
    IsString({ message: 'is required when NODE_ENV=production' }),
  );
const Check = (name: string, message: string, validate: (value: unknown, env: Environment) => boolean) =>
  ValidateBy({
    name,
    validator: {
      validate: (value, args) => validate(value, args?.object as Environment),
      defaultMessage: () => message,
    },
  });
const IsListOf = (item: RegExp, what: string) =>
  Check('isListOf', `must be ${LIST_FORM} of ${what}`, (value) => {
    const items = typeof value === 'string' ? splitList(value) : [];
    return items.length > 0 && items.every((i) => item.test(i));
  });
const OneOf = (values: readonly string[], message: string) => rules(Optional(), IsIn(values, { message }));
const Url = (protocols: string[], message: string) =>
  rules(Optional(), IsUrl({ require_tld: false, require_protocol: true, protocols }, { message }));

const TOKEN = /^[A-Za-z0-9._~+/=-]{16,}$/;
const LIST_FORM = 'a list (separated by spaces, commas or semicolons)';
const TOKEN_FORM = '16+ characters (A-Z a-z 0-9 . _ ~ + / = -)';
const CONTROL_OR_BACKSLASH = /[\\\u0000-\u001f\u007f-\u009f]/;

/** A folder of keys, as the key rules allow one (`src/http/file-key.ts`), `/` at the end optional. */
const isFolder = (entry: string): boolean => {
  const segments = entry.replace(/\/$/, '').split('/');
  return segments[0] !== '.tus' && segments.every((s) => !['', '.', '..'].includes(s) && !CONTROL_OR_BACKSLASH.test(s));
};
const staticKeys = (env: Environment): boolean =>
  env.AWS_ACCESS_KEY_ID !== undefined || env.AWS_SECRET_ACCESS_KEY !== undefined;
const metricsBeyondLoopback = (env: Environment): boolean =>
  typeof env.METRICS_PORT === 'string' && parseMetricsListen(env.METRICS_PORT)?.loopback === false;

/** Every variable the service reads, with its rules, by topic as in `.env.example` and docs/configuration.md (tested). */
export class Environment {
  // --- server ---
  @IsOptional()
  @IsIn(['development', 'production', 'test'])
  NODE_ENV?: 'development' | 'production' | 'test';

  @WholeNumber({ min: 0, max: 65535 })
  PORT?: number;

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

  // --- storage ---
  @Transform(emptyToUndefined)
  @IsString({ message: 'is required (for development, `npm start` without S3_BUCKET starts a local S3 and sets it)' })
  @Matches(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: 'must be a valid S3 bucket name (3-63 of a-z 0-9 . -)' })
  S3_BUCKET!: string;

  @IsOptional()
  @Matches(/^[a-z]{2}(-[a-z]+)+-\d+$/, { message: 'must be an AWS region such as us-east-1' })
  AWS_REGION?: string;

  @Url(['http', 'https'], 'must be an http(s) URL')
  S3_ENDPOINT?: string;

  @Flag()
  S3_FORCE_PATH_STYLE?: boolean;

  @Optional()
  @MaxLength(512)
  @Matches(/^[^\\\u0000-\u001f\u007f]+$/, { message: 'must not contain control characters or backslashes' })
  S3_PREFIX?: string;

  @OneOf(SSE_MODES, `must be ${SSE_MODES.join(' or ')}`)
  S3_SSE?: (typeof SSE_MODES)[number];

  @Optional()
  @Check('needsKms', 'is only used with S3_SSE=aws:kms', (_value, env) => env.S3_SSE === 'aws:kms')
  @Matches(/^[\w:/.-]{1,2048}$/, { message: 'must be a KMS key id, key ARN, alias name or alias ARN' })
  S3_SSE_KMS_KEY_ID?: string;

  @OneOf(STORAGE_CLASSES, `must be one of ${STORAGE_CLASSES.join(', ')}`)
  S3_STORAGE_CLASS?: (typeof STORAGE_CLASSES)[number];

  @Optional()
  @Check(
    'isCacheControl',
    'must be a list of cache directives (RFC 9111), e.g. "private, max-age=3600"',
    (value) => typeof value === 'string' && isCacheControl(value.trim()),
  )
  DEFAULT_CACHE_CONTROL?: string;

  @WholeNumber({ min: 100, of: 'milliseconds' })
  S3_REQUEST_TIMEOUT_MS?: number;

  /** The AWS SDK's own setting (its standard name), read here so it is validated and reported like the others. */
  @WholeNumber({ min: 1, max: 10 })
  AWS_MAX_ATTEMPTS?: number;

  @Transform(emptyToUndefined)
  @ValidateIf(staticKeys)
  @IsString({ message: 'must be set together with AWS_SECRET_ACCESS_KEY' })
  AWS_ACCESS_KEY_ID?: string;

  @Transform(emptyToUndefined)
  @ValidateIf(staticKeys)
  @IsString({ message: 'must be set together with AWS_ACCESS_KEY_ID' })
  AWS_SECRET_ACCESS_KEY?: string;

  @Transform(emptyToUndefined)
  @ValidateIf((env: Environment) => env.AWS_SESSION_TOKEN !== undefined && env.AWS_ACCESS_KEY_ID === undefined)
  @IsEmpty({ message: 'is only used with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY' })
  AWS_SESSION_TOKEN?: string;

  /** Also read by the AWS SDK itself, so the instance-role credentials and the EC2 address come from one place. */
  @Url(['http'], 'must be an http URL such as http://169.254.169.254')
  AWS_EC2_METADATA_SERVICE_ENDPOINT?: string;

  // --- access ---
  @RequiredInProduction()
  @IsListOf(/^[^\s,;]+$/, 'host names')
  ALLOWED_HOSTS?: string;

  @Flag()
  ALLOWED_HOSTS_FROM_EC2?: boolean;

  @RequiredInProduction()
  @IsListOf(TOKEN, `keys of ${TOKEN_FORM}`)
  API_KEYS?: string;

  @Optional()
  @IsListOf(TOKEN, `keys of ${TOKEN_FORM}`)
  API_KEYS_READONLY?: string;

  @Optional()
  @Check(
    'isFolderList',
    'must be folders such as public/ or media/avatars/, separated by commas or spaces (no leading /, no empty, ' +
      '. or .. segments, no backslashes or control characters, not .tus/)',
    (value) => typeof value === 'string' && splitList(value).every(isFolder),
  )
  PUBLIC_PREFIXES?: string;

  @Optional()
  @Matches(/^(true|false|\d+|[\w.:/,;\s-]+)$/, {
    message: `must be true, false, a hop count, or ${LIST_FORM} of trusted addresses/subnets`,
  })
  TRUST_PROXY?: string;

  /** Django's USE_X_FORWARDED_HOST: useless without a trusted proxy, so asking for it alone is a mistake. */
  @Flag()
  @Check(
    'needsTrustProxy',
    'needs TRUST_PROXY: X-Forwarded-Host is only believed from a trusted proxy',
    (value, env) => value !== true || !['false', '0', undefined].includes(env.TRUST_PROXY),
  )
  USE_X_FORWARDED_HOST?: boolean;

  @Optional()
  @Matches(/^[\x21-\x7e]{32,}$/, { message: 'must be 32+ printable ASCII characters, e.g. from: openssl rand -hex 32' })
  SIGNING_SECRET?: string;

  // --- uploads ---
  @WholeNumber({ min: 1, max: 5 * 1024 ** 4, of: 'bytes' })
  MAX_UPLOAD_BYTES?: number;

  @WholeNumber({
    min: MIN_PART_SIZE,
    max: MAX_PART_SIZE,
    of: 'bytes',
    tooSmall: 'must be at least 5 MiB (the S3 minimum part size)',
  })
  UPLOAD_PART_SIZE?: number;

  @WholeNumber({
    min: MIN_PART_SIZE,
    of: 'bytes',
    tooSmall: 'must be at least 5 MiB (one part of the smallest size S3 allows)',
  })
  UPLOAD_MEMORY_BYTES?: number;

  // --- browser features ---
  @Optional()
  @IsString()
  CORS_ORIGINS?: string;

  @WholeNumber({ min: 1, max: 604800, of: 'seconds' })
  SIGNED_URL_TTL_SECONDS?: number;

  @Flag()
  SIGNED_UPLOAD_ACTIVE_CONTENT?: boolean;

  @OneOf(['proxy', 'redirect'], 'must be proxy or redirect')
  DOWNLOAD_MODE?: 'proxy' | 'redirect';

  @OneOf(['public', 'key', 'off'], 'must be public, key or off')
  DOCS?: 'public' | 'key' | 'off';

  // --- operations ---
  @Optional()
  @Check(
    'metricsListen',
    'must be a port (0-65535) on loopback, or <IP address>:<port> such as 0.0.0.0:9464',
    (value) => typeof value === 'string' && parseMetricsListen(value) !== undefined,
  )
  @Check('notThePort', 'must differ from PORT (the metrics listener is separate from the API)', (value, env) => {
    const port = typeof value === 'string' ? parseMetricsListen(value)?.port : undefined;
    return port === undefined || port === 0 || port !== (env.PORT ?? 3000);
  })
  METRICS_PORT?: string;

  @Transform(emptyToUndefined)
  @ValidateIf((env: Environment) => env.METRICS_TOKEN !== undefined || metricsBeyondLoopback(env))
  @IsString({ message: 'is required when METRICS_PORT listens on an address other than loopback' })
  @Matches(TOKEN, { message: `must be ${TOKEN_FORM}, e.g. from: openssl rand -hex 32` })
  METRICS_TOKEN?: string;
}

export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigValidationError';
  }
}

/**
 * One reason per variable: the check listed first (required, whole number...), which class-validator runs last; the
 * narrower ones below it would only confuse. Its own messages start with the name, kept once; no value is echoed.
 */
const flatten = (errors: ValidationError[]): string[] =>
  errors.flatMap(({ property, constraints }) =>
    Object.values(constraints ?? {})
      .slice(-1)
      .map((reason) => `${property} ${reason.startsWith(property) ? reason.slice(property.length).trim() : reason}`),
  );

/** Every variable name the schema knows, in declaration order. */
const declared = getMetadataStorage().getTargetValidationMetadatas(Environment, '', true, false);
export const ENVIRONMENT_VARIABLES: readonly string[] = [...new Set(declared.map((m) => m.propertyName))];

/** Validates the raw environment; throws one error listing every problem by name and reason, never by value. */
export function validateEnvironment(raw: Record<string, unknown>): Environment {
  const known = Object.fromEntries(ENVIRONMENT_VARIABLES.filter((k) => raw[k] !== undefined).map((k) => [k, raw[k]]));
  const env = plainToInstance(Environment, known);
  const errors = validateSync(env, { validationError: { target: false, value: false } });
  const problems = flatten(errors);
  // A body of unknown length must fit in 10,000 parts, and the upload memory must hold at least one part.
  if (!errors.some((e) => ['MAX_UPLOAD_BYTES', 'UPLOAD_PART_SIZE', 'UPLOAD_MEMORY_BYTES'].includes(e.property))) {
    const { maxBytes, partSize, memoryBytes } = toAppConfig(env).uploads;
    if (maxBytes > partSize * MAX_PARTS) {
      problems.push(
        `MAX_UPLOAD_BYTES is more than ${MAX_PARTS} parts of UPLOAD_PART_SIZE can carry for a body of unknown ` +
          `length: raise UPLOAD_PART_SIZE to at least MAX_UPLOAD_BYTES / ${MAX_PARTS} (rounded up), or lower MAX_UPLOAD_BYTES`,
      );
    }
    if (memoryBytes < partSize) {
      problems.push('UPLOAD_MEMORY_BYTES is smaller than UPLOAD_PART_SIZE: an upload needs room for at least one part');
    }
  }
  if (problems.length > 0) {
    throw new ConfigValidationError(problems);
  }
  return env;
}
