import {
  ForbiddenException,
  Injectable,
  Logger,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
  type OnModuleInit,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config.js';
import { isSessionToken, UploadSessions } from './upload-sessions.service.js';
import { AcceptsUploadSession, AllowReadOnly, Public, PublicRead } from './access.decorators.js';
import { ApiKeyRing } from './api-keys.js';
import { sendProblem } from '../http/problem.js';

const READ_METHODS = new Set(['GET', 'HEAD']);
const BEARER = /^Bearer +(\S+) *$/i;

const challenge = (res: Response, error: string) => res.setHeader('WWW-Authenticate', `Bearer error="${error}"`);

/**
 * `Authorization: Bearer <key>` from API_KEYS or API_KEYS_READONLY: 401 without a key or with an unknown one, 403 for
 * a read-only key on a write; `@Public()` and `@PublicRead()` opt out. Keys never reach a message. An upload-session
 * token is accepted only on `@AcceptsUploadSession()` routes (also without API_KEYS, so its scope holds), else 403.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate, OnModuleInit {
  private readonly keys: ApiKeyRing;
  private readonly publicReads: boolean;

  constructor(
    private readonly reflector: Reflector,
    config: AppConfig,
    private readonly sessions: UploadSessions,
  ) {
    this.keys = new ApiKeyRing(config.apiKeys.readWrite, config.apiKeys.readOnly);
    this.publicReads = config.publicPrefixes.length > 0;
  }

  onModuleInit(): void {
    // Production cannot get here without keys: config validation requires API_KEYS there.
    if (!this.keys.enabled) {
      new Logger('Security').warn('API_KEYS is not set: the API is open to anyone who can reach it (development only)');
    }
  }

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    const marked = (marker: typeof Public): boolean => this.reflector.getAllAndOverride(marker, targets);
    if (marked(Public)) {
      return true;
    }
    const req = context.switchToHttp().getRequest<Request>();
    const header = req.headers.authorization;
    const presented = header === undefined ? undefined : BEARER.exec(header)?.[1];
    if (presented !== undefined && isSessionToken(presented) && this.keys.levelOf(presented) === undefined) {
      if (!marked(AcceptsUploadSession)) {
        throw new ForbiddenException(
          'an upload-session token only authorises uploads within its scope (POST /files, tus, its own URL)',
        );
      }
      req.uploadSession = this.sessions.verify(presented);
      return true;
    }
    if (!this.keys.enabled) {
      req.accessLevel = 'read-write';
      return true;
    }
    if (presented === undefined) {
      if (header === undefined && this.publicReads && READ_METHODS.has(req.method) && marked(PublicRead)) {
        req.anonymous = true;
        return true;
      }
      challenge(context.switchToHttp().getResponse(), 'invalid_request');
      throw new UnauthorizedException(
        header === undefined
          ? 'an API key is required: send "Authorization: Bearer <key>"'
          : 'the Authorization header must be "Bearer <key>"',
      );
    }
    const level = this.keys.levelOf(presented);
    if (level === undefined) {
      challenge(context.switchToHttp().getResponse(), 'invalid_token');
      throw new UnauthorizedException('unknown API key');
    }
    req.accessLevel = level;
    if (level === 'read-only' && !READ_METHODS.has(req.method) && !marked(AllowReadOnly)) {
      throw new ForbiddenException(`this API key is read-only: ${req.method} needs a read-write key`);
    }
    return true;
  }

  /** For routes Nest's guards do not see (Swagger UI, the OpenAPI document): any configured key, or 401. */
  readonly requireAnyKey = (req: Request, res: Response, next: NextFunction): void => {
    const presented = BEARER.exec(req.headers.authorization ?? '')?.[1];
    if (!this.keys.enabled || (presented !== undefined && this.keys.levelOf(presented) !== undefined)) {
      next();
      return;
    }
    challenge(res, presented === undefined ? 'invalid_request' : 'invalid_token');
    sendProblem(req, res, 401, 'an API key is required for the API description');
  };
}
