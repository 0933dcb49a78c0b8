import { BadRequestException, UnsupportedMediaTypeException } from '@nestjs/common';
import { json, type NextFunction, type Request, type Response } from 'express';

/** Signing requests are a few hundred bytes. */
export const JSON_BODY_LIMIT = '16kb';

const parseJson = json({ limit: JSON_BODY_LIMIT, strict: true });

/**
 * Parses a JSON body for the routes it is applied to (the app parses no bodies itself, so uploads stay streams).
 * Malformed JSON is a 400 that says so (not the parser's message); an oversized body is body-parser's 413.
 */
export function jsonBody(req: Request, res: Response, next: NextFunction): void {
  if (!req.is('application/json')) {
    next(new UnsupportedMediaTypeException('the request body must be JSON (Content-Type: application/json)'));
    return;
  }
  parseJson(req, res, (error?: unknown) => {
    const parseFailed = (error as { type?: string } | undefined)?.type === 'entity.parse.failed';
    next(parseFailed ? new BadRequestException('request body is not valid JSON') : error);
  });
}
