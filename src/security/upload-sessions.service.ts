import {
  BadRequestException,
  ForbiddenException,
  Injectable,
  Logger,
  UnauthorizedException,
  UnsupportedMediaTypeException,
  type OnModuleInit,
} from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AppConfig } from '../config/app-config.js';
import { keyProblem } from '../http/file-key.js';
import { isActive, parseMediaType } from '../http/media-type.js';
import { generateKey } from '../http/upload-name.js';
import { TOKEN_PREFIX, UploadSessionTokens, type UploadSession } from './upload-session-token.js';

export type { UploadSession } from './upload-session-token.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by the API-key guard when the request carries a valid upload-session token. */
    uploadSession?: UploadSession;
  }
}

/** Whether a bearer credential is an upload-session token (not an API key). */
export const isSessionToken = (credential: string): boolean => credential.startsWith(TOKEN_PREFIX);

/**
 * Upload sessions: scoped, expiring, stateless capabilities a browser uses instead of an API key. This is the one
 * place that signs and checks their tokens and decides what a session may write.
 */
@Injectable()
export class UploadSessions implements OnModuleInit {
  private readonly logger = new Logger('UploadSessions');
  private readonly tokens: UploadSessionTokens;
  private readonly prefixBytes: number;
  private readonly randomSecret: boolean;
  /**
   * Whether Companion parts go through the service rather than to a presigned UploadPart, which signs only `host`: a
   * backend applying unsigned `x-amz-*` headers (Ceph RGW 16) would make it an UploadPartCopy of any object. Undefined:
   * the backend's probed answer decides (through the service until known); tests set it to take one path.
   */
  partsThroughService: boolean | undefined;

  constructor(private readonly config: AppConfig) {
    this.randomSecret = config.uploadSessionSecret === undefined;
    const secret = config.uploadSessionSecret ?? randomBytes(32).toString('hex');
    this.tokens = new UploadSessionTokens(secret, JSON.stringify([config.s3.bucket, config.s3.prefix]));
    this.prefixBytes = Buffer.byteLength(config.s3.prefix, 'utf8');
  }

  onModuleInit(): void {
    // Production cannot get here: it requires API_KEYS, from which the secret is derived when it is not set.
    if (this.randomSecret) {
      this.logger.warn(
        'SIGNING_SECRET and API_KEYS are not set: upload-session tokens are signed with a random secret of ' +
          'this process (development only; they stop working on restart and on other instances)',
      );
    }
  }

  /** Signs a new session; the scope must already be valid (see `UploadSessionsController`). */
  issue(scope: Omit<UploadSession, 'id'>): { token: string; session: UploadSession } {
    // Whole seconds, as the token carries them.
    const session = { ...scope, expiresAt: Math.floor(scope.expiresAt / 1000) * 1000, id: UploadSessionTokens.newId() };
    return { token: this.tokens.issue(session), session };
  }

  /**
   * The session of a token this deployment issued; `evenExpired` only to free what a session left (abort its upload).
   * @throws UnauthorizedException (401) for a malformed, forged or (unless `evenExpired`) expired token
   */
  verify(token: string, evenExpired = false): UploadSession {
    const session = this.tokens.read(token, evenExpired ? null : Date.now());
    switch (session) {
      case 'malformed':
        throw new UnauthorizedException('this is not an upload-session token');
      case 'forged':
        throw new UnauthorizedException('upload-session token is not valid (not issued by this service)');
      case 'expired':
        throw new UnauthorizedException('upload-session token has expired: ask your backend for a new session');
      default:
        return session;
    }
  }

  /** Whether `key` (an API key, without `S3_PREFIX`) is one this session may write. */
  inScope(session: UploadSession, key: string): boolean {
    return session.key !== undefined
      ? key === session.key
      : session.keyPrefix !== undefined && key.startsWith(asFolder(session.keyPrefix));
  }

  /**
   * The key an upload of this session writes: the session's key, or `<keyPrefix><uuid>/<file name>` (as `POST /files`
   * names files). A key the client asks for (`POST /files` only) must be in scope.
   * @throws BadRequestException (400) for a key the key rules refuse, ForbiddenException (403) for one out of scope
   */
  keyFor(session: UploadSession, fileName: string | undefined, requested?: string): string {
    const key = requested ?? session.key ?? `${asFolder(session.keyPrefix ?? '')}${generateKey(fileName)}`;
    const problem = keyProblem(key, this.prefixBytes);
    if (problem) {
      throw new BadRequestException(problem);
    }
    if (!this.inScope(session, key)) {
      throw new ForbiddenException(`key is outside this upload session's scope (${describeScope(session)})`);
    }
    return key;
  }

  /**
   * The canonical media type an upload of this session may store (none: `application/octet-stream`). `straightToS3`:
   * S3 will serve it from its own origin, so active content is refused as for signed URLs.
   * @throws BadRequestException (400) for a malformed or (straight to S3) active type,
   *   UnsupportedMediaTypeException (415) for a type the session does not allow
   */
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

  /** The upload id handed to the client for an S3 multipart upload this session started for `key`. */
  bindUpload(session: UploadSession, key: string, s3UploadId: string): string {
    return this.tokens.bindUpload(session, key, s3UploadId);
  }

  /**
   * S3's upload id behind an upload id from `bindUpload`.
   * @throws ForbiddenException (403) when this session did not start that upload for that key
   */
  s3UploadId(session: UploadSession, key: string, uploadId: string): string {
    const s3UploadId = this.tokens.unbindUpload(session, key, uploadId);
    if (s3UploadId === undefined) {
      throw new ForbiddenException('this upload was not started by this upload session for this key');
    }
    return s3UploadId;
  }

  /** Seconds left before the session expires (at least 1). */
  secondsLeft(session: UploadSession): number {
    return Math.max(1, Math.floor((session.expiresAt - Date.now()) / 1000));
  }
}

const typeMatches = (allowed: string, essence: string): boolean =>
  allowed === '*/*' || (allowed.endsWith('/*') ? essence.startsWith(allowed.slice(0, -1)) : allowed === essence);

/** A `keyPrefix` is a folder: `users/42` holds `users/42/a.png`, not `users/420/a.png` nor `users/42-admin.txt`. */
export const asFolder = (keyPrefix: string): string =>
  keyPrefix === '' || keyPrefix.endsWith('/') ? keyPrefix : `${keyPrefix}/`;

const describeScope = (session: UploadSession): string =>
  session.key !== undefined ? `the key ${session.key}` : `keys under "${asFolder(session.keyPrefix ?? '')}"`;
