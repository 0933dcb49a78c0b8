import { applyDecorators } from '@nestjs/common';
import type { HeaderObject, SchemaObject } from '@nestjs/swagger';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiResponse,
} from '../openapi/swagger-decorators.js';
import { ApiKeyAuth, type ErrorStatus, STORAGE_ERRORS } from '../openapi/api-responses.js';
import { FLAG_VALUES } from '../http/download-options.js';
import { DeletedFiles, MovedFile } from './batch-files.dto.js';
import { FileList, StoredFile } from './file.dto.js';

const string = { type: 'string' } as const;

const header = (description: string, required = true, pattern?: string): HeaderObject => ({
  description,
  required,
  schema: pattern ? { ...string, pattern } : string,
});

/** A write's answer: the stored object's ETag (the JSON's `etag`), for a later `If-Match`. */
const STORED_ETAG = { ETag: header("The stored object's ETag, quoted (absent if S3 gave none).", false, '^".*"$') };
const LOCATION = {
  Location: header('The path of the new object, `/files/{key}`.', true, '^/files/'),
  ...STORED_ETAG,
};

/** The headers of an object (GET, HEAD); 206 adds `Content-Range`. */
const OBJECT_HEADERS = {
  'Content-Type': header('The `Content-Type` stored with the object.'),
  'Content-Length': header('Bytes in this response: the object, or the range.', true, '^\\d+$'),
  ETag: header('The ETag, quoted.', true, '^(W/)?".*"$'),
  'Last-Modified': header('When the object was last written (HTTP date).'),
  'Accept-Ranges': header('Always `bytes`.', true, '^bytes$'),
  'Content-Disposition': header(
    '`inline` for images, audio, video, PDF, plain text and JSON; `attachment` for anything else or with `download=1`. ' +
      'The file name is the one stored at upload, else the last segment of the key.',
    true,
    '^(inline|attachment)',
  ),
  'Content-Security-Policy': header("`default-src 'none'; sandbox`: stored files are never active content."),
  'Cache-Control': header(
    'The `Cache-Control` stored with the object (from its upload, or `DEFAULT_CACHE_CONTROL`); absent when none.',
    false,
  ),
  'X-Content-Type-Options': header('`nosniff`.', true, '^nosniff$'),
};
const RANGE_HEADERS = {
  ...OBJECT_HEADERS,
  'Content-Range': header('The bytes sent, e.g. `bytes 0-99/1000`.', true, '^bytes \\d+-\\d+/\\d+$'),
};

const METADATA_NOTE =
  'User metadata stored with the object comes back as `X-Meta-<name>` headers (names in lower case), one per entry.';

/** Optional request headers, in this order: name to description. */
const optionalHeaders = (headers: Record<string, string>) =>
  applyDecorators(
    ...Object.entries(headers).map(([name, description]) => ApiHeader({ name, required: false, description })),
  );

const BINARY = { '*/*': { schema: { type: 'string', format: 'binary' } } } as const;

const ApiFileKey = () =>
  ApiParam({
    name: 'key',
    description:
      'The object key, percent-encoded as one path segment: `/` as `%2F` (`photos%2F2026%2Fa%20b.jpg`), which is ' +
      'what generated clients send. The service also accepts the key with `/` unencoded ' +
      '(`/files/photos/2026/a%20b.jpg`), which OpenAPI cannot describe. Decoded once; must not be empty or contain ' +
      'empty, `.` or `..` segments, control characters or backslashes; at most 1024 UTF-8 bytes with `S3_PREFIX`.',
    // The value, not its encoding: clients and Swagger UI encode it (to `photos%2F2026%2Fa%20b.jpg`).
    schema: { ...string, minLength: 1, example: 'photos/2026/a b.jpg' },
  });

const optionalQuery = (name: string, schema: SchemaObject, description: string) =>
  ApiQuery({ name, required: false, schema, description });

const flag = (name: string, description: string) =>
  optionalQuery(
    name,
    { type: 'string', enum: [...FLAG_VALUES] },
    `${description} \`1\` or \`true\` for yes, \`0\` or \`false\` for no; any other value is a 400.`,
  );

