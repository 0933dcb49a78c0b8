import { readFileSync } from 'node:fs';
import { removedVariableWarnings, toAppConfig } from './app-config.js';
import { ConfigValidationError, ENVIRONMENT_VARIABLES, validateEnvironment } from './environment.js';

const read = (file: string): string => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

/** The one variable every environment needs. */
const minimal = { S3_BUCKET: 'my-bucket' };

const production = {
  NODE_ENV: 'production',
  S3_BUCKET: 'my-bucket',
  ALLOWED_HOSTS: 'api.example.com,.example.com',
  API_KEYS: 'k'.repeat(32),
};

function problems(env: Record<string, string>): string[] {
  try {
    validateEnvironment(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigValidationError) {
      return error.problems;
    }
    throw error;
  }
}

describe(validateEnvironment.name, () => {
  it.each([
    ['a bucket alone (credentials from the default chain)', minimal],
    ['a full production environment', production],
    [
      'static keys given together',
      { ...minimal, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' },
    ],
    [
      'a session token with its keys',
      { ...minimal, AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 's', AWS_SESSION_TOKEN: 't' },
    ],
    [
      'an S3-compatible endpoint',
      { S3_BUCKET: 'b-1', S3_ENDPOINT: 'http://127.0.0.1:9000', S3_FORCE_PATH_STYLE: 'true' },
    ],
    [
      'lists separated by spaces, as EB keeps them',
      { ...production, ALLOWED_HOSTS: 'api.example.com .example.com', API_KEYS: `${'k'.repeat(16)} ${'j'.repeat(16)}` },
    ],
    ['empty optional values', { ...minimal, S3_PREFIX: '', S3_ENDPOINT: '', CORS_ORIGINS: '' }],
    [
      'numbers and booleans as text',
      { ...minimal, PORT: '8080', MAX_UPLOAD_BYTES: '1048576', ALLOWED_HOSTS_FROM_EC2: 'yes', TRUST_PROXY: '2' },
    ],
    [
      '5 TiB uploads with parts that carry them',
      { ...minimal, MAX_UPLOAD_BYTES: String(5 * 1024 ** 4), UPLOAD_PART_SIZE: String(525 * 1024 ** 2) },
    ],
    ['X-Forwarded-Host from a trusted proxy', { ...minimal, TRUST_PROXY: 'loopback', USE_X_FORWARDED_HOST: 'true' }],
    ['a signing secret and docs behind a key', { ...production, SIGNING_SECRET: 'c'.repeat(32), DOCS: 'key' }],
    ['a metrics port on loopback with a token', { ...minimal, METRICS_PORT: '9464', METRICS_TOKEN: 'm'.repeat(32) }],
    ['a metrics port on loopback without a token', { ...minimal, METRICS_PORT: '9464' }],
    ['a metrics port on an explicit loopback address', { ...minimal, METRICS_PORT: '[::1]:9464' }],
    [
      'a metrics port on every address with a token',
      { ...minimal, METRICS_PORT: '0.0.0.0:9464', METRICS_TOKEN: 'm'.repeat(32) },
    ],
    ['a metrics port 0 beside PORT 0 (tests)', { ...minimal, PORT: '0', METRICS_PORT: '0' }],
    [
      'SSE-KMS with a key, a storage class and a default Cache-Control',
      {
        ...minimal,
        S3_SSE: 'aws:kms',
        S3_SSE_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
        S3_STORAGE_CLASS: 'INTELLIGENT_TIERING',
        DEFAULT_CACHE_CONTROL: 'private, max-age=3600, stale-while-revalidate="60"',
      },
    ],
    ['public folders, with commas and spaces', { ...minimal, PUBLIC_PREFIXES: 'public/, media/avatars  a.b/...c' }],
    ['SSE-S3', { ...minimal, S3_SSE: 'AES256' }],
    ['SSE-KMS without a key (the AWS managed one)', { ...minimal, S3_SSE: 'aws:kms' }],
  ])('should accept %s', (_name, env) => {
    expect(problems(env)).toEqual([]);
  });

  it.each([
    ['no bucket', {}, ['S3_BUCKET']],
    ['an empty bucket', { S3_BUCKET: ' ' }, ['S3_BUCKET']],
    ['a key id without its secret', { ...minimal, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' }, ['AWS_SECRET_ACCESS_KEY']],
    ['a secret without its key id', { ...minimal, AWS_SECRET_ACCESS_KEY: 'secret' }, ['AWS_ACCESS_KEY_ID']],
    ['a session token alone', { ...minimal, AWS_SESSION_TOKEN: 'token' }, ['AWS_SESSION_TOKEN']],
    [
      'production without bucket, hosts or keys',
      { NODE_ENV: 'production' },
      ['S3_BUCKET', 'ALLOWED_HOSTS', 'API_KEYS'],
    ],
    ...['/public/', 'public//x', 'public/../private', './', '..', 'a\\b', 'a\u0000b', '.tus/', 'ok/ .tus'].map(
      (prefix): [string, Record<string, string>, string[]] => [
        `a public folder ${JSON.stringify(prefix)}`,
        { ...minimal, PUBLIC_PREFIXES: prefix },
        ['PUBLIC_PREFIXES'],
      ],
    ),
    ['a bad port', { ...minimal, PORT: 'eighty' }, ['PORT']],
    ['a port out of range', { ...minimal, PORT: '70000' }, ['PORT']],
    ['a bad bucket name', { S3_BUCKET: 'Not_A_Bucket' }, ['S3_BUCKET']],
    ['a bad endpoint', { ...minimal, S3_ENDPOINT: 'localhost:9000' }, ['S3_ENDPOINT']],
    ['a bad boolean', { ...minimal, S3_FORCE_PATH_STYLE: 'maybe' }, ['S3_FORCE_PATH_STYLE']],
    [
      'a bad active-content switch',
      { ...minimal, SIGNED_UPLOAD_ACTIVE_CONTENT: 'html' },
      ['SIGNED_UPLOAD_ACTIVE_CONTENT'],
    ],
    ['a bad download mode', { ...minimal, DOWNLOAD_MODE: 'direct' }, ['DOWNLOAD_MODE']],
    ['a bad region', { ...minimal, AWS_REGION: 'moon' }, ['AWS_REGION']],
    ['a zero upload limit', { ...minimal, MAX_UPLOAD_BYTES: '0' }, ['MAX_UPLOAD_BYTES']],
    ['a signed URL lifetime over 7 days', { ...minimal, SIGNED_URL_TTL_SECONDS: '604801' }, ['SIGNED_URL_TTL_SECONDS']],
    ['short API keys', { ...minimal, API_KEYS: 'short' }, ['API_KEYS']],
    ['a bad log level', { ...minimal, LOG_LEVEL: 'loud' }, ['LOG_LEVEL']],
    ['X-Forwarded-Host without TRUST_PROXY', { ...minimal, USE_X_FORWARDED_HOST: 'true' }, ['USE_X_FORWARDED_HOST']],
    [
      'X-Forwarded-Host with TRUST_PROXY=false',
      { ...minimal, TRUST_PROXY: 'false', USE_X_FORWARDED_HOST: 'yes' },
      ['USE_X_FORWARDED_HOST'],
    ],
    ['a bad X-Forwarded-Host switch', { ...minimal, USE_X_FORWARDED_HOST: 'maybe' }, ['USE_X_FORWARDED_HOST']],
    ['a short signing secret', { ...minimal, SIGNING_SECRET: 'short' }, ['SIGNING_SECRET']],
    ['an unknown docs exposure', { ...minimal, DOCS: 'private' }, ['DOCS']],
    ['an unknown encryption', { ...minimal, S3_SSE: 'aws:kms:dsse' }, ['S3_SSE']],
    [
      'a KMS key without SSE-KMS',
      { ...minimal, S3_SSE: 'AES256', S3_SSE_KMS_KEY_ID: 'alias/files' },
      ['S3_SSE_KMS_KEY_ID'],
    ],
    ['a KMS key id with a space', { ...minimal, S3_SSE: 'aws:kms', S3_SSE_KMS_KEY_ID: 'a b' }, ['S3_SSE_KMS_KEY_ID']],
    [
      'an archive storage class (not readable without a restore)',
      { ...minimal, S3_STORAGE_CLASS: 'GLACIER' },
      ['S3_STORAGE_CLASS'],
    ],
    ['a lower-case storage class', { ...minimal, S3_STORAGE_CLASS: 'standard' }, ['S3_STORAGE_CLASS']],
    [
      'a default Cache-Control that is no directive list',
      { ...minimal, DEFAULT_CACHE_CONTROL: 'max-age=1;' },
      ['DEFAULT_CACHE_CONTROL'],
    ],
    ['a part size under 5 MiB', { ...minimal, UPLOAD_PART_SIZE: '1024' }, ['UPLOAD_PART_SIZE']],
    ['an upload memory budget under 5 MiB', { ...minimal, UPLOAD_MEMORY_BYTES: '1024' }, ['UPLOAD_MEMORY_BYTES']],
    [
      'an upload memory budget smaller than one part',
      { ...minimal, UPLOAD_MEMORY_BYTES: String(16 * 1024 ** 2), UPLOAD_PART_SIZE: String(32 * 1024 ** 2) },
      ['UPLOAD_MEMORY_BYTES'],
    ],
    [
      'an upload limit over 10,000 default parts',
      { ...minimal, MAX_UPLOAD_BYTES: String(80 * 1024 ** 3) },
      ['MAX_UPLOAD_BYTES'],
    ],
    [
      'an upload limit over 10,000 parts of UPLOAD_PART_SIZE',
      { ...minimal, MAX_UPLOAD_BYTES: String(5 * 1024 ** 4), UPLOAD_PART_SIZE: String(524 * 1024 ** 2) },
      ['MAX_UPLOAD_BYTES'],
    ],
    ['a metrics port equal to the default PORT', { ...minimal, METRICS_PORT: '3000' }, ['METRICS_PORT']],
    ['a metrics port equal to PORT', { ...minimal, PORT: '8080', METRICS_PORT: '8080' }, ['METRICS_PORT']],
    ['a metrics port equal to PORT on an address', { ...minimal, METRICS_PORT: '127.0.0.1:3000' }, ['METRICS_PORT']],
    ['a metrics host that is a name', { ...minimal, METRICS_PORT: 'metrics.example.com:9464' }, ['METRICS_PORT']],
    ['a metrics port out of range', { ...minimal, METRICS_PORT: '65536' }, ['METRICS_PORT']],
    ['a metrics address without a port', { ...minimal, METRICS_PORT: '0.0.0.0' }, ['METRICS_PORT']],
    [
      'a metrics port on every address without a token',
      { ...minimal, METRICS_PORT: '0.0.0.0:9464' },
      ['METRICS_TOKEN'],
    ],
    [
      'a metrics port on every IPv6 address without a token',
      { ...minimal, METRICS_PORT: '[::]:9464' },
      ['METRICS_TOKEN'],
    ],
    [
      'a metrics port on an instance address without a token',
      { ...minimal, METRICS_PORT: '10.0.0.5:9464' },
      ['METRICS_TOKEN'],
    ],
    ['a short metrics token', { ...minimal, METRICS_TOKEN: 'short' }, ['METRICS_TOKEN']],
    ['several problems at once', { ...minimal, PORT: 'x', LOG_LEVEL: 'y', DOCS: 'z' }, ['PORT', 'LOG_LEVEL', 'DOCS']],
  ])('should reject %s, naming every variable', (_name, env, names) => {
    const found = problems(env);
    expect(
      found
        .map((p) => p.split(' ')[0])
        .filter((n, i, all) => all.indexOf(n) === i)
        .sort(),
    ).toEqual([...names].sort());
  });

  it.each([
    [
      'a size with a unit',
      { ...minimal, MAX_UPLOAD_BYTES: '10MB' },
      ['MAX_UPLOAD_BYTES must be a whole number of bytes'],
    ],
    ['a port that is no number', { ...minimal, PORT: 'x' }, ['PORT must be a whole number']],
    [
      'production without hosts and keys',
      { ...minimal, NODE_ENV: 'production' },
      ['ALLOWED_HOSTS is required when NODE_ENV=production', 'API_KEYS is required when NODE_ENV=production'],
    ],
  ])('should give only the reason that applies for %s', (_name, env, expected) => {
    expect(problems(env)).toEqual(expected);
  });

  it('should say, when the bucket is missing, that npm start provides a development S3', () => {
    expect(problems({})).toEqual([expect.stringMatching(/^S3_BUCKET is required .*`npm start`/)]);
  });

  it('should name both variables when the upload limit does not fit in 10,000 parts', () => {
    expect(problems({ ...minimal, MAX_UPLOAD_BYTES: String(1024 ** 4) })).toEqual([
      expect.stringMatching(/^MAX_UPLOAD_BYTES .*UPLOAD_PART_SIZE/),
    ]);
  });

  it('should never echo a value in its message', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const env = { S3_BUCKET: 'bucket', AWS_SECRET_ACCESS_KEY: secret, PORT: secret, API_KEYS: `${secret}!!` };
    expect(() => validateEnvironment(env)).toThrow(ConfigValidationError);
    expect(() => validateEnvironment(env)).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(secret.slice(0, 10)) }),
    );
    const found = problems(env);
    expect([...new Set(found.map((p) => p.split(' ')[0]))].sort()).toEqual(['API_KEYS', 'AWS_ACCESS_KEY_ID', 'PORT']);
    expect(found.filter((p) => p.includes(secret.slice(0, 10)))).toEqual([]);
  });

  it('should know every variable of the schema, and only those, grouped by topic', () => {
    // A property without a validation decorator would be missing here, and silently never read.
    expect(ENVIRONMENT_VARIABLES).toEqual([
      'NODE_ENV',
      'PORT',
      'LOG_LEVEL',
      'S3_BUCKET',
      'AWS_REGION',
      'S3_ENDPOINT',
      'S3_FORCE_PATH_STYLE',
      'S3_PREFIX',
      'S3_SSE',
      'S3_SSE_KMS_KEY_ID',
      'S3_STORAGE_CLASS',
      'DEFAULT_CACHE_CONTROL',
      'S3_REQUEST_TIMEOUT_MS',
      'AWS_MAX_ATTEMPTS',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_SESSION_TOKEN',
      'AWS_EC2_METADATA_SERVICE_ENDPOINT',
      'ALLOWED_HOSTS',
      'ALLOWED_HOSTS_FROM_EC2',
      'API_KEYS',
      'API_KEYS_READONLY',
      'PUBLIC_PREFIXES',
      'TRUST_PROXY',
      'USE_X_FORWARDED_HOST',
      'SIGNING_SECRET',
      'MAX_UPLOAD_BYTES',
      'UPLOAD_PART_SIZE',
      'UPLOAD_MEMORY_BYTES',
      'CORS_ORIGINS',
      'SIGNED_URL_TTL_SECONDS',
      'SIGNED_UPLOAD_ACTIVE_CONTENT',
      'DOWNLOAD_MODE',
      'DOCS',
      'METRICS_PORT',
      'METRICS_TOKEN',
    ]);
  });

  it('should declare the variables in the order of .env.example and docs/configuration.md', () => {
    const example = [...read('.env.example').matchAll(/^# ?([A-Z][A-Z0-9_]*)=/gm)].map(([, name]) => name);
    const docs = read('docs/configuration.md').split('## Removed settings')[0];
    const documented = [...docs.matchAll(/^\| (`[A-Z][A-Z0-9_]*`(?:, `[A-Z][A-Z0-9_]*`)*) /gm)].flatMap(([, cell]) =>
      cell.split(', ').map((name) => name.slice(1, -1)),
    );
    expect(example).toEqual(ENVIRONMENT_VARIABLES);
    expect(documented).toEqual(ENVIRONMENT_VARIABLES);
  });
});

describe('the settings', () => {
  it("should be at most 30 of the service's own (the AWS SDK's standard AWS_* variables aside)", () => {
    expect(ENVIRONMENT_VARIABLES.filter((name) => !name.startsWith('AWS_')).length).toBeLessThanOrEqual(30);
  });

  it('should warn about a removed variable still set, naming what replaced it, and boot anyway', () => {
    const raw = { ...minimal, UPLOAD_SESSION_SECRET: 'u'.repeat(32), S3_IF_MATCH: 'unquoted' };
    const warnings = removedVariableWarnings(raw);
    expect(warnings).toEqual([
      expect.stringMatching(/^S3_IF_MATCH is no longer read .*detects/),
      expect.stringMatching(/^UPLOAD_SESSION_SECRET is no longer read .*SIGNING_SECRET/),
    ]);
    expect(toAppConfig(validateEnvironment(raw), {}, warnings).warnings).toEqual(warnings);
    expect(warnings.join('\n')).not.toContain('u'.repeat(32));
  });

  it('should read lists separated by commas, spaces or both', () => {
    const config = toAppConfig(
      validateEnvironment({
        ...minimal,
        ALLOWED_HOSTS: 'a.example.com, b.example.com c.example.com',
        TRUST_PROXY: 'loopback uniquelocal',
      }),
    );
    expect(config.allowedHosts).toEqual(['a.example.com', 'b.example.com', 'c.example.com']);
    expect(config.trustProxy).toEqual(['loopback', 'uniquelocal']);
  });
});

describe(toAppConfig.name, () => {
  it('should apply the defaults', () => {
    const config = toAppConfig(validateEnvironment(minimal));
    expect(config).toMatchObject({
      production: false,
      port: 3000,
      s3: {
        bucket: 'my-bucket',
        region: 'us-east-1',
        prefix: '',
        checksums: 'WHEN_SUPPORTED',
        ifMatch: undefined,
        credentials: undefined,
      },
      uploads: { maxBytes: 5 * 1024 ** 3 },
      copyMultipartThreshold: 5 * 1024 ** 3,
      signedUrlTtlSeconds: 900,
      signedUploadActiveContent: false,
      downloadMode: 'proxy',
      trustProxy: false,
      useForwardedHost: false,
      docs: 'public',
      metrics: { enabled: false, port: undefined, host: '127.0.0.1', token: undefined },
    });
    expect(toAppConfig(validateEnvironment(production)).docs).toBe('off');
    expect(toAppConfig(validateEnvironment(production)).metrics.enabled).toBe(false);
    expect(toAppConfig(validateEnvironment({ ...minimal, METRICS_PORT: '9464' })).metrics).toMatchObject({
      enabled: true,
      port: 9464,
      host: '127.0.0.1',
    });
    const everywhere = { ...minimal, METRICS_PORT: '[::]:9464', METRICS_TOKEN: 't'.repeat(16) };
    expect(toAppConfig(validateEnvironment(everywhere)).metrics).toMatchObject({ port: 9464, host: '::' });
    expect(toAppConfig(validateEnvironment({ ...minimal, METRICS_TOKEN: 't'.repeat(16) })).metrics).toMatchObject({
      enabled: true,
      port: undefined,
    });
  });

  it('should type and normalise values', () => {
    const config = toAppConfig(
      validateEnvironment({
        ...production,
        S3_ENDPOINT: 'http://127.0.0.1:9000',
        S3_PREFIX: '/uploads/',
        API_KEYS: ` ${'a'.repeat(16)} , ${'b'.repeat(16)} `,
        ALLOWED_HOSTS: 'API.example.com, .Example.org',
        PUBLIC_PREFIXES: ' public, media/avatars/ Public',
        TRUST_PROXY: 'true',
        AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'secret',
      }),
    );
    expect(config.production).toBe(true);
    expect(config.s3).toMatchObject({ prefix: 'uploads/', forcePathStyle: true, checksums: 'WHEN_REQUIRED' });
    expect(config.s3.credentials).toEqual({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' });
    expect(config.apiKeys.readWrite).toEqual(['a'.repeat(16), 'b'.repeat(16)]);
    expect(config.allowedHosts).toEqual(['api.example.com', '.example.org']);
    expect(config.trustProxy).toBe(true);
    // Folders end with `/` (so `public/` never covers `publicity/`); case is kept, as S3 keys are case-sensitive.
    expect(config.publicPrefixes).toEqual(['public/', 'media/avatars/', 'Public/']);
    expect(toAppConfig(validateEnvironment(minimal)).publicPrefixes).toEqual([]);
  });

  // Elastic Beanstalk's environment properties leave out the comma and `eb create --envvars` splits on it.
  it.each([
    ['commas', ','],
    ['spaces', ' '],
    ['semicolons', ';'],
    ['a mix with runs of separators', ' ;, \t'],
  ])('should read every list setting separated by %s', (_name, separator) => {
    const [a, b] = ['a'.repeat(16), 'b'.repeat(16)];
    const env = {
      ...production,
      ALLOWED_HOSTS: ['files.example.com', '.example.org', '10.0.0.1'].join(separator),
      API_KEYS: [a, b].join(separator),
      API_KEYS_READONLY: [b, a].join(separator),
      TRUST_PROXY: ['loopback', 'uniquelocal', '203.0.113.0/24'].join(separator),
      CORS_ORIGINS: ['https://app.example.com', 'http://localhost:5173'].join(separator),
    };
    expect(problems(env)).toEqual([]);
    const config = toAppConfig(validateEnvironment(env));
    expect(config.allowedHosts).toEqual(['files.example.com', '.example.org', '10.0.0.1']);
    expect(config.apiKeys).toEqual({ readWrite: [a, b], readOnly: [b, a] });
    expect(config.trustProxy).toEqual(['loopback', 'uniquelocal', '203.0.113.0/24']);
    expect(config.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
  });

  it.each([
    ['only separators', ' , ; ', ['ALLOWED_HOSTS', 'API_KEYS']],
    ['a short key among good ones', `${'a'.repeat(16)} short`, ['API_KEYS']],
  ])('should refuse a list of %s', (_name, value, names) => {
    const found = problems({
      ...production,
      ALLOWED_HOSTS: names.includes('ALLOWED_HOSTS') ? value : 'x',
      API_KEYS: value,
    });
    expect(found.map((p) => p.split(' ')[0])).toEqual(names);
    expect(found.join('\n')).not.toContain('short');
  });
});
