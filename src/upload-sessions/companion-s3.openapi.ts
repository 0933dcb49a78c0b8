import { applyDecorators } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiResponse,
  ApiSecurity,
} from '../openapi/swagger-decorators.js';
import { ApiErrors, STORAGE_ERRORS } from '../openapi/api-responses.js';
import { CompletedUpload, ListedPart, PostPolicy, SignedPart, StartedMultipart } from './companion-s3.dto.js';

const SESSION_URL =
  'Under a session URL (`url` of `POST /upload-sessions`), for `@uppy/aws-s3` with `companionEndpoint` set to it. ' +
  'The token in the path is the credential: 401 when it is forged or expired, 403 for a key or upload outside ' +
  'the session.';

const token = ApiParam({ name: 'token', description: 'The upload-session token.' });
const uploadId = ApiParam({ name: 'uploadId', description: 'As returned by `POST …/s3/multipart`.' });
const key = ApiQuery({ name: 'key', required: true, description: 'As returned by `POST …/s3/multipart`.' });

const route = (summary: string, description: string, ...rest: MethodDecorator[]) =>
  applyDecorators(
    ApiOperation({ summary, description: `${description} ${SESSION_URL}` }),
    // No API key: the token in the path is the credential.
    ApiSecurity({}),
    token,
    ...rest,
  );

export const ApiParams = () =>
  route(
    'Sign a POST policy for one form upload straight to S3 (Companion)',
    'The service picks the key in the session scope from `filename`; S3 refuses a file over the session `maxBytes`.',
    ApiQuery({ name: 'filename', required: false }),
    ApiQuery({ name: 'type', required: false, description: 'The file media type (checked against the session).' }),
    ApiResponse({ status: 200, description: 'The form to POST to S3.', type: PostPolicy }),
    ApiErrors([400, 401, 403, 415, ...STORAGE_ERRORS]),
  );

export const ApiCreateMultipart = () =>
  route(
    'Start a multipart upload straight to S3 (Companion)',
    'The service picks the key in the session scope from `filename`.',
    ApiResponse({ status: 200, description: 'The upload.', type: StartedMultipart }),
    ApiErrors([400, 401, 403, 413, 415, ...STORAGE_ERRORS]),
  );

const partNumber = ApiParam({ name: 'partNumber', description: '1 to 10000, and at most `ceil(maxBytes / 5 MiB)`.' });

export const ApiSignPart = () =>
  route(
    'The URL to PUT one part to (Companion)',
    "The service's own part route (below), which streams the part to S3; where the backend refuses unsigned " +
      'headers on presigned requests (AWS), a presigned UploadPart straight to S3 instead, signed only while the ' +
      'other parts hold less than `maxBytes` (413). Part numbers go up to what the session `maxBytes` allows in ' +
      'parts of 5 MiB or more; 404 when the upload was aborted or completed.',
    uploadId,
    partNumber,
    key,
    ApiResponse({ status: 200, description: 'The URL to PUT the part to.', type: SignedPart }),
    ApiErrors([400, 401, 403, 404, 413, ...STORAGE_ERRORS]),
  );

export const ApiUploadPart = () =>
  route(
    'Upload one part through the service (Companion part URL)',
    "The part's bytes, streamed to S3's UploadPart with only the service's own headers: any other header or query " +
      'parameter (`x-amz-copy-source`, `x-amz-acl`...) is ignored. Needs a `Content-Length` (411) of at most the ' +
      'session `maxBytes` and 5 GiB, and room under `maxBytes` beside the parts S3 already holds (413). Answers the ' +
      "part's `ETag`, as S3 would, for the completion.",
    uploadId,
    partNumber,
    key,
    ApiConsumes('application/octet-stream', '*/*'),
    ApiBody({ schema: { type: 'string', format: 'binary' } }),
    ApiHeader({ name: 'Content-Length', required: true, description: "The part's size in bytes." }),
    ApiResponse({
      status: 200,
      description: 'Stored.',
      headers: { ETag: { description: "The part's ETag (quoted).", schema: { type: 'string' } } },
    }),
    ApiErrors([400, 401, 403, 404, 411, 413, ...STORAGE_ERRORS]),
  );

export const ApiListParts = () =>
  route(
    'List the parts S3 holds (Companion, when resuming)',
    'A bare array.',
    uploadId,
    key,
    ApiResponse({ status: 200, description: 'The parts.', type: [ListedPart] }),
    ApiErrors([400, 401, 403, 404, ...STORAGE_ERRORS]),
  );

export const ApiComplete = () =>
  route(
    'Complete a multipart upload (Companion)',
    'Every part must be one S3 holds with that ETag (quoted or not), in ascending order, at most the session ' +
      '`maxBytes` in all. A session that may not replace objects gets a 409 when the key exists. A refused ' +
      'completion aborts the upload.',
    uploadId,
    key,
    ApiResponse({ status: 200, description: 'The stored object.', type: CompletedUpload }),
    ApiErrors([400, 401, 403, 404, 409, 413, 415, ...STORAGE_ERRORS]),
  );

export const ApiAbortMultipart = () =>
  route(
    'Abort a multipart upload and free its parts (Companion)',
    'Idempotent: an upload already gone is not an error.',
    uploadId,
    key,
    ApiResponse({ status: 204, description: 'Aborted.' }),
    ApiErrors([400, 401, 403, ...STORAGE_ERRORS]),
  );
