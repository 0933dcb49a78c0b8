import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, MaxLength, Min } from 'class-validator';
import { MAX_SIGNED_URL_SECONDS } from '../storage/signed-request.js';

const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f-\u009f]*$/;

export class CreateSignedUrlDto {
  /**
   * The object key, validated as in the Files API (not URL-encoded here).
   * @example "photos/2026/a b.jpg"
   */
  @IsString()
  key!: string;

  /** `download`: a GET URL. `upload`: a PUT URL, or a POST form when `maxBytes` is set. */
  @IsIn(['download', 'upload'])
  operation!: 'download' | 'upload';

  /** Lifetime in seconds, 1 to 604800 (7 days); default `SIGNED_URL_TTL_SECONDS`. */
  @ApiPropertyOptional({ type: 'integer', maximum: MAX_SIGNED_URL_SECONDS })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_SIGNED_URL_SECONDS)
  expiresIn?: number;

  /**
   * Uploads only: the `Content-Type` the upload must send (one media type, RFC 9110), signed into the URL in its
   * canonical form (default `application/octet-stream`).
   * @example "image/png"
   */
  @IsOptional()
  @IsString()
  @MaxLength(255)
  contentType?: string;

  /**
   * Uploads only: the largest file in bytes S3 will accept (at most `MAX_UPLOAD_BYTES` and 5 GiB). Returns a POST
   * form whose policy's `content-length-range` makes S3 refuse bigger files.
   */
  @ApiPropertyOptional({ type: 'integer' })
  @IsOptional()
  @IsInt()
  @Min(1)
  maxBytes?: number;

  /**
   * Downloads only: S3 serves the object as an attachment with this file name.
   * @example "report.pdf"
   */
  @IsOptional()
  @IsString()
  @Length(1, 255)
  @Matches(NO_CONTROL_CHARACTERS, { message: 'fileName must not contain control characters' })
  fileName?: string;
}
