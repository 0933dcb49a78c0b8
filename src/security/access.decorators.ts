import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { UploadSession } from './upload-sessions.service.js';

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
    /** Set by the API-key guard when the request carries a valid upload-session token. */
    uploadSession?: UploadSession;
  }
}

const marker = () => Reflector.createDecorator<void, boolean>({ transform: () => true });

/** The route needs no API key (health checks). The Host check still applies. */
export const Public = marker();

/** GET/HEAD of one file, open without Authorization (`req.anonymous`) to keys under PUBLIC_PREFIXES (`ReadKey`). */
export const PublicRead = marker();

/** A non-GET/HEAD route read-only keys may call too; it checks `@Access()` itself (POST /signed-urls). */
export const AllowReadOnly = marker();

/** An upload route that also takes an upload-session token (`req.uploadSession`), kept to its scope; else a 403. */
export const AcceptsUploadSession = marker();

export const Access = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AccessLevel =>
    context.switchToHttp().getRequest<Request>().accessLevel ?? 'read-only',
);
