import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a session allows, as signed into its token. Keys are API keys (without `S3_PREFIX`). */
export interface UploadSession {
  /** The one key this session may write, or undefined for a `keyPrefix` session. */
  readonly key?: string;
  /** The folder (ending in `/`, or `""`: all of `S3_PREFIX`) every key this session writes is in. */
  readonly keyPrefix?: string;
  /** Whether an upload may replace an existing object: always for a `key` session, only if asked for a `keyPrefix`. */
  readonly overwrite: boolean;
  /** The largest object one upload may create, in bytes (never above `MAX_UPLOAD_BYTES`). */
  readonly maxBytes: number;
  /** Allowed media types: `type/subtype` or `type/*`; undefined allows any type the service accepts. */
  readonly contentTypes?: readonly string[];
  /** When the token stops working, in milliseconds since the epoch. */
  readonly expiresAt: number;
  /** Random, per session: binds the multipart uploads this session starts to it. */
  readonly id: string;
}

/** Why a string is not a usable token. */
export type TokenProblem = 'malformed' | 'forged' | 'expired';

/** Every token starts with this, so it cannot be mistaken for an API key (which need not look like anything). */
export const TOKEN_PREFIX = 'us1.';
const MAC_BYTES = 32;
const UPLOAD_MAC_BYTES = 16;
/** base64url of `UPLOAD_MAC_BYTES`. */
const UPLOAD_MAC_CHARS = 22;

interface Payload {
  k?: string;
  p?: string;
  /** 1: a `keyPrefix` session that may replace objects. */
  o?: 1;
  m: number;
  t?: string[];
  e: number;
  i: string;
}

const b64 = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/**
 * `us1.<base64url JSON scope>.<base64url HMAC-SHA256>`, keyed by HKDF of the secret and the deployment (bucket,
 * `S3_PREFIX`), so any instance sharing the secret accepts them.
 */
export class UploadSessionTokens {
  private readonly tokenKey: Buffer;
  private readonly uploadKey: Buffer;

  constructor(secret: string, scope: string) {
    this.tokenKey = Buffer.from(hkdfSync('sha256', secret, scope, 's3-file-service upload session', 32));
    this.uploadKey = Buffer.from(hkdfSync('sha256', secret, scope, 's3-file-service upload session upload', 32));
  }

  /** A new session id (random, 128 bits). */
  static newId(): string {
    return b64(randomBytes(16));
  }

  issue(session: UploadSession): string {
    const payload: Payload = {
      ...(session.key !== undefined ? { k: session.key } : { p: session.keyPrefix ?? '' }),
      ...(session.key === undefined && session.overwrite ? { o: 1 as const } : {}),
      m: session.maxBytes,
      ...(session.contentTypes ? { t: [...session.contentTypes] } : {}),
      e: Math.floor(session.expiresAt / 1000),
      i: session.id,
    };
    const body = TOKEN_PREFIX + b64(JSON.stringify(payload));
    return `${body}.${b64(this.mac(body))}`;
  }

  /** The session a token states, when this deployment signed it and it has not expired at `now` (null: ever). */
  read(token: string, now: number | null = Date.now()): UploadSession | TokenProblem {
    if (!token.startsWith(TOKEN_PREFIX)) {
      return 'malformed';
    }
    const dot = token.lastIndexOf('.');
    const body = token.slice(0, dot);
    const presented = Buffer.from(token.slice(dot + 1), 'base64url');
    if (dot < TOKEN_PREFIX.length || presented.length !== MAC_BYTES || b64(presented) !== token.slice(dot + 1)) {
      return 'malformed';
    }
    if (!timingSafeEqual(presented, this.mac(body))) {
      return 'forged';
    }
    const payload = JSON.parse(Buffer.from(body.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8')) as Payload;
    const expiresAt = payload.e * 1000;
    if (now !== null && now >= expiresAt) {
      return 'expired';
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

  /** The upload id handed to the client: S3's, prefixed with a MAC over the session, the key and S3's id. */
  bindUpload(session: UploadSession, key: string, s3UploadId: string): string {
    return `${this.uploadMac(session, key, s3UploadId)}.${s3UploadId}`;
  }

  /** S3's upload id, when `uploadId` came from `bindUpload` for this session and key; undefined otherwise. */
  unbindUpload(session: UploadSession, key: string, uploadId: string): string | undefined {
    if (uploadId.length <= UPLOAD_MAC_CHARS + 1 || uploadId[UPLOAD_MAC_CHARS] !== '.') {
      return undefined;
    }
    const s3UploadId = uploadId.slice(UPLOAD_MAC_CHARS + 1);
    const presented = Buffer.from(uploadId.slice(0, UPLOAD_MAC_CHARS), 'base64url');
    const expected = Buffer.from(this.uploadMac(session, key, s3UploadId), 'base64url');
    return presented.length === expected.length && timingSafeEqual(presented, expected) ? s3UploadId : undefined;
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
