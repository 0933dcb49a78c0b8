import { STATUS_CODES } from 'node:http';
import { ArgumentsHost, Catch, HttpException, HttpStatus, Logger, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { closeAfterAnswer } from './request-body.js';
import { StorageError, type StorageErrorCode } from '../storage/storage.errors.js';
import { errorBody, HttpProblem } from './problem.js';

/** The status of each storage error code (a code without one does not compile). */
const STORAGE_STATUS: Readonly<Record<StorageErrorCode, HttpStatus>> = {
  NotFound: HttpStatus.NOT_FOUND,
  AlreadyExists: HttpStatus.CONFLICT,
  PreconditionFailed: HttpStatus.PRECONDITION_FAILED,
  NotModified: HttpStatus.NOT_MODIFIED,
  RangeNotSatisfiable: HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
  TooLarge: HttpStatus.PAYLOAD_TOO_LARGE,
  InvalidInput: HttpStatus.BAD_REQUEST,
  Aborted: HttpStatus.BAD_REQUEST,
  AccessDenied: HttpStatus.BAD_GATEWAY,
  BadGateway: HttpStatus.BAD_GATEWAY,
  Unavailable: HttpStatus.SERVICE_UNAVAILABLE,
  Timeout: HttpStatus.GATEWAY_TIMEOUT,
};

export const statusOf = (code: StorageErrorCode): number => STORAGE_STATUS[code];

/** The one place errors become HTTP: `{statusCode, error, message}`, never a stack trace or a secret. */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request>();
    const { statusCode, message, headers = {} } = this.describe(exception, req);
    if (res.headersSent) {
      // The body has started: the only honest signal left is a broken transfer.
      res.destroy();
      return;
    }
    res.setHeaders(new Map(Object.entries(headers)));
    closeAfterAnswer(req, res);
    res.status(statusCode);
    if (statusCode === 304 || req.method === 'HEAD') {
      res.end();
      return;
    }
    res.json(errorBody(statusCode, message));
  }

  private describe(exception: unknown, req: Request) {
    if (exception instanceof StorageError) {
      const statusCode = statusOf(exception.code);
      if (statusCode >= 500) {
        this.logger.warn(`${req.method} ${req.path}: ${exception.code}: ${exception.message}`);
      }
      const { code, objectSize, retryAfterSeconds } = exception;
      const headers: Record<string, string> =
        code === 'RangeNotSatisfiable' && objectSize !== undefined
          ? { 'Content-Range': `bytes */${objectSize}` }
          : code === 'Unavailable'
            ? { 'Retry-After': String(retryAfterSeconds ?? 1) }
            : {};
      return { statusCode, message: exception.message, headers };
    }
    if (exception instanceof HttpProblem) {
      return { statusCode: exception.statusCode, message: exception.message };
    }
    if (exception instanceof HttpException) {
      const response = exception.getResponse();
      const raw = typeof response === 'string' ? response : (response as { message?: unknown }).message;
      const message = Array.isArray(raw) ? raw.join('; ') : typeof raw === 'string' ? raw : exception.message;
      return { statusCode: exception.getStatus(), message };
    }
    // Express middleware's errors (http-errors) carry a status and say whether their message is safe to show.
    const express = exception as { status?: number; statusCode?: number; expose?: boolean; message?: string } | null;
    const status = express?.status ?? express?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const message = express?.expose && express.message ? express.message : (STATUS_CODES[status] ?? 'bad request');
      return { statusCode: status, message };
    }
    this.logger.error(
      `${req.method} ${req.path}: unexpected error`,
      exception instanceof Error ? exception.stack : String(exception),
    );
    return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, message: 'internal error' };
  }
}
