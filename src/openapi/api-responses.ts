import { applyDecorators } from '@nestjs/common';
import type { HeadersObject } from '@nestjs/swagger';
import { ApiBearerAuth, ApiResponse, ApiSecurity } from './swagger-decorators.js';
import { ErrorResponse } from './error-response.dto.js';
import { API_KEY_SCHEME } from './openapi.js';

/** The error statuses the service answers, and when. */
const ERRORS = {
  400: 'Bad key or input, or a `Host` not in `ALLOWED_HOSTS`: the message says what is wrong.',
  401: 'Missing or unknown API key (when API keys are configured).',
  403: 'A read-only API key tried to write (or to sign an upload), or an upload-session token was used outside its scope.',
  404: 'No object with this key.',
  409: '`overwrite=false` (or an upload session that may not replace objects) and an object with this key exists.',
  411: 'No `Content-Length`: this upload needs one (no chunked body).',
  412: 'A precondition does not hold: `If-Match` or `If-Unmodified-Since` (the object changed or is missing), or `If-None-Match: *` and an object with this key exists.',
  413: 'The body is larger than allowed (`MAX_UPLOAD_BYTES` for uploads).',
  415: 'The body is not `application/json`, or the media type of an upload is not one its upload session allows.',
  416: 'The range is not satisfiable; `Content-Range: bytes */<size>` says the size.',
  502: 'S3 refused the service (access denied, no such bucket) or failed.',
  503: 'S3 cannot be reached, or its credentials cannot be resolved; try again.',
  504: 'S3 did not answer in time.',
} as const;

export type ErrorStatus = keyof typeof ERRORS;

const ERROR_HEADERS: Partial<Record<ErrorStatus, HeadersObject>> = {
  401: { 'WWW-Authenticate': { description: '`Bearer error="…"`', schema: { type: 'string', pattern: '^Bearer' } } },
  416: {
    'Content-Range': { description: 'bytes */<object size>', schema: { type: 'string', pattern: '^bytes \\*/\\d+$' } },
  },
  503: { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } } },
};

/** The errors every S3-backed route can answer. */
export const STORAGE_ERRORS: ErrorStatus[] = [502, 503, 504];

/** Documents error responses as `ErrorResponse` JSON; `body: false` for HEAD, whose errors carry no body. */
export function ApiErrors(statuses: ErrorStatus[], { body = true }: { body?: boolean } = {}) {
  const type = body ? ErrorResponse : undefined;
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({ status, description: ERRORS[status], headers: ERROR_HEADERS[status], type }),
    ),
  );
}

/** A route that needs no API key (an empty security requirement); the `Host` check still applies. */
export function ApiPublic() {
  return applyDecorators(ApiSecurity({}), ApiErrors([400]));
}

/** The bearer API key with its 401 and 403 (a read-only key writing, a session token out of scope), and `errors`. */
export function ApiKeyAuth(errors: ErrorStatus[] = [], options: { body?: boolean } = {}) {
  return applyDecorators(ApiBearerAuth(API_KEY_SCHEME), ApiErrors([401, 403, ...errors], options));
}
