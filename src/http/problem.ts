import { STATUS_CODES, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';

/** The one error body of the service: `{statusCode, error, message}`, never a stack trace or a secret. */
export function errorBody(statusCode: number, message: string) {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

export type ErrorBody = ReturnType<typeof errorBody>;

/** A refusal at the HTTP level that is no storage error (a body too large, a client gone), for the error filter. */
export class HttpProblem extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpProblem';
  }
}

/** The filter's answer where no exception filter runs (middleware, plain node:http listeners); no body for HEAD. */
export function sendProblem(
  req: { method?: string },
  res: ServerResponse,
  statusCode: number,
  message: string,
  headers: OutgoingHttpHeaders = {},
): void {
  const json = JSON.stringify(errorBody(statusCode, message));
  res.writeHead(statusCode, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(json),
  });
  res.end(req.method === 'HEAD' ? undefined : json);
}
