import { applyDecorators } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiExtraModels,
  ApiHeader,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiResponse,
  ApiTags,
  type HeaderObject,
} from '@nestjs/swagger';
import { ApiErrors, ApiKeyAuth, STORAGE_ERRORS } from '../openapi/api-responses.js';
import { FileList, StoredFile } from './file.dto.js';

const string = { type: 'string' } as const;

const header = (description: string, required = true, pattern?: string): HeaderObject => ({
  description,
  required,
  schema: pattern ? { ...string, pattern } : string,
});

const LOCATION = { Location: header('The path of the new object, `/files/{key}`.', true, '^/files/') };
const ETAG = header('The ETag, quoted.', true, '^(W/)?".*"$');

/** The headers of an object (GET, HEAD); 206 adds `Content-Range`. */
const OBJECT_HEADERS = {
  'Content-Type': header('The `Content-Type` stored with the object.'),
  'Content-Length': header('Bytes in this response: the object, or the range.', true, '^\\d+$'),
  ETag: ETAG,
  'Last-Modified': header('When the object was last written (HTTP date).'),
  'Accept-Ranges': header('Always `bytes`.', true, '^bytes$'),
  'Content-Disposition': header(
    '`inline` for images, audio, video, PDF, plain text and JSON; `attachment` for anything else or with `download=1`.',
    true,
    '^(inline|attachment)',
  ),
  'Content-Security-Policy': header("`default-src 'none'; sandbox`: stored files are never active content."),
  'X-Content-Type-Options': header('`nosniff`.', true, '^nosniff$'),
};
const CONTENT_RANGE = {
  'Content-Range': header('The bytes sent, e.g. `bytes 0-99/1000`.', true, '^bytes \\d+-\\d+/\\d+$'),
};

const BINARY = { '*/*': { schema: { type: 'string', format: 'binary' } } } as const;

/** The object key in a path: URL-encoded per segment, `/` kept (or as `%2F`). */
const ApiFileKey = () =>
  ApiParam({
    name: 'key',
    description:
      'The object key, URL-encoded per segment (`photos/2026/a%20b.jpg`; `%2F` also stands for `/`). Decoded once; ' +
      'must not be empty or contain empty, `.` or `..` segments, control characters or backslashes; at most 1024 ' +
      'UTF-8 bytes with `S3_PREFIX`.',
    schema: { ...string, minLength: 1 },
    example: 'photos/2026/a%20b.jpg',
  });

/** The conditional and range headers of GET and HEAD. */
const ApiReadHeaders = () =>
  applyDecorators(
    ApiHeader({
      name: 'Range',
      required: false,
      description: 'One byte range: `bytes=0-99`, `bytes=100-` or `bytes=-100`; others are ignored.',
    }),
    ApiHeader({ name: 'If-None-Match', required: false, description: 'ETags (or `*`): 304 when one matches.' }),
    ApiHeader({
      name: 'If-Modified-Since',
      required: false,
      description: 'An HTTP date: 304 when the object has not changed since. Ignored with `If-None-Match`.',
    }),
    ApiHeader({
      name: 'If-Range',
      required: false,
      description:
        'With `Range`: a strong ETag, or the `Last-Modified` date exactly. When it is not the current one (a weak ETag ' +
        'never is), the `Range` is ignored: 200 with the whole object.',
    }),
    ApiQuery({
      name: 'download',
      required: false,
      schema: { type: 'boolean' },
      description: '`1` or `true`: `Content-Disposition: attachment`.',
    }),
  );

/** If-Match and If-Unmodified-Since on writes and deletes (RFC 9110 13.1.1, 13.1.4): 412 when they do not hold. */
const ApiPreconditions = () =>
  applyDecorators(
    ApiHeader({
      name: 'If-Match',
      required: false,
      description:
        '`*` (an object must exist) or quoted ETags, compared strongly: 412 unless one is the current ETag. A value ' +
        'that is neither is a 400.',
    }),
    ApiHeader({
      name: 'If-Unmodified-Since',
      required: false,
      description: 'An HTTP date: 412 if the object was modified after it. Ignored with `If-Match` or when invalid.',
    }),
  );