/** What GET and HEAD share: the key, conditional and range headers, 304, and errors (HEAD's carry no body). */
const ApiRead = (options: { body?: boolean } = {}) =>
  applyDecorators(
    ApiFileKey(),
    optionalHeaders({
      Range: 'One byte range: `bytes=0-99`, `bytes=100-` or `bytes=-100`; others are ignored.',
      'If-None-Match': 'ETags (or `*`): 304 when one matches.',
      'If-Modified-Since': 'An HTTP date: 304 when the object has not changed since. Ignored with `If-None-Match`.',
      'If-Range':
        'With `Range`: a strong ETag, or the `Last-Modified` date exactly. When it is not the current one (a weak ETag ' +
        'never is), the `Range` is ignored: 200 with the whole object.',
    }),
    flag('download', '`Content-Disposition: attachment` whatever the type.'),
    flag(
      'redirect',
      'GET answers 302 to a presigned S3 URL (yes) or streams the object (no); default: `DOWNLOAD_MODE`. HEAD is ' +
        'always answered by the service.',
    ),
    ApiResponse({
      status: 304,
      description: 'Not modified (a conditional header matched).',
      headers: { ETag: header('The ETag that matched.', false) },
    }),
    ApiKeyAuth([400, 404, 416, ...STORAGE_ERRORS], options),
  );

/** Writes and deletes: If-Match and If-Unmodified-Since (RFC 9110 13.1.1, 13.1.4), the API key, the errors. */
const ApiWrite = (errors: ErrorStatus[]) =>
  applyDecorators(
    optionalHeaders({
      'If-Match':
        '`*` (an object must exist) or quoted ETags, compared strongly: 412 unless one is the current ETag. A value ' +
        'that is neither is a 400.',
      'If-Unmodified-Since':
        'An HTTP date: 412 if the object was modified after it. Ignored with `If-Match` or when invalid.',
    }),
    ApiKeyAuth([...errors, ...STORAGE_ERRORS]),
  );

export const ApiUploadMultipart = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Upload a file (multipart/form-data), streamed to S3',
      description:
        'Give the key in the query, `POST /files?key=photos%2F2026%2Fa.jpg`, as the examples do. The form fields ' +
        '`key` and `overwrite` work too, but only before the `file` part: the file is streamed to S3 as it arrives, ' +
        'so a field after it is a 400. Generated clients write form fields in the order of the body object. ' +
        'Object parameters come as form fields before the file part: `cacheControl`, `fileName` (the download name) ' +
        'and `x-meta-<name>` (user metadata: at most 10, names a-z 0-9 -, values printable ASCII, 1024 bytes in all). ' +
        '`X-Meta-*` request headers are refused here. ' +
        'With an API key, or with an upload-session token (`Authorization: Bearer <token>`, e.g. from ' +
        "`@uppy/xhr-upload`): then the key must be in the session's scope (default `<keyPrefix><uuid>/<file name>`), " +
        'the file at most its `maxBytes` (413) and of one of its `contentTypes` (415).',
    }),
    ApiConsumes('multipart/form-data'),
    ApiBody({
      schema: {
        type: 'object',
        required: ['file'],
        properties: {
          key: { ...string, description: 'The key, as in the query; only before `file`.' },
          overwrite: { type: 'boolean', description: '`false`: 409 if the key exists; only before `file`.' },
          cacheControl: {
            ...string,
            maxLength: 512,
            description: 'Stored `Cache-Control` (RFC 9111 directives). Only before `file`.',
          },
          fileName: {
            ...string,
            minLength: 1,
            maxLength: 255,
            description: 'The name downloads are offered under (UTF-8). Only before `file`.',
          },
          file: { type: 'string', format: 'binary', description: 'The file, exactly one part.' },
        },
      },
    }),
    optionalQuery(
      'key',
      { ...string, example: 'photos/2026/a.jpg' },
      'The key (the recommended form); default `<uuid>/<sanitised file name>`.',
    ),
    optionalQuery('overwrite', { type: 'boolean' }, '`false`: 409 if the key exists.'),
    ApiWrite([400, 409, 412, 413, 415]),
    ApiResponse({ status: 201, description: 'Stored.', type: StoredFile, headers: LOCATION }),
  );

