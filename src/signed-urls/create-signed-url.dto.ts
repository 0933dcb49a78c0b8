import { ApiPropertyOptional } from '../openapi/swagger-decorators.js';
import { IsIn, IsInt, IsObject, IsOptional, IsString, Length, Matches, Max, MaxLength, Min } from 'class-validator';
import { MAX_METADATA_ENTRIES } from '../http/object-parameters.js';
import { MAX_CACHE_CONTROL_LENGTH } from '../config/s3-options.js';
import { MAX_SIGNED_URL_SECONDS } from '../storage/signed-request.js';

const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f-\u009f]*$/;

export class CreateSignedUrlDto {
  /** The object key, validated as in the Files API (not URL-encoded here). @example "photos/2026/a b.jpg" */
  @IsString()
  key!: string;

  /**
   * `download`: a GET URL. `upload`: a PUT URL, or a POST form when `maxBytes` is set or when the S3 backend applies
   * headers a presigned PUT does not sign (Ceph RGW; the service detects it): clients follow `method`.
   */
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
   * Downloads: S3 serves the object as an attachment with this file name. Uploads: the file name stored with the
   * object (its `Content-Disposition`, signed), which downloads are then offered under.
   * @example "report.pdf"
   */
  @IsOptional()
  @IsString()
  @Length(1, 255)
  @Matches(NO_CONTROL_CHARACTERS, { message: 'fileName must not contain control characters' })
  fileName?: string;

  /**
   * Uploads only: the `Cache-Control` stored with the object (RFC 9111 directives, printable ASCII, at most 512
   * characters), signed; default `DEFAULT_CACHE_CONTROL`.
   * @example "public, max-age=86400"
   */
  @ApiPropertyOptional({ maxLength: MAX_CACHE_CONTROL_LENGTH })
  @IsOptional()
  @IsString()
  @MaxLength(MAX_CACHE_CONTROL_LENGTH)
  cacheControl?: string;

  /**
   * Uploads only: user metadata stored with the object and served back as `X-Meta-<name>` headers, signed (the upload
   * sends them as `x-amz-meta-<name>`). Names: a-z, 0-9 and `-`; values: printable US-ASCII; at most 10 entries and
   * 1024 bytes of names and values together.
   * @example {"owner": "42"}
   */
  @ApiPropertyOptional({ maxProperties: MAX_METADATA_ENTRIES })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, string>;
}
