import { streamBody } from '../http/stream-body.js';
import {
  BadRequestException,
  Controller,
  Delete,
  Get,
  Head,
  HttpCode,
  HttpStatus,
  Post,
  Put,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { create as contentDisposition } from 'content-disposition';
import type { Request, Response } from 'express';
import { AppConfig } from '../config/app-config.js';
import { isCacheControl } from '../config/s3-options.js';
import { AcceptsUploadSession, PublicRead } from '../security/access.decorators.js';
import { StorageError } from '../storage/storage.errors.js';
import { SESSION_MAY_NOT_REPLACE, UploadSessions } from '../security/upload-sessions.service.js';
import { StorageService, type ObjectStream, type UploadResult } from '../storage/storage.service.js';
import { streamedChunks } from '../storage/streamed-chunks.js';
import { downloadOptions } from '../http/download-options.js';
import { REDIRECT_TTL_SECONDS, redirectResponseHeaders } from '../http/download-redirect.js';
import type { FileList, StoredFile } from './file.dto.js';
import { FileKey, isPublicKey, KeyPipe, ReadKey } from '../http/file-key.js';
import { ApiTags } from '../openapi/swagger-decorators.js';
import { ApiDownload, ApiHead, ApiList, ApiRemove, ApiUploadMultipart, ApiUploadRaw } from './files.openapi.js';
import { conditionalRead, writePrecondition } from '../http/http-conditions.js';
import { ListFilesQuery } from './list-files.query.js';
import { isInline, parseMediaType } from '../http/media-type.js';
import { receiveMultipart } from './multipart-upload.js';
import {
  METADATA_PREFIX,
  parametersFromFields,
  parametersFromHeaders,
  servedMetadata,
  storedFileName,
} from '../http/object-parameters.js';
import { downloadName, fileLocation, generateKey, setStoredEtag } from '../http/upload-name.js';
import { HttpProblem } from '../http/problem.js';

/** More than the form fields and part headers `receiveMultipart` accepts around a file. */
const FORM_ENVELOPE_BYTES = 512 * 1024;

/** Public reads of an object that stores no Cache-Control: caches revalidate (a 304) after five minutes. */
export const PUBLIC_CACHE_CONTROL = 'public, max-age=300';

@ApiTags('files')
@Controller('files')
export class FilesController {
  constructor(
    private readonly storage: StorageService,
    private readonly config: AppConfig,
    private readonly keys: KeyPipe,
    private readonly sessions: UploadSessions,
  ) {}

  // Also with an upload-session token: the key, size and type then stay within its scope.
  @Post()
  @AcceptsUploadSession()
  @ApiUploadMultipart()
  async uploadMultipart(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @Query('key') queryKey?: string,
    @Query('overwrite') queryOverwrite?: string,
  ): Promise<StoredFile> {
    const precondition = writePrecondition(req);
    const size = this.declaredSize(req);
    const session = req.uploadSession;
    const maxBytes = session?.maxBytes ?? this.config.uploads.maxBytes;
    // A session's maxBytes bounds the file, the form around it may add its fields; MAX_UPLOAD_BYTES bounds the body.
    const maxBodyBytes = Math.min(this.config.uploads.maxBytes, maxBytes + (session ? FORM_ENVELOPE_BYTES : 0));
    const result = await receiveMultipart(req, maxBodyBytes, async (part) => {
      const requested = part.fields.key ?? queryKey;
      const key = session
        ? this.sessions.keyFor(session, part.fileName, requested)
        : this.keys.transform(requested ?? generateKey(part.fileName));
      // A keyPrefix session replaces nothing unless it was created with overwrite: true (a key session may).
      const mayReplace = session === undefined || session.overwrite;
      const overwrite = parseOverwrite(part.fields.overwrite ?? queryOverwrite) && mayReplace;
      const parameters = parametersFromFields(part.fields, req);
      const contentType = uploadedType(part.mimeType, "the file part's Content-Type");
      try {
        return await this.storage.upload({
          key,
          body: part.stream,
          contentType: session ? this.sessions.checkType(session, contentType, false) : contentType,
          ifNoneMatch: !overwrite,
          precondition,
          maxBytes,
          size,
          parameters,
        });
      } catch (error) {
        if (error instanceof StorageError && error.code === 'PreconditionFailed' && !precondition) {
          throw new StorageError(
            'AlreadyExists',
            mayReplace ? 'an object with this key already exists (overwrite=false)' : SESSION_MAY_NOT_REPLACE,
          );
        }
        throw error;
      }
    });
    res.status(HttpStatus.CREATED).location(fileLocation(result.key));
    setStoredEtag(res, result.etag);
    return withoutCreated(result);
  }

  @Put('*key')
  @ApiUploadRaw()
  async uploadRaw(
    @FileKey() key: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<StoredFile> {
    const size = this.declaredSize(req);
    const ifNoneMatch = req.headers['if-none-match'];
    if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
      throw new BadRequestException('If-None-Match on PUT only supports "*" (refuse to replace an existing object)');
    }
    const contentType = uploadedType(singleHeader(req, 'content-type'), 'Content-Type');
    const precondition = writePrecondition(req);
    const parameters = parametersFromHeaders(req);
    req.on('error', () => undefined); // surfaced by the upload's pipeline
    req.on('close', () => {
      if (!req.complete) {
        req.destroy(new HttpProblem(400, 'the client closed the connection before the upload finished'));
      }
    });
    const result = await this.storage.upload({
      key,
      body: req,
      contentType,
      ifNoneMatch: ifNoneMatch !== undefined,
      precondition,
      maxBytes: this.config.uploads.maxBytes,
      size,
      reportCreated: true,
      parameters,
    });
    if (result.created) {
      res.status(HttpStatus.CREATED).location(fileLocation(key));
    }
    setStoredEtag(res, result.etag);
    return withoutCreated(result);
  }

  @Get()
  @ApiList()
  list(@Query() query: ListFilesQuery): Promise<FileList> {
    return this.storage.list({ ...query, prefix: this.keys.listPrefix(query.prefix) });
  }

  @Get('*key')
  @PublicRead()
  @ApiDownload()
  async download(@ReadKey() key: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    if (req.method === 'HEAD') {
      // Express lets this route, registered first, answer HEAD too: a HEAD must cost a HeadObject, not a GetObject.
      return this.head(key, req, res);
    }
    const options = downloadOptions(req, this.config.downloadMode);
    const publicRead = this.publicRead(key, req, res);
    // Public answers are streamed: a redirect would hand out a short-lived URL that caches must not keep.
    if (options.redirect && !publicRead) {
      return this.redirect(key, req, res, options.attachment);
    }
    const object = await conditionalRead(req, res, (conditions) => this.storage.openStream(key, conditions));
    if (!object) {
      return;
    }
    this.writeHeaders(res, object, options.attachment, publicRead);
    streamedChunks.watch(object.body);
    await streamBody(object.body, res);
  }

  @Head('*key')
  @PublicRead()
  @ApiHead()
  async head(@ReadKey() key: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    // Answered here in either mode: what a proxied GET would send, without signing a URL nobody follows.
    const { attachment } = downloadOptions(req, this.config.downloadMode);
    const publicRead = this.publicRead(key, req, res);
    const object = await conditionalRead(req, res, (conditions) => this.storage.head(key, conditions));
    if (object) {
      this.writeHeaders(res, object, attachment, publicRead);
      res.end();
    }
  }

  @Delete('*key')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiRemove()
  async remove(@FileKey() key: string, @Req() req: Request): Promise<void> {
    await this.storage.remove(key, writePrecondition(req));
  }

  /** A read without an API key under PUBLIC_PREFIXES: any origin may embed its answers, 304s included. */
  private publicRead(key: string, req: Request, res: Response): boolean {
    if (req.headers.authorization !== undefined || !isPublicKey(this.config.publicPrefixes, key)) {
      return false;
    }
    req.publicRead = true;
    res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
    return true;
  }

  /** The declared `Content-Length` (undefined when chunked); over the limit is a 413 before any byte is read. */
  private declaredSize(req: Request): number | undefined {
    const header = req.headers['content-length'];
    const declared = header === undefined ? undefined : Number(header);
    if (declared !== undefined && declared > this.config.uploads.maxBytes) {
      throw new HttpProblem(413, `the upload is larger than the limit of ${this.config.uploads.maxBytes} bytes`);
    }
    return declared;
  }

  /** A 302 to a short-lived presigned GET, after a HEAD that answers 404, 304 and 416 and reads the type to pin. */
  private async redirect(key: string, req: Request, res: Response, attachment: boolean): Promise<void> {
    const object = await conditionalRead(req, res, (conditions) => this.storage.head(key, conditions));
    if (!object) {
      return;
    }
    const signed = await this.storage.signDownload({
      key,
      expiresIn: REDIRECT_TTL_SECONDS,
      ...redirectResponseHeaders(
        object.contentType,
        attachment,
        storedFileName(object.contentDisposition) ?? downloadName(key),
      ),
    });
    // Each answer carries a fresh signature: a cached one would outlive it.
    res.status(HttpStatus.FOUND).setHeader('Cache-Control', 'no-store');
    res.setHeader('Location', signed.url);
    res.end();
  }

  /** A public read gets a shared-cache default and no user metadata (`X-Meta-*`: owners, ids...). */
  private writeHeaders(res: Response, object: Omit<ObjectStream, 'body'>, attach: boolean, publicRead: boolean): void {
    const fileName = storedFileName(object.contentDisposition) ?? downloadName(object.key);
    // What the browser reads is what was judged: the stored type, parsed and written back canonical.
    const parsed = parseMediaType(object.contentType);
    const contentType = typeof parsed === 'string' ? 'application/octet-stream' : parsed.value;
    const attachment = attach || typeof parsed === 'string' || !isInline(parsed);
    res.status(object.contentRange ? HttpStatus.PARTIAL_CONTENT : HttpStatus.OK);
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', String(object.contentLength));
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('Last-Modified', object.lastModified.toUTCString());
    if (object.etag) {
      res.setHeader('ETag', object.etag);
    }
    if (object.contentRange) {
      res.setHeader('Content-Range', object.contentRange);
    }
    res.setHeader('Content-Disposition', contentDisposition(fileName, { type: attachment ? 'attachment' : 'inline' }));
    if (object.cacheControl && isCacheControl(object.cacheControl)) {
      res.setHeader('Cache-Control', object.cacheControl);
    } else if (publicRead) {
      res.setHeader('Cache-Control', PUBLIC_CACHE_CONTROL);
    }
    if (!publicRead) {
      for (const [name, value] of servedMetadata(object.metadata)) {
        res.setHeader(METADATA_PREFIX + name, value);
      }
    }
    // Stored files are data, never active content of this origin.
    res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
    res.setHeader('X-Content-Type-Options', 'nosniff');
  }
}

function parseOverwrite(value: string | undefined): boolean {
  if (value === undefined || value === '' || value === 'true' || value === '1') {
    return true;
  }
  if (value === 'false' || value === '0') {
    return false;
  }
  throw new BadRequestException('overwrite must be true or false');
}

/** One media type, canonical (RFC 9110 8.3.1); none given is `application/octet-stream`; anything else a 400. */
function uploadedType(header: string | undefined, what: string): string {
  const parsed = parseMediaType(header || 'application/octet-stream');
  if (typeof parsed === 'string') {
    throw new BadRequestException(`${what} ${parsed}`);
  }
  return parsed.value;
}

/** A header's value when sent once; Node keeps only the first of repeated ones, so a repeat is refused here. */
function singleHeader(req: Request, name: string): string | undefined {
  const count = req.rawHeaders.filter((value, i) => i % 2 === 0 && value.toLowerCase() === name).length;
  if (count > 1) {
    throw new BadRequestException(`${name} must be sent once`);
  }
  return req.headers[name] as string | undefined;
}

const withoutCreated = ({ created: _created, ...rest }: UploadResult): Omit<UploadResult, 'created'> => rest;
