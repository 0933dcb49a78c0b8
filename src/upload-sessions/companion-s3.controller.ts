import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  ForbiddenException,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  PayloadTooLargeException,
  Post,
  Put,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiTags } from '../openapi/swagger-decorators.js';
import { AppConfig } from '../config/app-config.js';
import { fileLocation } from '../http/upload-name.js';
import { HttpProblem } from '../http/problem.js';
import { Public } from '../security/access.decorators.js';
import { DirectUploads } from '../storage/direct-uploads.js';
import { MAX_PART_SIZE, MAX_PARTS, MAX_SINGLE_UPLOAD_BYTES, MIN_PART_SIZE } from '../config/s3-options.js';
import { StorageError } from '../storage/storage.errors.js';
import { StorageService } from '../storage/storage.service.js';
import {
  CompleteMultipartDto,
  CreateMultipartDto,
  type CompletedUpload,
  type ListedPart,
  type PostPolicy,
  type SignedPart,
  type StartedMultipart,
} from './companion-s3.dto.js';
import {
  ApiAbortMultipart,
  ApiComplete,
  ApiCreateMultipart,
  ApiListParts,
  ApiParams,
  ApiSignPart,
  ApiUploadPart,
} from './companion-s3.openapi.js';
import { SESSION_MAY_NOT_REPLACE, UploadSessions, type UploadSession } from '../security/upload-sessions.service.js';
import { BackendCapabilities } from '../storage/backend-capabilities.js';
import { S3Gateway, unquote } from '../storage/s3-gateway.js';

const PART_NUMBER = /^[1-9]\d{0,4}$/;

/**
 * Uppy Companion's S3 routes under a session URL, for stock `@uppy/aws-s3` (6.3.1). The token in the path is the
 * credential (Uppy sends no auth header); every route checks it and keeps to its scope.
 */
@ApiTags('upload-sessions')
@Controller('upload-sessions/:token/s3')
@Public()
export class CompanionS3Controller {
  constructor(
    private readonly sessions: UploadSessions,
    private readonly uploads: DirectUploads,
    private readonly s3: S3Gateway,
    private readonly storage: StorageService,
    private readonly config: AppConfig,
    private readonly capabilities: BackendCapabilities,
  ) {}

  @Get('params')
  @ApiParams()
  async signPostPolicy(
    @Param('token') token: string,
    @Query('filename') filename?: string,
    @Query('type') type?: string,
  ): Promise<PostPolicy> {
    const session = this.sessions.verify(token);
    const key = this.sessions.keyFor(session, filename);
    const contentType = this.sessions.checkType(session, type, true);
    const signed = await this.storage.signUpload({
      key,
      expiresIn: this.expiresIn(session),
      contentType,
      maxBytes: Math.min(session.maxBytes, MAX_SINGLE_UPLOAD_BYTES),
    });
    return { method: 'POST', url: signed.url, fields: signed.fields ?? {}, expiresAt: signed.expiresAt };
  }

  @Post('multipart')
  @HttpCode(HttpStatus.OK)
  @ApiCreateMultipart()
  async createMultipartUpload(
    @Param('token') token: string,
    @Body() body: CreateMultipartDto,
  ): Promise<StartedMultipart> {
    const session = this.sessions.verify(token);
    const key = this.sessions.keyFor(session, body.filename);
    const contentType = this.sessions.checkType(session, body.type, true);
    const s3UploadId = await this.uploads.start(key, contentType);
    return { key: this.s3.objectKey(key), uploadId: this.sessions.bindUpload(session, key, s3UploadId) };
  }

