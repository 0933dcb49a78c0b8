import type { NextFunction, Request, Response } from 'express';
import { sendProblem } from '../http/problem.js';

/** A name safe and short enough to repeat back in an error message. */
const PLAIN_NAME = /^[A-Za-z0-9_.-]{1,40}$/;

const strictDecode = (value: string): string | undefined => {
  const spaced = value.includes('+') ? value.replace(/\+/g, ' ') : value;
  if (!spaced.includes('%')) {
    return spaced;
  }
  try {
    return decodeURIComponent(spaced);
  } catch {
    return undefined;
  }
};

/** Why a target is refused: not percent-encoded UTF-8, or a query parameter twice (it would parse as an array). */
export function requestTargetProblem(target: string): string | undefined {
  const at = target.indexOf('?');
  const path = at === -1 ? target : target.slice(0, at);
  if (strictDecode(path.replace(/\+/g, '%2B')) === undefined) {
    return 'the path is not valid percent-encoded UTF-8';
  }
  const seen = new Set<string>();
  for (const pair of at === -1 ? [] : target.slice(at + 1).split('&')) {
    if (pair === '') {
      continue;
    }
    const eq = pair.indexOf('=');
    const name = strictDecode(eq === -1 ? pair : pair.slice(0, eq));
    if (name === undefined || strictDecode(eq === -1 ? '' : pair.slice(eq + 1)) === undefined) {
      return 'the query string is not valid percent-encoded UTF-8';
    }
    if (seen.has(name)) {
      return `${PLAIN_NAME.test(name) ? `query parameter "${name}"` : 'a query parameter'} is given more than once`;
    }
    seen.add(name);
  }
  return undefined;
}

/** Answers 400 for a target `requestTargetProblem` refuses, before any route or parser sees it. */
export function checkRequestTarget(req: Request, res: Response, next: NextFunction): void {
  const problem = requestTargetProblem(req.originalUrl);
  if (problem === undefined) {
    next();
    return;
  }
  sendProblem(req, res, 400, problem);
}
