import { ApiPropertyOptional } from '../openapi/swagger-decorators.js';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';

/** The longest a session may live: a day. Revoking is by expiry only. */
export const MAX_SESSION_SECONDS = 24 * 3600;
/** Default lifetime: long enough for a large upload on a slow link, short enough to be the revocation. */
export const DEFAULT_SESSION_SECONDS = 3600;

export class CreateUploadSessionDto {
  /**
   * The one key this session may write (validated as in the Files API, not URL-encoded). Give `key` or `keyPrefix`.
   * @example "avatars/42.png"
   */
  @IsOptional()
  @IsString()
  key?: string;

  /**
   * Every upload of this session lands at `<keyPrefix><uuid>/<file name>`, the name chosen by the service as
   * `POST /files` does. `""` allows the whole bucket (under `S3_PREFIX`). Give `key` or `keyPrefix`.
   * @example "users/42/"
   */
  @IsOptional()
  @IsString()
  keyPrefix?: string;

  /** The largest file one upload may create, in bytes; default and maximum `MAX_UPLOAD_BYTES`. */
  @ApiPropertyOptional({ type: 'integer', minimum: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  maxBytes?: number;

  /**
   * Media types an upload may declare: `type/subtype` or `type/*`; default any. Uploads straight to S3 still may
   * not declare active content (HTML, SVG, XML, JavaScript...) unless `SIGNED_UPLOAD_ACTIVE_CONTENT=true`.
   * @example ["image/*", "application/pdf"]
   */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(32)
  @IsString({ each: true })
  @Matches(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/([!#$%&'+.^_`|~0-9A-Za-z-]+|\*)$/, {
    each: true,
    message: 'each of contentTypes must be type/subtype or type/* (no parameters)',
  })
  contentTypes?: string[];

  /** Lifetime in seconds, 1 to 86400; default 3600. */
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_SESSION_SECONDS, default: DEFAULT_SESSION_SECONDS })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_SESSION_SECONDS)
  expiresIn?: number;
}