  @Get('multipart/:uploadId/:partNumber')
  @ApiSignPart()
  async signUploadPart(
    @Param('token') token: string,
    @Param('uploadId') uploadId: string,
    @Param('partNumber') partNumber: string,
    @Req() req: Request,
    @Query('key') bucketKey?: string,
  ): Promise<SignedPart> {
    const { session, key, s3UploadId } = this.upload(token, uploadId, bucketKey);
    const number = partNumberOf(session, partNumber);
    if (this.sessions.partsThroughService ?? this.capabilities.presignedHeadersEnforced() !== true) {
      const query = new URLSearchParams({ key: this.s3.objectKey(key) });
      const path = `/upload-sessions/${token}/s3/multipart/${encodeURIComponent(uploadId)}/${number}?${query.toString()}`;
      return { url: `${req.protocol}://${req.get('host')}${path}`, expiresAt: new Date(session.expiresAt) };
    }
    const others = await this.otherParts(key, s3UploadId, number);
    if (others >= session.maxBytes) {
      throw new PayloadTooLargeException(
        `this upload already holds ${others} bytes: the session allows ${session.maxBytes}`,
      );
    }
    const signed = await this.uploads.signPart(key, s3UploadId, number, this.expiresIn(session));
    return { url: signed.url, expiresAt: signed.expiresAt };
  }

  // Only the service's headers reach S3 (never the client's x-amz-copy-source...): a part never copies another object.
  @Put('multipart/:uploadId/:partNumber')
  @ApiUploadPart()
  async uploadPart(
    @Param('token') token: string,
    @Param('uploadId') uploadId: string,
    @Param('partNumber') partNumber: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @Query('key') bucketKey?: string,
  ): Promise<void> {
    const { session, key, s3UploadId } = this.upload(token, uploadId, bucketKey);
    const number = partNumberOf(session, partNumber);
    const header = req.headers['content-length'];
    if (header === undefined) {
      throw new HttpProblem(411, 'a part needs a Content-Length (chunked bodies are not accepted)');
    }
    const size = Number(header);
    const limit = Math.min(session.maxBytes, MAX_PART_SIZE);
    if (size > limit) {
      throw new PayloadTooLargeException(`a part of this session holds at most ${limit} bytes, not ${size}`);
    }
    const others = await this.otherParts(key, s3UploadId, number);
    if (others + size > session.maxBytes) {
      throw new PayloadTooLargeException(
        `this upload already holds ${others} bytes in other parts: the session allows ${session.maxBytes}`,
      );
    }
    // A client gone before the whole part arrived aborts the request to S3, which would otherwise wait for the rest.
    const gone = new AbortController();
    req.on('error', () => undefined);
    req.on('close', () => {
      if (!req.complete) {
        gone.abort();
      }
    });
    try {
      res.setHeader('ETag', await this.uploads.uploadPart(key, s3UploadId, number, req, size, gone.signal));
    } catch (error) {
      throw gone.signal.aborted
        ? new StorageError('Aborted', 'the client closed the connection before the part arrived', { cause: error })
        : error;
    }
  }

  @Get('multipart/:uploadId')
  @ApiListParts()
  listUploadParts(
    @Param('token') token: string,
    @Param('uploadId') uploadId: string,
    @Query('key') bucketKey?: string,
  ): Promise<ListedPart[]> {
    const { key, s3UploadId } = this.upload(token, uploadId, bucketKey);
    return this.uploads.parts(key, s3UploadId);
  }

