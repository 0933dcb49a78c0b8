import { BadRequestException, Body, Controller, Post, Req } from '@nestjs/common';
import { ApiTags } from '../openapi/swagger-decorators.js';
import type { Request } from 'express';
import { AppConfig } from '../config/app-config.js';
import { asFolder } from '../config/list.js';
import { keyProblem } from '../http/file-key.js';
import { CreateUploadSessionDto, DEFAULT_SESSION_SECONDS } from './create-upload-session.dto.js';
import type { UploadSessionDto } from './upload-session.dto.js';
import { ApiCreateUploadSession } from './upload-sessions.openapi.js';
import { UploadSessions } from '../security/upload-sessions.service.js';

@ApiTags('upload-sessions')
@Controller('upload-sessions')
export class UploadSessionsController {
  constructor(
    private readonly sessions: UploadSessions,
    private readonly config: AppConfig,
  ) {}

  // A read-write API key only: the global guard answers 403 to a read-only key and to an upload-session token.
  @Post()
  @ApiCreateUploadSession()
  createUploadSession(@Body() body: CreateUploadSessionDto, @Req() req: Request): UploadSessionDto {
    if ((body.key === undefined) === (body.keyPrefix === undefined)) {
      throw new BadRequestException('give exactly one of key and keyPrefix');
    }
    if (body.key !== undefined && body.overwrite !== undefined) {
      throw new BadRequestException('overwrite is for keyPrefix sessions: a key session may always replace its key');
    }
    const keyPrefix = body.keyPrefix === undefined ? undefined : asFolder(body.keyPrefix);
    const prefixBytes = Buffer.byteLength(this.config.s3.prefix, 'utf8');
    const problem =
      keyPrefix === undefined
        ? keyProblem(body.key ?? '', prefixBytes)
        : keyPrefix && keyProblem(keyPrefix, prefixBytes, true)?.replace(/^key/, 'keyPrefix');
    if (problem) {
      throw new BadRequestException(problem);
    }
    const limit = this.config.uploads.maxBytes;
    if (body.maxBytes !== undefined && body.maxBytes > limit) {
      throw new BadRequestException(`maxBytes must not be greater than ${limit} (MAX_UPLOAD_BYTES)`);
    }
    const contentTypes = body.contentTypes && [...new Set(body.contentTypes.map((t) => t.toLowerCase()))];
    const scope = {
      ...(body.key !== undefined ? { key: body.key } : { keyPrefix, overwrite: body.overwrite ?? false }),
      maxBytes: body.maxBytes ?? limit,
      ...(contentTypes ? { contentTypes } : {}),
    };
    const expiresAt = Date.now() + (body.expiresIn ?? DEFAULT_SESSION_SECONDS) * 1000;
    const { token, session } = this.sessions.issue({ overwrite: true, ...scope, expiresAt });
    return {
      token,
      url: `${req.protocol}://${req.get('host')}/upload-sessions/${token}`,
      expiresAt: new Date(session.expiresAt),
      scope,
    };
  }
}
