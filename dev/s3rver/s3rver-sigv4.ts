/**
 * The SigV4 checks s3rver skips (it accepts any V4 signature): presigned URLs (query authentication) and browser
 * POST policies, with their expiry and conditions, so signed URLs are tested against a server that refuses bad ones.
 * Self-contained like s3rver-main.ts, which loads it: node builtins only, erasable TypeScript.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** An S3 error to answer with; s3rver-main turns it into s3rver's own error type. */
export class SignatureFailure extends Error {
  readonly code: string;
  readonly detail: Record<string, string | number>;

  constructor(code: string, message: string, detail: Record<string, string | number> = {}) {
    super(message);
    this.code = code;
    this.detail = detail;
  }
}

export type SecretLookup = (accessKeyId: string) => string | undefined;

export interface PresignedRequest {
  readonly method: string;
  /** The path as received (percent-encoded). */
  readonly path: string;
  /** The raw query string, without `?`. */
  readonly querystring: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** What a verified POST policy allows for the file part. */
export interface PostPolicyLimits {
  readonly minBytes: number;
  readonly maxBytes: number;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const MAX_EXPIRES_SECONDS = 604_800;

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/** RFC 3986 encoding, as SigV4 canonicalises names and values. */
const encode = (value: string): string =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function decode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function sameSignature(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `20260102T030405Z` → Date (undefined when malformed). */
function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : undefined;
}

interface Credential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  scope: string;
}

function parseCredential(value: string): Credential {
  const [accessKeyId = '', date = '', region = '', service = '', terminator = ''] = value.split('/');
  if (!accessKeyId || !/^\d{8}$/.test(date) || !region || !service || terminator !== 'aws4_request') {
    throw new SignatureFailure('AuthorizationQueryParametersError', 'X-Amz-Credential is malformed');
  }
  return { accessKeyId, date, region, service, scope: `${date}/${region}/${service}/aws4_request` };
}

function secretOf(secretFor: SecretLookup, accessKeyId: string): string {
  const secret = secretFor(accessKeyId);
  if (secret === undefined) {
    throw new SignatureFailure(
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
      {
        AWSAccessKeyId: accessKeyId,
      },
    );
  }
  return secret;
}

const mismatch = (accessKeyId: string) =>
  new SignatureFailure(
    'SignatureDoesNotMatch',
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    { AWSAccessKeyId: accessKeyId },
  );

/**
 * Verifies a presigned (query-authenticated) request: signature over method, path, query and signed headers,
 * and expiry. Throws a SignatureFailure.
 */
export function verifyPresignedRequest(request: PresignedRequest, secretFor: SecretLookup, now = new Date()): void {
  const pairs = request.querystring
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf('=');
      return at === -1 ? [decode(pair), ''] : [decode(pair.slice(0, at)), decode(pair.slice(at + 1))];
    });
  const param = (name: string): string => pairs.find(([k]) => k === name)?.[1] ?? '';
  if (param('X-Amz-Algorithm') !== ALGORITHM) {
    throw new SignatureFailure('AuthorizationQueryParametersError', `X-Amz-Algorithm only supports "${ALGORITHM}"`);
  }
  const credential = parseCredential(param('X-Amz-Credential'));
  const signedAt = parseAmzDate(param('X-Amz-Date'));
  const expires = Number(param('X-Amz-Expires'));
  const signedHeaders = param('X-Amz-SignedHeaders');
  const signature = param('X-Amz-Signature');
  if (!signedAt || !signedHeaders || !signature) {
    throw new SignatureFailure(
      'AuthorizationQueryParametersError',
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, ' +
        'X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_EXPIRES_SECONDS) {
    throw new SignatureFailure(
      'AuthorizationQueryParametersError',
      'X-Amz-Expires must be less than a week (in seconds) that is 604800',
    );
  }
  const secret = secretOf(secretFor, credential.accessKeyId);
  if (now.getTime() > signedAt.getTime() + expires * 1000) {
    throw new SignatureFailure('AccessDenied', 'Request has expired', {
      'X-Amz-Expires': expires,
      Expires: new Date(signedAt.getTime() + expires * 1000).toISOString(),
      ServerTime: now.toISOString(),
    });
  }

  const canonicalQuery = pairs
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [encode(k), encode(v)])
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headerNames = signedHeaders.split(';');
  const canonicalHeaders = headerNames
    .map((name) => {
      const raw = request.headers[name];
      const value = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
      return `${name}:${value.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const canonicalRequest = [
    request.method,
    request.path.split('/').map(decode).map(encode).join('/'),
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    param('X-Amz-Content-Sha256') || 'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = [
    ALGORITHM,
    param('X-Amz-Date'),
    credential.scope,
    createHash('sha256').update(canonicalRequest, 'utf8').digest('hex'),
  ].join('\n');
  const key = signingKey(secret, credential.date, credential.region, credential.service);
  if (!sameSignature(hmac(key, stringToSign).toString('hex'), signature)) {
    throw mismatch(credential.accessKeyId);
  }
}

/**
 * AWS S3 refuses a presigned request that carries an `x-amz-*` header its signature does not cover ("There were
 * headers present in the request which were not signed"), so that no header can turn a PUT into a copy
 * (`x-amz-copy-source`) or an ACL change (`x-amz-acl`). Throws a SignatureFailure naming them.
 */
export function refuseUnsignedHeaders(request: PresignedRequest): void {
  const signed = new Set(
    (new URLSearchParams(request.querystring).get('X-Amz-SignedHeaders') ?? '').toLowerCase().split(';'),
  );
  const unsigned = Object.keys(request.headers).filter(
    (name) => name.toLowerCase().startsWith('x-amz-') && !signed.has(name.toLowerCase()),
  );
  if (unsigned.length > 0) {
    throw new SignatureFailure('AccessDenied', 'There were headers present in the request which were not signed', {
      HeadersNotSigned: unsigned.join(', '),
    });
  }
}

type Condition = Record<string, unknown> | unknown[];

/** Form fields S3 never requires a condition for. */
const EXEMPT_FIELDS = new Set(['policy', 'x-amz-signature', 'file']);

/**
 * Verifies a browser POST policy against the form fields before the file part (names lower-cased): signature,
 * expiry, every condition, and that every field is covered by one. Throws a SignatureFailure; returns the size limits.
 */
export function verifyPostPolicy(
  fields: ReadonlyMap<string, string>,
  bucket: string,
  secretFor: SecretLookup,
  now = new Date(),
): PostPolicyLimits {
  const encodedPolicy = fields.get('policy') ?? '';
  const field = (name: string) => fields.get(name) ?? '';
  if (field('x-amz-algorithm') !== ALGORITHM) {
    throw new SignatureFailure('InvalidArgument', `POST requires the x-amz-algorithm field to be ${ALGORITHM}`);
  }
  const credential = parseCredential(field('x-amz-credential'));
  const secret = secretOf(secretFor, credential.accessKeyId);
  const key = signingKey(secret, credential.date, credential.region, credential.service);
  if (!sameSignature(hmac(key, encodedPolicy).toString('hex'), field('x-amz-signature'))) {
    throw mismatch(credential.accessKeyId);
  }

  let policy: { expiration?: unknown; conditions?: unknown };
  try {
    policy = JSON.parse(Buffer.from(encodedPolicy, 'base64').toString('utf8')) as typeof policy;
  } catch {
    throw new SignatureFailure('InvalidPolicyDocument', 'Invalid Policy: Invalid JSON.');
  }
  const expiration = typeof policy.expiration === 'string' ? Date.parse(policy.expiration) : NaN;
  if (Number.isNaN(expiration) || !Array.isArray(policy.conditions)) {
    throw new SignatureFailure('InvalidPolicyDocument', 'Invalid Policy: expiration and conditions are required.');
  }
  if (now.getTime() > expiration) {
    throw new SignatureFailure('AccessDenied', 'Invalid according to Policy: Policy expired.');
  }

  const values = new Map(fields);
  values.set('bucket', bucket);
  const covered = new Set<string>();
  let limits: PostPolicyLimits = { minBytes: 0, maxBytes: Number.MAX_SAFE_INTEGER };
  for (const condition of policy.conditions as Condition[]) {
    const failed = () =>
      new SignatureFailure(
        'AccessDenied',
        `Invalid according to Policy: Policy Condition failed: ${JSON.stringify(condition)}`,
      );
    if (Array.isArray(condition)) {
      const [operator, name, expected] = condition as [unknown, unknown, unknown];
      if (operator === 'content-length-range') {
        limits = { minBytes: Number(name), maxBytes: Number(expected) };
        continue;
      }
      if ((operator !== 'eq' && operator !== 'starts-with') || typeof name !== 'string' || !name.startsWith('$')) {
        throw new SignatureFailure(
          'InvalidPolicyDocument',
          `Invalid Policy: Invalid condition ${JSON.stringify(condition)}`,
        );
      }
      const fieldName = name.slice(1).toLowerCase();
      const actual = values.get(fieldName) ?? '';
      const ok = operator === 'eq' ? actual === expected : actual.startsWith(String(expected));
      if (!ok) {
        throw failed();
      }
      covered.add(fieldName);
      continue;
    }
    for (const [name, expected] of Object.entries(condition)) {
      if ((values.get(name.toLowerCase()) ?? '') !== expected) {
        throw failed();
      }
      covered.add(name.toLowerCase());
    }
  }
  const extra = [...fields.keys()].filter(
    (name) => !EXEMPT_FIELDS.has(name) && !name.startsWith('x-ignore-') && !covered.has(name),
  );
  if (extra.length > 0) {
    throw new SignatureFailure('AccessDenied', `Invalid according to Policy: Extra input fields: ${extra.join(', ')}`);
  }
  return limits;
}
