import { Controller, Delete, ForbiddenException, Head, Options, Patch, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Access, Public, type AccessLevel } from '../security/access.decorators.js';
import { TusUploads } from './tus-uploads.service.js';

/**
 * tus 1.0 (creation, creation-with-upload, creation-defer-length, termination, expiration) at /uploads, answered by
 * `@tus/server`. Outside the OpenAPI document: tus is a protocol of headers that its own clients speak (README).
 * Every request but OPTIONS needs a read-write API key, HEAD included (it reveals an upload's progress).
 */
@ApiExcludeController()
@Controller('uploads')
export class UploadsController {
  constructor(private readonly tus: TusUploads) {}

  @Post()
  create(@Req() req: Request, @Res() res: Response, @Access() access: AccessLevel): Promise<void> {
    return this.answer(req, res, access);
  }

  @Head(':id')
  offset(@Req() req: Request, @Res() res: Response, @Access() access: AccessLevel): Promise<void> {
    return this.answer(req, res, access);
  }

  @Patch(':id')
  append(@Req() req: Request, @Res() res: Response, @Access() access: AccessLevel): Promise<void> {
    return this.answer(req, res, access);
  }

  @Delete(':id')
  terminate(@Req() req: Request, @Res() res: Response, @Access() access: AccessLevel): Promise<void> {
    return this.answer(req, res, access);
  }

  /** tus discovery (Tus-Version, Tus-Extension, Tus-Max-Size); a CORS preflight is answered before it. */
  @Public()
  @Options(['', ':id'])
  discover(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.tus.handle(req, res);
  }

  private answer(req: Request, res: Response, access: AccessLevel): Promise<void> {
    if (access !== 'read-write') {
      throw new ForbiddenException('this API key is read-only: tus uploads need a read-write key');
    }
    return this.tus.handle(req, res);
  }
}
