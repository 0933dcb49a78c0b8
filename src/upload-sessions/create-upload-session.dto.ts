import { ApiPropertyOptional } from '../openapi/swagger-decorators.js';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
} from 'class-validator';

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
   * The folder this session writes in (`users/42` is taken as `users/42/`); `""` is the whole bucket (under
   * `S3_PREFIX`). Uploads land at `<keyPrefix><uuid>/<file name>`, named by the service as `POST /files` names
   * files, unless a `POST /files` upload names its own key in the folder. Give `key` or `keyPrefix`.
   * @example "users/42/"
   */
  @IsOptional()
  @IsString()
  keyPrefix?: string;

  /**
   * A `keyPrefix` session only: whether its uploads may replace existing objects (default false: a 409 instead). A
   * `key` session may always replace its one key.
   */
  @IsOptional()
  @IsBoolean()
  overwrite?: boolean;

  /** The largest file one upload may create, in bytes; default and maximum `MAX_UPLOAD_BYTES`. */
  @ApiPropertyOptional({ type: 'integer', minimum: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  maxBytes?: number;

  /**
   * Media types an upload may declare: `type/subtype`, `type/*` or `*\/*` (any); default any. Uploads straight to S3
   * still may not declare active content (HTML, SVG, XML, JavaScript...) unless `SIGNED_UPLOAD_ACTIVE_CONTENT=true`.
   * @example ["image/*", "application/pdf"]
   */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(32)
  @IsString({ each: true })
  // RFC 9110 tokens without `*`, which is only a whole subtype or `*/*`: `*/png` would match nothing.
  @Matches(/^(\*\/\*|[!#$%&'+.^_`|~0-9A-Za-z-]+\/([!#$%&'+.^_`|~0-9A-Za-z-]+|\*))$/, {
    each: true,
    message: 'each of contentTypes must be type/subtype, type/* or */* (no parameters)',
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
