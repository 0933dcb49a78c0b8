import { applyDecorators } from '@nestjs/common';
import { ApiOperation, ApiResponse } from '../openapi/swagger-decorators.js';
import { ApiKeyAuth } from '../openapi/api-responses.js';
import { SignedUrl } from './signed-url.dto.js';

export const ApiCreateSignedUrl = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Sign a URL for a transfer straight between the client and S3',
      description:
        'An upload is a presigned PUT, or a POST form (policy) with `maxBytes` or where the S3 backend applies ' +
        'headers a presigned PUT does not sign: follow `method`. Until the service knows which (S3 unreachable ' +
        'since boot), an upload without `maxBytes` answers 503 with `Retry-After`.',
    }),
    ApiResponse({ status: 201, description: 'The request to make to S3, and until when it works.', type: SignedUrl }),
    ApiKeyAuth([400, 413, 415, 502, 503, 504]),
  );
