import { STATUS_CODES } from 'node:http';
import { ArgumentsHost, Catch, HttpException, HttpStatus, Logger, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { closeAfterAnswer } from './request-body.js';
import { StorageError, type StorageErrorCode } from '../storage/storage.errors.js';
import { errorBody, HttpProblem } from './problem.js';

export function statusOf(code: StorageErrorCode): number {
  switch (code) {
    case 'NotFound':
      return HttpStatus.NOT_FOUND;
    case 'AlreadyExists':
      return HttpStatus.CONFLICT;
    case 'PreconditionFailed':
      return HttpStatus.PRECONDITION_FAILED;
    case 'NotModified':
      return HttpStatus.NOT_MODIFIED;
    case 'RangeNotSatisfiable':
      return HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE;
    case 'TooLarge':
      return HttpStatus.PAYLOAD_TOO_LARGE;
    case 'InvalidInput':
    case 'Aborted':
      return HttpStatus.BAD_REQUEST;
    case 'AccessDenied':
    case 'BadGateway':
      return HttpStatus.BAD_GATEWAY;
    case 'Unavailable':
      return HttpStatus.SERVICE_UNAVAILABLE;
    case 'Timeout':
      return HttpStatus.GATEWAY_TIMEOUT;
  }
}

/** Errors thrown by Express middleware (body-parser, http-errors) carry a status and say if their message is safe. */
interface ExpressError {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  type?: string;
  message?: string;
}

/** The one place errors become HTTP: `{statusCode, error, message}`, never a stack trace or a secret. */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request>();
    const { statusCode, message } = this.describe(exception, req);

    if (res.headersSent) {
      // The body has started: the only honest signal left is a broken transfer.
      res.destroy();
      return;
    }
    if (
      exception instanceof StorageError &&
      exception.code === 'RangeNotSatisfiable' &&
      exception.objectSize !== undefined
    ) {
      res.setHeader('Content-Range', `bytes */${exception.objectSize}`);
    }
    if (exception instanceof StorageError && exception.code === 'Unavailable') {
      res.setHeader('Retry-After', String(exception.retryAfterSeconds ?? 1));
    }
    if (exception instanceof HttpProblem) {
      for (const [name, value] of Object.entries(exception.headers)) {
        if (value !== undefined) {
          res.setHeader(name, value);
        }
      }
    }
    const body = errorBody(statusCode, message);
    closeAfterAnswer(req, res);
    res.status(statusCode);
    if (statusCode === 304 || req.method === 'HEAD') {
      res.end();
      return;
    }
    res.json(body);
  }

  private describe(exception: unknown, req: Request): { statusCode: number; message: string } {
    if (exception instanceof StorageError) {
      const statusCode = statusOf(exception.code);
      if (statusCode >= 500) {
        this.logger.warn(`${req.method} ${req.path}: ${exception.code}: ${exception.message}`);
      }
      return { statusCode, message: exception.message };
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
    const express = exception as ExpressError | undefined;
    const status = express?.status ?? express?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const message =
        express?.type === 'entity.parse.failed'
          ? 'request body is not valid JSON'
          : express?.expose && express.message
            ? express.message
            : (STATUS_CODES[status] ?? 'bad request');
      return { statusCode: status, message };
    }
    this.logger.error(
      `${req.method} ${req.path}: unexpected error`,
      exception instanceof Error ? exception.stack : String(exception),
    );
    return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, message: 'internal error' };
  }
}
