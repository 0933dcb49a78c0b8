import { applyDecorators } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse } from '../openapi/swagger-decorators.js';
import { ApiErrors, ApiKeyAuth, STORAGE_ERRORS } from '../openapi/api-responses.js';
import { DeletedFiles, MovedFile } from './batch-files.dto.js';
import { StoredFile } from './file.dto.js';
import { LOCATION, optionalHeaders } from './files.openapi.js';

/** What copy and move share: the source key, its preconditions, the errors. */
const ApiCopyOrMove = () =>
  applyDecorators(
    ApiParam({
      name: 'key',
      description:
        'The source key, URL-encoded per segment as in `/files/{key}` (a trailing `/copy` or `/move` names the ' +
        'action, not part of the key).',
      schema: { type: 'string', minLength: 1 },
      example: 'photos/2026/a%20b.jpg',
    }),
    optionalHeaders({
      'If-Match':
        'On the source: `*` or quoted ETags, compared strongly: 412 unless one is its current ETag. A value that is ' +
        'neither is a 400.',
      'If-Unmodified-Since': 'On the source: an HTTP date; 412 if it was modified after it. Ignored with `If-Match`.',
    }),
    ApiKeyAuth(),
    ApiErrors([400, 404, 409, 412, 413, 415, ...STORAGE_ERRORS]),
  );

export const ApiRemoveMany = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Delete up to 1000 files in one call (S3 DeleteObjects)',
      description:
        'Every key is checked first: one bad, repeated or empty list is a 400 and nothing is deleted. Then one ' +
        'DeleteObjects call; the answer is 200 with a result per key, in the order given (a missing key counts as ' +
        'deleted, as with `DELETE /files/{key}`). Keys S3 refused have `deleted: false` and an `error`. The body is ' +
        'at most 4 MiB.',
    }),
    ApiResponse({ status: 200, description: 'A result per key.', type: DeletedFiles }),
    ApiKeyAuth(),
    ApiErrors([400, 413, 415, ...STORAGE_ERRORS]),
  );

export const ApiCopy = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Copy a file to another key, inside S3 (CopyObject; multipart above 5 GiB)',
      description:
        'Content-Type and metadata are kept. `overwrite: false` refuses to replace an existing target (409); ' +
        '`If-Match` applies to the source (412).',
    }),
    ApiCopyOrMove(),
    ApiResponse({ status: 201, description: 'Copied.', type: StoredFile, headers: LOCATION }),
  );

export const ApiMove = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Move a file to another key: a copy, then a delete of the source',
      description:
        'As copy; then the source is deleted only if it is still the object copied. If that delete fails, the answer ' +
        'is still 201 with `sourceDeleted: false` and `sourceError`: both objects exist, nothing is lost.',
    }),
    ApiCopyOrMove(),
    ApiResponse({
      status: 201,
      description: 'Copied; `sourceDeleted` says if the source is gone.',
      type: MovedFile,
      headers: LOCATION,
    }),
  );
