import {
  BadRequestException,
  Body,
  Controller,
  createParamDecorator,
  type ExecutionContext,
  HttpCode,
  HttpStatus,
  Post,
  Req,
  Res,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { statusOf } from '../http/http-error.filter.js';
import { BatchStorageService, type CopyResult } from '../storage/batch-storage.service.js';
import { StorageError } from '../storage/storage.errors.js';
import { StorageService } from '../storage/storage.service.js';
import { CopyFileDto, DeleteFilesDto, type DeletedFiles, type MovedFile } from './batch-files.dto.js';
import type { StoredFile } from './file.dto.js';
import { KeyPipe, keyInPath } from '../http/file-key.js';
import { ApiTags } from '../openapi/swagger-decorators.js';
import { ApiCopy, ApiMove, ApiRemoveMany } from './files.openapi.js';
import { writePrecondition } from '../http/http-conditions.js';
import { fileLocation, setStoredEtag } from '../http/upload-name.js';
import { errorBody } from '../http/problem.js';

/** The source key of `/files/{key}/copy` and `/move`; Express routes ignore case and a trailing slash (`a/COPY/`). */
const sourceKey = createParamDecorator((_data: unknown, ctx: ExecutionContext): string =>
  keyInPath(ctx.switchToHttp().getRequest<Request>()).replace(/\/(copy|move)\/?$/i, ''),
);
const SourceKey = (): ParameterDecorator => sourceKey(undefined, KeyPipe);

/** Operations on many objects, or on two keys at once: batch delete, copy and move. */
@ApiTags('files')
@Controller('files')
export class FilesBatchController {
  constructor(
    private readonly batch: BatchStorageService,
    private readonly storage: StorageService,
    private readonly keys: KeyPipe,
  ) {}

  @Post('delete')
  @HttpCode(HttpStatus.OK)
  @ApiRemoveMany()
  async removeMany(@Body() body: DeleteFilesDto): Promise<DeletedFiles> {
    const seen = new Map<string, number>();
    body.keys.forEach((key, i) => {
      this.checked(key, `keys[${i}]`);
      const first = seen.get(key);
      if (first !== undefined) {
        throw new BadRequestException(`keys[${i}] repeats keys[${first}]: each key may be listed once`);
      }
      seen.set(key, i);
    });
    const results = (await this.batch.removeMany(body.keys)).map(({ key, error }) =>
      error ? { key, deleted: false, error: keyError(error) } : { key, deleted: true },
    );
    const deleted = results.filter((r) => r.deleted).length;
    return { deleted, failed: results.length - deleted, results };
  }

  @Post('*key/copy')
  @ApiCopy()
  async copy(
    @SourceKey() from: string,
    @Body() body: CopyFileDto,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<StoredFile> {
    const { sourceEtag: _sourceEtag, ...copied } = await this.copyFrom(from, body, req);
    res.status(HttpStatus.CREATED).location(fileLocation(copied.key));
    setStoredEtag(res, copied.etag);
    return copied;
  }

  // A copy, then a delete of the source only if it is still the object copied; if that fails, both are kept.
  @Post('*key/move')
  @ApiMove()
  async move(
    @SourceKey() from: string,
    @Body() body: CopyFileDto,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<MovedFile> {
    const { sourceEtag, ...copied } = await this.copyFrom(from, body, req);
    res.status(HttpStatus.CREATED).location(fileLocation(copied.key));
    setStoredEtag(res, copied.etag);
    try {
      await this.storage.remove(from, (current) => current === undefined || current.etag === sourceEtag);
      return { ...copied, from, sourceDeleted: true };
    } catch (error) {
      const reason =
        error instanceof StorageError && error.code === 'PreconditionFailed'
          ? new StorageError('PreconditionFailed', 'the source changed after it was copied: it was kept')
          : error;
      return { ...copied, from, sourceDeleted: false, sourceError: keyError(reason) };
    }
  }

  private copyFrom(from: string, body: CopyFileDto, req: Request): Promise<CopyResult> {
    const to = this.checked(body.to, 'to');
    if (to === from) {
      throw new BadRequestException('to must differ from the source key');
    }
    return this.batch.copy({ from, to, overwrite: body.overwrite ?? true, precondition: writePrecondition(req) });
  }

  /** The key, or a 400 whose message names the field. */
  private checked(key: string, field: string): string {
    try {
      return this.keys.transform(key);
    } catch (error) {
      throw error instanceof BadRequestException ? new BadRequestException(`${field}: ${error.message}`) : error;
    }
  }
}

/** The error body a request for this key alone would have answered. */
function keyError(error: unknown) {
  const statusCode = error instanceof StorageError ? statusOf(error.code) : HttpStatus.BAD_GATEWAY;
  const message = error instanceof StorageError ? error.message : 'storage failed';
  return errorBody(statusCode, message);
}