export const ApiUploadRaw = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Upload a file as the raw body, streamed to S3 with its Content-Type',
      description:
        'The `Content-Type` is stored and served back: one media type such as `image/png`, or none for ' +
        '`application/octet-stream`. A wildcard (`*/*`, `image/*`), a list or an unparsable value is a 400. ' +
        'User metadata: `X-Meta-<name>: <value>` headers, stored and served back on GET and HEAD (at most 10; names ' +
        'a-z, 0-9 and -; values printable US-ASCII, not empty; 1024 bytes of names and values in all; each sent once).',
    }),
    ApiFileKey(),
    // Object parameters; `X-Meta-*` headers are documented in the description.
    optionalHeaders({
      'Cache-Control':
        'Stored with the object and served back on GET and HEAD: RFC 9111 directives, printable ASCII, at most 512 ' +
        'characters (default `DEFAULT_CACHE_CONTROL`).',
      'Content-Disposition':
        "`attachment` or `inline` with a `filename` (UTF-8 as `filename*=UTF-8''…`): the name downloads are offered " +
        'under, cleaned like an uploaded file name.',
      'If-None-Match': '`*`: 412 instead of replacing an existing object.',
    }),
    // In this order: generated clients send the first one.
    ApiConsumes('application/octet-stream', '*/*'),
    ApiBody({ schema: { type: 'string', format: 'binary' } }),
    ApiWrite([400, 412, 413]),
    ApiResponse({ status: 201, description: 'Created.', type: StoredFile, headers: LOCATION }),
    ApiResponse({ status: 200, description: 'Replaced an existing object.', type: StoredFile, headers: STORED_ETAG }),
  );

export const ApiList = () =>
  applyDecorators(
    ApiOperation({ summary: 'List keys, a page at a time' }),
    ApiResponse({ status: 200, description: 'One page.', type: FileList }),
    ApiKeyAuth([400, ...STORAGE_ERRORS]),
  );

export const ApiDownload = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Download a file (streamed, or by redirect to S3), or one byte range of it',
      description:
        'With `redirect=1` (or `DOWNLOAD_MODE=redirect`) the answer is a 302 to a presigned S3 URL valid for 5 ' +
        'minutes, after a HEAD: a missing key is still a 404, a matching `If-None-Match` / `If-Modified-Since` a 304, ' +
        'an unsatisfiable range a 416. The client re-sends `Range` to S3; S3 answers with the type and disposition ' +
        'chosen here (active content as an `application/octet-stream` attachment). `Range` with `If-Range` is ' +
        "always streamed (`If-Range` is not in S3's documented API). Clients must not send the `Authorization` header on to S3. " +
        METADATA_NOTE,
    }),
    ApiRead(),
    ApiResponse({
      status: 302,
      description: 'Found: fetch the object from the presigned S3 URL in `Location` (with `redirect=1`).',
      headers: {
        Location: header('A presigned S3 GET URL.', true, '^https?://'),
        'Cache-Control': header('`no-store`: every redirect carries a fresh signature.', true, '^no-store$'),
      },
    }),
    ApiResponse({ status: 200, description: 'The object.', content: BINARY, headers: OBJECT_HEADERS }),
    ApiResponse({ status: 206, description: 'One range of the object.', content: BINARY, headers: RANGE_HEADERS }),
  );

export const ApiHead = () =>
  applyDecorators(
    ApiOperation({ summary: 'The headers of a download, without the body', description: METADATA_NOTE }),
    ApiRead({ body: false }),
    ApiResponse({ status: 200, description: 'The object exists.', headers: OBJECT_HEADERS }),
    ApiResponse({ status: 206, description: 'The range is satisfiable.', headers: RANGE_HEADERS }),
  );

export const ApiRemove = () =>
  applyDecorators(
    ApiOperation({ summary: 'Delete a file (idempotent)' }),
    ApiFileKey(),
    ApiWrite([400, 412]),
    ApiResponse({ status: 204, description: 'Deleted, or there was no such object.' }),
  );

/** What copy and move share: the source key, its preconditions, the errors, a 201 with `Location`. */
const ApiCopyOrMove = (summary: string, description: string, created: string, type: typeof StoredFile) =>
  applyDecorators(
    ApiOperation({ summary, description }),
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
    ApiKeyAuth([400, 404, 409, 412, 413, 415, ...STORAGE_ERRORS]),
    ApiResponse({ status: 201, description: created, type, headers: LOCATION }),
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
    ApiKeyAuth([400, 413, 415, ...STORAGE_ERRORS]),
  );

export const ApiCopy = () =>
  ApiCopyOrMove(
    'Copy a file to another key, inside S3 (CopyObject; multipart above 5 GiB)',
    'Content-Type and metadata are kept. `overwrite: false` refuses to replace an existing target (409); ' +
      '`If-Match` applies to the source (412).',
    'Copied.',
    StoredFile,
  );

export const ApiMove = () =>
  ApiCopyOrMove(
    'Move a file to another key: a copy, then a delete of the source',
    'As copy; then the source is deleted only if it is still the object copied. If that delete fails, the answer ' +
      'is still 201 with `sourceDeleted: false` and `sourceError`: both objects exist, nothing is lost.',
    'Copied; `sourceDeleted` says if the source is gone.',
    MovedFile,
  );