const ApiNotModified = () =>
  ApiResponse({
    status: 304,
    description: 'Not modified (a conditional header matched).',
    headers: { ETag: header('The ETag that matched.', false) },
  });

export const ApiFilesTags = () => applyDecorators(ApiTags('files'), ApiExtraModels(StoredFile));

export const ApiUploadMultipart = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Upload a file (multipart/form-data), streamed to S3',
      description:
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
          key: { ...string, description: 'The key; default `<uuid>/<sanitised file name>`. Put it before `file`.' },
          overwrite: { type: 'boolean', description: '`false`: 409 if the key exists. Put it before `file`.' },
          file: { type: 'string', format: 'binary', description: 'The file, exactly one part.' },
        },
      },
    }),
    ApiQuery({ name: 'key', required: false, schema: string, description: 'The key, if not given as a form field.' }),
    ApiQuery({
      name: 'overwrite',
      required: false,
      schema: { type: 'boolean' },
      description: '`false`: 409 if the key exists.',
    }),
    ApiPreconditions(),
    ApiResponse({ status: 201, description: 'Stored.', type: StoredFile, headers: LOCATION }),
    ApiKeyAuth({ writes: true }),
    ApiErrors([400, 409, 412, 413, 415, ...STORAGE_ERRORS]),
  );

export const ApiUploadRaw = () =>
  applyDecorators(
    ApiOperation({ summary: 'Upload a file as the raw body, streamed to S3 with its Content-Type' }),
    ApiFileKey(),
    ApiConsumes('application/octet-stream', '*/*'),
    ApiBody({ schema: { type: 'string', format: 'binary' } }),
    ApiHeader({
      name: 'If-None-Match',
      required: false,
      description: '`*`: 412 instead of replacing an existing object.',
    }),
    ApiPreconditions(),
    ApiResponse({ status: 201, description: 'Created.', type: StoredFile, headers: LOCATION }),
    ApiResponse({ status: 200, description: 'Replaced an existing object.', type: StoredFile }),
    ApiKeyAuth({ writes: true }),
    ApiErrors([400, 412, 413, ...STORAGE_ERRORS]),
  );

export const ApiList = () =>
  applyDecorators(
    ApiOperation({ summary: 'List keys, a page at a time' }),
    ApiResponse({ status: 200, description: 'One page.', type: FileList }),
    ApiKeyAuth({ writes: false }),
    ApiErrors([400, ...STORAGE_ERRORS]),
  );

export const ApiDownload = () =>
  applyDecorators(
    ApiOperation({ summary: 'Download a file (streamed), or one byte range of it' }),
    ApiFileKey(),
    ApiReadHeaders(),
    ApiResponse({ status: 200, description: 'The object.', content: BINARY, headers: OBJECT_HEADERS }),
    ApiResponse({
      status: 206,
      description: 'One range of the object.',
      content: BINARY,
      headers: { ...OBJECT_HEADERS, ...CONTENT_RANGE },
    }),
    ApiNotModified(),
    ApiKeyAuth({ writes: false }),
    ApiErrors([400, 404, 416, ...STORAGE_ERRORS]),
  );

export const ApiHead = () =>
  applyDecorators(
    ApiOperation({ summary: 'The headers of a download, without the body' }),
    ApiFileKey(),
    ApiReadHeaders(),
    ApiResponse({ status: 200, description: 'The object exists.', headers: OBJECT_HEADERS }),
    ApiResponse({
      status: 206,
      description: 'The range is satisfiable.',
      headers: { ...OBJECT_HEADERS, ...CONTENT_RANGE },
    }),
    ApiNotModified(),
    ApiKeyAuth({ writes: false, body: false }),
    ApiErrors([400, 404, 416, ...STORAGE_ERRORS], { body: false }),
  );

export const ApiRemove = () =>
  applyDecorators(
    ApiOperation({ summary: 'Delete a file (idempotent)' }),
    ApiFileKey(),
    ApiPreconditions(),
    ApiResponse({ status: 204, description: 'Deleted, or there was no such object.' }),
    ApiKeyAuth({ writes: true }),
    ApiErrors([400, 412, ...STORAGE_ERRORS]),
  );
