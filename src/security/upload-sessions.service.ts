import {
  BadRequestException,
  ForbiddenException,
  Injectable,
  Logger,
  UnauthorizedException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppConfig } from '../config/app-config.js';
import { asFolder } from '../config/list.js';
import { keyProblem } from '../http/file-key.js';
import { isActive, parseMediaType } from '../http/media-type.js';
import { generateKey } from '../http/upload-name.js';

/** What a session allows, as signed into its token. Keys are API keys (without `S3_PREFIX`). */
export interface UploadSession {
  /** The one key this session may write; else `keyPrefix`, a folder (ending in `/`, or `""`: all of `S3_PREFIX`). */
  readonly key?: string;
  readonly keyPrefix?: string;
  /** Always true for a `key` session; for a `keyPrefix` one, only if asked for. */
  readonly overwrite: boolean;
  readonly maxBytes: number;
  /** `type/subtype` or `type/*`; undefined allows any type the service accepts. */
  readonly contentTypes?: readonly string[];
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
  /** Random, per session: binds the multipart uploads this session starts to it. */
  readonly id: string;
}

/** Every token starts with this, so it cannot be mistaken for an API key (which need not look like anything). */
const TOKEN_PREFIX = 'us1.';
const MAC_BYTES = 32;
const UPLOAD_MAC_BYTES = 16;
const UPLOAD_MAC_CHARS = Math.ceil((UPLOAD_MAC_BYTES * 4) / 3);

/** The token's scope; `o: 1` is a `keyPrefix` session that may replace objects. */
interface Payload {
  k?: string;
  p?: string;
  o?: 1;
  m: number;
  t?: string[];
  e: number;
  i: string;
}

const b64 = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export const isSessionToken = (credential: string): boolean => credential.startsWith(TOKEN_PREFIX);

export const SESSION_MAY_NOT_REPLACE = 'an object with this key already exists: this upload session may not replace it';

/**
 * Scoped, expiring, stateless capabilities a browser uses instead of an API key: `us1.<base64url JSON scope>.<MAC>`,
 * keyed by HKDF of the secret and the deployment (bucket, `S3_PREFIX`): any instance sharing the secret accepts them.
 */
@Injectable()
export class UploadSessions {
  private readonly tokenKey: Buffer;
  private readonly uploadKey: Buffer;
  /**
   * Companion parts through the service, not a presigned UploadPart (it signs only `host`: RGW 16 would apply unsigned
   * `x-amz-*` headers, an UploadPartCopy of any object). Undefined: the backend probe decides; tests set it.
   */
  partsThroughService: boolean | undefined;

  constructor(private readonly config: AppConfig) {
    const secret = config.uploadSessionSecret ?? randomBytes(32).toString('hex');
    const scope = JSON.stringify([config.s3.bucket, config.s3.prefix]);
    this.tokenKey = Buffer.from(hkdfSync('sha256', secret, scope, 's3-file-service upload session', 32));
    this.uploadKey = Buffer.from(hkdfSync('sha256', secret, scope, 's3-file-service upload session upload', 32));
    // Production cannot get here: it requires API_KEYS, from which the secret is derived when it is not set.
    if (config.uploadSessionSecret === undefined) {
      new Logger('UploadSessions').warn(
        'SIGNING_SECRET and API_KEYS are not set: upload-session tokens are signed with a random secret of ' +
          'this process (development only; they stop working on restart and on other instances)',
      );
    }
  }

  /** Signs a new session (whole seconds, as the token carries them); the scope must already be valid. */
  issue(scope: Omit<UploadSession, 'id'>): { token: string; session: UploadSession } {
    const session = { ...scope, expiresAt: Math.floor(scope.expiresAt / 1000) * 1000, id: b64(randomBytes(16)) };
    const payload: Payload = {
      ...(session.key !== undefined ? { k: session.key } : { p: session.keyPrefix ?? '' }),
      ...(session.key === undefined && session.overwrite ? { o: 1 as const } : {}),
      m: session.maxBytes,
      ...(session.contentTypes ? { t: [...session.contentTypes] } : {}),
      e: Math.floor(session.expiresAt / 1000),
      i: session.id,
    };
    const body = TOKEN_PREFIX + b64(JSON.stringify(payload));
    return { token: `${body}.${b64(this.mac(body))}`, session };
  }

