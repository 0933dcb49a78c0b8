import { BadRequestException, UnsupportedMediaTypeException } from '@nestjs/common';
import { json, type NextFunction, type Request, type Response } from 'express';

/** Signing requests are flat objects; deeper nesting only serves to exhaust the validator's stack. */
const JSON_MAX_DEPTH = 8;

/** body-parser's `verify`: throws when arrays and objects nest too deep (brackets in strings do not count). */
function checkDepth(_req: unknown, _res: unknown, body: Buffer): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c) {
        i++; // the escaped character
      } else if (c === 0x22) {
        inString = false;
      }
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > JSON_MAX_DEPTH) {
        throw new Error('too deep');
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
}

/** JSON on the routes it is applied to (uploads stay streams); a bad body is a 400 that says so, not the parser's. */
export function jsonBodyUpTo(limit: string): (req: Request, res: Response, next: NextFunction) => void {
  const parseJson = json({ limit, strict: true, verify: checkDepth });
  return (req, res, next) => {
    if (!req.is('application/json')) {
      next(new UnsupportedMediaTypeException('the request body must be JSON (Content-Type: application/json)'));
      return;
    }
    parseJson(req, res, (error?: unknown) => {
      const type = (error as { type?: string } | undefined)?.type;
      if (type === 'entity.parse.failed') {
        next(new BadRequestException('request body is not valid JSON'));
      } else if (type === 'entity.verify.failed') {
        next(new BadRequestException(`request body nests deeper than ${JSON_MAX_DEPTH} levels`));
      } else {
        next(error);
      }
    });
  };
}

/** Signing requests are a few hundred bytes. */
export const jsonBody = jsonBodyUpTo('16kb');
