import { BadRequestException, Body, Controller, ForbiddenException, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { create as contentDisposition } from 'content-disposition';
import { AppConfig } from '../config/app-config.js';
import { KeyPipe } from '../files/file-key.js';
import { parseMediaType } from '../files/media-type.js';
import { Access, AllowReadOnly, type AccessLevel } from '../security/access.decorators.js';
import type { SignedRequest } from '../storage/signed-request.js';
import { StorageService } from '../storage/storage.service.js';
import { CreateSignedUrlDto } from './create-signed-url.dto.js';
import { ApiCreateSignedUrl } from './signed-urls.openapi.js';
import type { SignedUrl } from './signed-url.dto.js';

/** S3 accepts at most 5 GiB in one PUT or POST. */
const MAX_SINGLE_UPLOAD_BYTES = 5 * 1024 ** 3;

@ApiTags('signed-urls')
@Controller('signed-urls')
export class SignedUrlsController {
  private readonly maxUploadBytes: number;

  constructor(
    private readonly storage: StorageService,
    private readonly config: AppConfig,
    private readonly keys: KeyPipe,
  ) {
    this.maxUploadBytes = Math.min(config.uploads.maxBytes, MAX_SINGLE_UPLOAD_BYTES);
  }

  // Documented by ApiCreateSignedUrl only: a doc comment here would be a second summary, which `nest build` (compiler
  // plugin) and the loaded plugin metadata (Jest) resolve differently.
  @Post()
  @AllowReadOnly()
  @ApiCreateSignedUrl()
  async createSignedUrl(@Body() body: CreateSignedUrlDto, @Access() access: AccessLevel): Promise<SignedUrl> {
    if (body.operation === 'upload' && access !== 'read-write') {
      throw new ForbiddenException('this API key is read-only: it may sign downloads only');
    }
    this.keys.transform(body.key);
    const expiresIn = body.expiresIn ?? this.config.signedUrlTtlSeconds;
    return body.operation === 'download' ? this.signDownload(body, expiresIn) : this.signUpload(body, expiresIn);
  }

  private signDownload(body: CreateSignedUrlDto, expiresIn: number): Promise<SignedRequest> {
    if (body.contentType !== undefined || body.maxBytes !== undefined) {
      throw new BadRequestException('contentType and maxBytes only apply to uploads');
    }
    return this.storage.signDownload({
      key: body.key,
      expiresIn,
      contentDisposition:
        body.fileName === undefined ? undefined : contentDisposition(body.fileName, { type: 'attachment' }),
    });
  }

  private signUpload(body: CreateSignedUrlDto, expiresIn: number): Promise<SignedRequest> {
    if (body.fileName !== undefined) {
      throw new BadRequestException('fileName only applies to downloads');
    }
    if (body.maxBytes !== undefined && body.maxBytes > this.maxUploadBytes) {
      throw new BadRequestException(`maxBytes must not be greater than ${this.maxUploadBytes}`);
    }
    const contentType = parseMediaType(body.contentType ?? 'application/octet-stream');
    if (typeof contentType === 'string') {
      throw new BadRequestException(`contentType ${contentType}`);
    }
    return this.storage.signUpload({
      key: body.key,
      expiresIn,
      contentType: contentType.value,
      maxBytes: body.maxBytes,
    });
  }
}
