import {
  BadRequestException,
  createParamDecorator,
  type ExecutionContext,
  Injectable,
  type PipeTransform,
  UnauthorizedException,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppConfig } from '../config/app-config.js';
import { isReservedKey, RESERVED_PREFIX } from '../storage/reserved-keys.js';

/** S3's own limit on a key, counted with `S3_PREFIX`. */
export const MAX_KEY_BYTES = 1024;

const RULES: [(key: string) => boolean, string][] = [
  [(key) => key.length === 0, 'key must not be empty'],
  [(key) => /[\u0000-\u001f\u007f-\u009f]/.test(key), 'key must not contain control characters'],
  [(key) => key.includes('\\'), 'key must not contain backslashes'],
  [(key) => key.startsWith('/'), 'key must not start with /'],
  [isReservedKey, `key must not start with ${RESERVED_PREFIX} (reserved for resumable uploads in progress)`],
];

/** What is wrong with a decoded key (or a list prefix, with `allowPartial`), counting `prefixBytes`; or undefined. */
export function keyProblem(key: string, prefixBytes: number, allowPartial = false): string | undefined {
  const broken = RULES.find(([breaks]) => breaks(key));
  if (broken) {
    return broken[1];
  }
  const segments = key.split('/');
  // A list prefix may end with `/` ("folder/") but otherwise follows the key rules.
  const checked = allowPartial && key.endsWith('/') ? segments.slice(0, -1) : segments;
  if (checked.some((s) => s === '')) {
    return 'key must not contain empty segments (//) or end with /';
  }
  if (checked.some((s) => s === '.' || s === '..')) {
    return 'key must not contain . or .. segments';
  }
  if (Buffer.byteLength(key, 'utf8') + prefixBytes > MAX_KEY_BYTES) {
    return `key must be at most ${MAX_KEY_BYTES - prefixBytes} UTF-8 bytes`;
  }
  return undefined;
}

/** Decodes a percent-encoded path exactly once; `%2F` is a `/` inside the key. */
export function decodeKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new BadRequestException('key is not valid percent-encoded UTF-8');
  }
}

/** The key rules with `S3_PREFIX` counted in: a key too long for S3 once prefixed is a 400 on every route. */
@Injectable()
export class KeyPipe implements PipeTransform<string, string> {
  private readonly prefixBytes: number;

  constructor(config: AppConfig) {
    this.prefixBytes = Buffer.byteLength(config.s3.prefix, 'utf8');
  }

  transform(key: string): string {
    return valid(key, keyProblem(key, this.prefixBytes));
  }

  /** A list prefix: a key, or the start of one that may end with `/` (a folder); empty lists everything. */
  listPrefix(prefix: string | undefined): string | undefined {
    return prefix === undefined || prefix === '' ? prefix : valid(prefix, keyProblem(prefix, this.prefixBytes, true));
  }
}

function valid(key: string, problem: string | undefined): string {
  if (problem) {
    throw new BadRequestException(problem);
  }
  return key;
}

/** The route's `/files/` in a path: in any case, as Express matches routes (`/FILES/a` is the key `a`). */
const FILES_SEGMENT = /\/files\//i;

/** The key of a `/files/{key}` route from the raw URL, decoded once (Express would turn `%252F` into `/`). */
export function keyInPath(req: Request): string {
  const path = req.originalUrl.split('?')[0] ?? '';
  const marker = FILES_SEGMENT.exec(path);
  return decodeKey(marker === null ? '' : path.slice(marker.index + marker[0].length));
}

const pathKey = createParamDecorator((_data: unknown, ctx: ExecutionContext): string =>
  keyInPath(ctx.switchToHttp().getRequest<Request>()),
);

export const FileKey = (): ParameterDecorator => pathKey(undefined, KeyPipe);

/** Whether a key is in one of the public folders (each ends with `/`, so `public/` never covers `publicity/x`). */
export const isPublicKey = (publicPrefixes: readonly string[], key: string): boolean =>
  publicPrefixes.some((prefix) => key.startsWith(prefix));

type ReadTarget = { key: string; req: Request; res: Response };

/** `KeyPipe`, then for an anonymous read the public check, on the very key S3 is asked for, never another spelling. */
@Injectable()
export class ReadKeyPipe implements PipeTransform<ReadTarget, string> {
  constructor(
    private readonly keys: KeyPipe,
    private readonly config: AppConfig,
  ) {}

  transform({ key, req, res }: ReadTarget): string {
    const checked = this.keys.transform(key);
    if (req.anonymous && !isPublicKey(this.config.publicPrefixes, checked)) {
      res.setHeader('WWW-Authenticate', 'Bearer error="invalid_request"');
      throw new UnauthorizedException('an API key is required: send "Authorization: Bearer <key>"');
    }
    return checked;
  }
}

const readTarget = createParamDecorator((_data: unknown, ctx: ExecutionContext): ReadTarget => {
  const http = ctx.switchToHttp();
  const req = http.getRequest<Request>();
  return { key: keyInPath(req), req, res: http.getResponse<Response>() };
});

/** The key of `GET`/`HEAD /files/{key}` (`@PublicRead()` routes): `FileKey`, and public only for anonymous reads. */
export const ReadKey = (): ParameterDecorator => readTarget(undefined, ReadKeyPipe);