  /** `evenExpired` only to free what a session left (abort its upload). @throws UnauthorizedException (401) */
  verify(token: string, evenExpired = false): UploadSession {
    const dot = token.lastIndexOf('.');
    const body = token.slice(0, dot);
    const presented = Buffer.from(token.slice(dot + 1), 'base64url');
    if (
      !token.startsWith(TOKEN_PREFIX) ||
      dot < TOKEN_PREFIX.length ||
      presented.length !== MAC_BYTES ||
      b64(presented) !== token.slice(dot + 1)
    ) {
      throw new UnauthorizedException('this is not an upload-session token');
    }
    if (!timingSafeEqual(presented, this.mac(body))) {
      throw new UnauthorizedException('upload-session token is not valid (not issued by this service)');
    }
    const payload = JSON.parse(Buffer.from(body.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8')) as Payload;
    const expiresAt = payload.e * 1000;
    if (!evenExpired && Date.now() >= expiresAt) {
      throw new UnauthorizedException('upload-session token has expired: ask your backend for a new session');
    }
    return {
      ...(payload.k !== undefined ? { key: payload.k } : { keyPrefix: payload.p }),
      overwrite: payload.k !== undefined || payload.o === 1,
      maxBytes: payload.m,
      ...(payload.t ? { contentTypes: payload.t } : {}),
      expiresAt,
      id: payload.i,
    };
  }

  /** Whether `key` (an API key, without `S3_PREFIX`) is one this session may write. */
  inScope(session: UploadSession, key: string): boolean {
    return session.key !== undefined
      ? key === session.key
      : session.keyPrefix !== undefined && key.startsWith(asFolder(session.keyPrefix));
  }

  /** The key asked for, the session's, or `<keyPrefix><uuid>/<file name>`. @throws 400 (bad key), 403 (out of scope) */
  keyFor(session: UploadSession, fileName: string | undefined, requested?: string): string {
    const key = requested ?? session.key ?? `${asFolder(session.keyPrefix ?? '')}${generateKey(fileName)}`;
    const problem = keyProblem(key, Buffer.byteLength(this.config.s3.prefix));
    if (problem) {
      throw new BadRequestException(problem);
    }
    if (!this.inScope(session, key)) {
      throw new ForbiddenException(`key is outside this upload session's scope (${describeScope(session)})`);
    }
    return key;
  }

  /** The canonical media type to store (`straightToS3`: no active content). @throws 400 if malformed or active, 415 */
  checkType(session: UploadSession, type: string | undefined, straightToS3: boolean): string {
    const parsed = parseMediaType(type === undefined || type === '' ? 'application/octet-stream' : type);
    if (typeof parsed === 'string') {
      throw new BadRequestException(`type ${parsed}`);
    }
    if (session.contentTypes && !session.contentTypes.some((allowed) => typeMatches(allowed, parsed.essence))) {
      throw new UnsupportedMediaTypeException(
        `type ${parsed.essence} is not allowed by this upload session (allowed: ${session.contentTypes.join(', ')})`,
      );
    }
    if (straightToS3 && isActive(parsed.value) && !this.config.signedUploadActiveContent) {
      throw new BadRequestException(
        `type ${parsed.essence} is active content (HTML, SVG, XML, JavaScript...): uploads straight to S3 may not ` +
          'declare it unless SIGNED_UPLOAD_ACTIVE_CONTENT=true',
      );
    }
    return parsed.value;
  }

  /** The upload id handed to the client: S3's, prefixed with a MAC over the session, the key and S3's id. */
  bindUpload(session: UploadSession, key: string, s3UploadId: string): string {
    return `${this.uploadMac(session, key, s3UploadId)}.${s3UploadId}`;
  }

  /** S3's upload id behind `bindUpload`'s. @throws ForbiddenException (403) if not this session's for this key */
  s3UploadId(session: UploadSession, key: string, uploadId: string): string {
    const s3UploadId = uploadId.slice(UPLOAD_MAC_CHARS + 1);
    const presented = Buffer.from(uploadId.slice(0, UPLOAD_MAC_CHARS + 1));
    const expected = Buffer.from(`${this.uploadMac(session, key, s3UploadId)}.`);
    if (s3UploadId === '' || presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      throw new ForbiddenException('this upload was not started by this upload session for this key');
    }
    return s3UploadId;
  }

  secondsLeft(session: UploadSession): number {
    return Math.max(1, Math.floor((session.expiresAt - Date.now()) / 1000));
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.tokenKey).update(body).digest();
  }

  private uploadMac(session: UploadSession, key: string, s3UploadId: string): string {
    const mac = createHmac('sha256', this.uploadKey)
      .update(JSON.stringify([session.id, key, s3UploadId]))
      .digest();
    return b64(mac.subarray(0, UPLOAD_MAC_BYTES));
  }
}

const typeMatches = (allowed: string, essence: string): boolean =>
  allowed === '*/*' || (allowed.endsWith('/*') ? essence.startsWith(allowed.slice(0, -1)) : allowed === essence);

const describeScope = (session: UploadSession): string =>
  session.key !== undefined ? `the key ${session.key}` : `keys under "${asFolder(session.keyPrefix ?? '')}"`;
