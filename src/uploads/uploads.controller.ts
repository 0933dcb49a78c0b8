import { Controller, Delete, ForbiddenException, Head, Options, Patch, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '../openapi/swagger-decorators.js';
import type { Request, Response } from 'express';
import { AcceptsUploadSession, Public } from '../security/access.decorators.js';
import { TusUploads } from './tus-uploads.service.js';

/**
 * tus 1.0 at /uploads, answered by `@tus/server`; not in the OpenAPI document (tus clients speak it). Every request but
 * OPTIONS needs a read-write API key (HEAD too: it reveals progress) or an upload-session token within its scope.
 */
@ApiExcludeController()
@AcceptsUploadSession()
@Controller('uploads')
export class UploadsController {
  constructor(private readonly tus: TusUploads) {}

  @Post()
  create(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(req, res);
  }

  @Head(':id')
  offset(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(req, res);
  }

  @Patch(':id')
  append(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(req, res);
  }

  @Delete(':id')
  terminate(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.answer(req, res);
  }

  /** tus discovery (Tus-Version, Tus-Extension, Tus-Max-Size); a CORS preflight is answered before it. */
  @Public()
  @Options(['', ':id'])
  discover(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.tus.handle(req, res);
  }

  private answer(req: Request, res: Response): Promise<void> {
    if (req.uploadSession === undefined && req.accessLevel !== 'read-write') {
      throw new ForbiddenException('this API key is read-only: tus uploads need a read-write key');
    }
    // The one reading of the upload's id: tus acts on this key, whatever else the request target holds.
    const key = req.params.id as string | undefined;
    if (key !== undefined && !this.tus.allows(req, key)) {
      throw new ForbiddenException("this upload is outside the upload session's scope");
    }
    return this.tus.handle(req, res, key);
  }
}