  @Post('multipart/:uploadId/complete')
  @HttpCode(HttpStatus.OK)
  @ApiComplete()
  async completeMultipartUpload(
    @Param('token') token: string,
    @Param('uploadId') uploadId: string,
    @Body() body: CompleteMultipartDto,
    @Req() req: Request,
    @Query('key') bucketKey?: string,
  ): Promise<CompletedUpload> {
    const { session, key, s3UploadId } = this.upload(token, uploadId, bucketKey);
    const parts = body.parts.map((part) => ({ PartNumber: part.PartNumber, ETag: `"${unquote(part.ETag)}"` }));
    try {
      const stored = new Map((await this.uploads.parts(key, s3UploadId)).map((part) => [part.PartNumber, part]));
      let total = 0;
      parts.forEach((part, i) => {
        if (i > 0 && part.PartNumber <= parts[i - 1].PartNumber) {
          throw new BadRequestException('parts must be listed once each, in ascending PartNumber order');
        }
        const held = stored.get(part.PartNumber);
        if (!held || unquote(held.ETag) !== unquote(part.ETag)) {
          throw new BadRequestException(`part ${part.PartNumber}: no part with this ETag was uploaded`);
        }
        total += held.Size;
      });
      if (total > session.maxBytes) {
        throw new PayloadTooLargeException(`the upload holds ${total} bytes: the session allows ${session.maxBytes}`);
      }
      // Ceph RGW 16 ignores If-None-Match on the completion: checked here too (one written meanwhile is replaced).
      if (!session.overwrite && (await this.s3.head(key))) {
        throw alreadyExists();
      }
      await this.uploads.complete(key, s3UploadId, parts, !session.overwrite);
    } catch (error) {
      await this.uploads.abort(key, s3UploadId).catch(() => undefined);
      throw error instanceof StorageError && error.code === 'PreconditionFailed' ? alreadyExists() : error;
    }
    // A part replaced since the check can make the object larger.
    const object = await this.storage.head(key);
    if (object.size > session.maxBytes) {
      await this.storage.remove(key);
      throw new PayloadTooLargeException(
        `the object has ${object.size} bytes: the session allows ${session.maxBytes}; it was deleted`,
      );
    }
    // S3's Location is not always a URL (Ceph RGW: `host/bucket/key`); the file's URL on this service is.
    const location = `${req.protocol}://${req.get('host')}${fileLocation(key)}`;
    return { location, key: this.s3.objectKey(key), bucket: this.s3.bucket };
  }

  @Delete('multipart/:uploadId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiAbortMultipart()
  async abortMultipartUpload(
    @Param('token') token: string,
    @Param('uploadId') uploadId: string,
    @Query('key') bucketKey?: string,
  ): Promise<void> {
    // Uppy aborts also after the session expired; freeing the parts only needs the token to be authentic.
    const { key, s3UploadId } = this.upload(token, uploadId, bucketKey, true);
    await this.uploads.abort(key, s3UploadId);
  }

  /** The session, and the upload it started: its key (from the bucket key Uppy passes back) and S3's upload id. */
  private upload(token: string, uploadId: string, bucketKey: string | undefined, evenExpired = false) {
    const session = this.sessions.verify(token, evenExpired);
    if (!bucketKey) {
      throw new BadRequestException('the key query parameter is required');
    }
    const apiKey = this.s3.keyOf(bucketKey);
    if (apiKey === undefined) {
      throw new ForbiddenException("key is outside this upload session's scope (not under S3_PREFIX)");
    }
    const key = this.sessions.keyFor(session, undefined, apiKey);
    return { session, key, s3UploadId: this.sessions.s3UploadId(session, key, uploadId) };
  }

  private async otherParts(key: string, s3UploadId: string, partNumber: number): Promise<number> {
    return (await this.uploads.parts(key, s3UploadId))
      .filter((part) => part.PartNumber !== partNumber)
      .reduce((sum, part) => sum + part.Size, 0);
  }

  /** Signatures live no longer than the session, nor than signed URLs do. */
  private expiresIn(session: UploadSession): number {
    return Math.min(this.sessions.secondsLeft(session), this.config.signedUrlTtlSeconds);
  }
}

const alreadyExists = (): StorageError => new StorageError('AlreadyExists', SESSION_MAY_NOT_REPLACE);

function partNumberOf(session: UploadSession, partNumber: string): number {
  const number = PART_NUMBER.test(partNumber) ? Number(partNumber) : 0;
  const maxParts = Math.min(MAX_PARTS, Math.max(1, Math.ceil(session.maxBytes / MIN_PART_SIZE)));
  if (number < 1 || number > maxParts) {
    throw new BadRequestException(
      `partNumber must be a whole number from 1 to ${maxParts} (parts other than the last are at least 5 MiB, ` +
        `and this session allows ${session.maxBytes} bytes)`,
    );
  }
  return number;
}
