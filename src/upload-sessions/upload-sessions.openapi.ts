import { applyDecorators } from '@nestjs/common';
import { ApiOperation, ApiResponse } from '../openapi/swagger-decorators.js';
import { ApiErrors, ApiKeyAuth } from '../openapi/api-responses.js';
import { UploadSessionDto } from './upload-session.dto.js';

export const ApiCreateUploadSession = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Start an upload session: a scoped, expiring token a browser uploads with instead of an API key',
      description:
        'Called by your backend with a read-write API key. The token is stateless (signed with ' +
        '`SIGNING_SECRET`), so every instance accepts it until it expires; it only authorises uploads within ' +
        'its scope: `POST /files` and tus with `Authorization: Bearer <token>`, and the Uppy Companion S3 routes ' +
        'under `url`. Never reads, deletes or listings.',
    }),
    ApiResponse({ status: 201, description: 'The session.', type: UploadSessionDto }),
    ApiKeyAuth(),
    ApiErrors([400, 413, 415]),
  );
