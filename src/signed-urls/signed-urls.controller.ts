import { BadRequestException, Body, Controller, ForbiddenException, Post } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '../openapi/swagger-decorators.js';
import { ApiKeyAuth } from '../openapi/api-responses.js';
import { create as contentDisposition } from 'content-disposition';
import { AppConfig } from '../config/app-config.js';
import { MAX_SINGLE_UPLOAD_BYTES } from '../config/s3-options.js';
import { KeyPipe } from '../http/file-key.js';
import { signedDownloadType } from '../http/download-redirect.js';
import { isActive, parseMediaType } from '../http/media-type.js';
import { cacheControl, storedDisposition, storedFileName, userMetadata } from '../http/object-parameters.js';
import { downloadName, withoutFormatCharacters } from '../http/upload-name.js';
import { Access, AllowReadOnly, type AccessLevel } from '../security/access.decorators.js';
import { StorageError } from '../storage/storage.errors.js';
import { StorageService } from '../storage/storage.service.js';
import { CreateSignedUrlDto } from './create-signed-url.dto.js';
import { SignedUrl } from './signed-url.dto.js';

@ApiTags('signed-urls')
@Controller('signed-urls')
export class SignedUrlsController {
  constructor(
    private readonly storage: StorageService,
    private readonly config: AppConfig,
    private readonly keys: KeyPipe,
  ) {}

  @Post()
  @AllowReadOnly()
  @ApiOperation({
    summary: 'Sign a URL for a transfer straight between the client and S3',
    description:
      'An upload is a presigned PUT, or a POST form (policy) with `maxBytes` or where the S3 backend applies ' +
      'headers a presigned PUT does not sign: follow `method`. Until the service knows which (S3 unreachable ' +
      'since boot), an upload without `maxBytes` answers 503 with `Retry-After`.',
  })
  @ApiResponse({ status: 201, description: 'The request to make to S3, and until when it works.', type: SignedUrl })
  @ApiKeyAuth([400, 413, 415, 502, 503, 504])
  async createSignedUrl(@Body() body: CreateSignedUrlDto, @Access() access: AccessLevel): Promise<SignedUrl> {
    if (body.operation === 'upload' && access !== 'read-write') {
      throw new ForbiddenException('this API key is read-only: it may sign downloads only');
    }
    this.keys.transform(body.key);
    const expiresIn = body.expiresIn ?? this.config.signedUrlTtlSeconds;
    return body.operation === 'download' ? this.signDownload(body, expiresIn) : this.signUpload(body, expiresIn);
  }

  // S3 serves a signed GET without `nosniff`: the URL pins the type and disposition `GET /files/{key}` would choose now
  // (a later overwrite with HTML keeps the type); active content or no object: octet-stream.
  private async signDownload(body: CreateSignedUrlDto, expiresIn: number) {
    if ([body.contentType, body.maxBytes, body.cacheControl, body.metadata].some((value) => value !== undefined)) {
      throw new BadRequestException('contentType, maxBytes, cacheControl and metadata only apply to uploads');
    }
    const object = await this.storage.head(body.key).catch((error: unknown) => {
      if (error instanceof StorageError && error.code === 'NotFound') {
        return undefined;
      }
      throw error;
    });
    const { contentType: type, inline } = signedDownloadType(
      object?.contentType ?? 'application/octet-stream',
      body.fileName !== undefined,
    );
    const storedName = storedFileName(object?.contentDisposition);
    const fileName = withoutFormatCharacters(body.fileName ?? '') || storedName || downloadName(body.key);
    // S3 would answer with the stored disposition (an attachment): an inline type with a stored name says inline.
    const disposition = inline ? (storedName ? 'inline' : undefined) : 'attachment';
    return this.storage.signDownload({
      key: body.key,
      expiresIn,
      contentType: type,
      contentDisposition: disposition && contentDisposition(fileName, { type: disposition }),
    });
  }

  private signUpload(body: CreateSignedUrlDto, expiresIn: number) {
    const limit = Math.min(this.config.uploads.maxBytes, MAX_SINGLE_UPLOAD_BYTES);
    if (body.maxBytes !== undefined && body.maxBytes > limit) {
      throw new BadRequestException(`maxBytes must not be greater than ${limit}`);
    }
    const contentType = parseMediaType(body.contentType ?? 'application/octet-stream');
    if (typeof contentType === 'string') {
      throw new BadRequestException(`contentType ${contentType}`);
    }
    if (isActive(contentType.value) && !this.config.signedUploadActiveContent) {
      // S3 would serve it from its own origin to anyone holding a signed GET made elsewhere (another tool, the console).
      throw new BadRequestException(
        `contentType ${contentType.essence} is active content (HTML, SVG, XML, JavaScript...): signed uploads may not ` +
          'declare it unless SIGNED_UPLOAD_ACTIVE_CONTENT=true',
      );
    }
    return this.storage.signUpload({
      key: body.key,
      expiresIn,
      contentType: contentType.value,
      maxBytes: body.maxBytes,
      limit,
      parameters: {
        cacheControl: cacheControl(body.cacheControl, 'cacheControl'),
        contentDisposition: body.fileName === undefined ? undefined : storedDisposition(body.fileName),
        metadata: body.metadata === undefined ? undefined : signedMetadata(body.metadata),
      },
    });
  }
}

/** The `metadata` of a signing request: string values only, then the same rules as `X-Meta-*` headers. */
function signedMetadata(metadata: Record<string, unknown>): Record<string, string> | undefined {
  const entries = Object.entries(metadata);
  if (entries.some(([, value]) => typeof value !== 'string')) {
    throw new BadRequestException('metadata values must be strings');
  }
  return userMetadata(
    entries.map(([name, value]) => [name.toLowerCase(), value as string]),
    'metadata.',
  );
}
