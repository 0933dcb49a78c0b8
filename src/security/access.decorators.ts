import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';

/** What the request's API key may do. Without API_KEYS (development only) every request is `read-write`. */
export type AccessLevel = 'read-write' | 'read-only';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by the API-key guard before any handler runs. */
    accessLevel?: AccessLevel;
    /** Set by the API-key guard: a `@PublicRead()` route let in without any Authorization header. */
    anonymous?: boolean;
    /** Set by the files controller: a read served to a request without an API key under PUBLIC_PREFIXES. */
    publicRead?: boolean;
  }
}

export const IS_PUBLIC = 'security:public';
export const ALLOW_READ_ONLY = 'security:allow-read-only';
export const ACCEPTS_UPLOAD_SESSION = 'security:accepts-upload-session';
export const PUBLIC_READ = 'security:public-read';

/** The route needs no API key (health checks). The Host check still applies. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/**
 * GET/HEAD of one file: with PUBLIC_PREFIXES, a request without Authorization gets in as `req.anonymous`, and the
 * route must serve it only keys under those prefixes (`ReadKey` does). A wrong or malformed key is still a 401.
 */
export const PublicRead = () => SetMetadata(PUBLIC_READ, true);

/** A non-GET/HEAD route read-only keys may call too; it checks `@Access()` itself (POST /signed-urls). */
export const AllowReadOnly = () => SetMetadata(ALLOW_READ_ONLY, true);

/**
 * An upload route that also takes an upload-session token: the guard sets `req.uploadSession`, and the handler must
 * keep the upload within its scope. Anywhere else a session token is a 403.
 */
export const AcceptsUploadSession = () => SetMetadata(ACCEPTS_UPLOAD_SESSION, true);

/** The access level of the request's API key, as a handler parameter. */
export const Access = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AccessLevel =>
    context.switchToHttp().getRequest<Request>().accessLevel ?? 'read-only',
);
