import { ApiProperty, ApiPropertyOptional } from '../openapi/swagger-decorators.js';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsOptional, IsString } from 'class-validator';
import { ErrorResponse } from '../openapi/error-response.dto.js';
import { MAX_DELETE_KEYS } from '../storage/batch-storage.service.js';
import { StoredFile } from './file.dto.js';

export class DeleteFilesDto {
  /**
   * The keys to delete: 1 to 1000, each once, validated as in the Files API (not URL-encoded here).
   * @example ["photos/2026/a b.jpg", "photos/2026/c.jpg"]
   */
  @ApiProperty({ type: [String], minItems: 1, maxItems: MAX_DELETE_KEYS, uniqueItems: true })
  @IsArray()
  @ArrayMinSize(1, { message: 'keys must list at least one key' })
  @ArrayMaxSize(MAX_DELETE_KEYS, { message: `keys must list at most ${MAX_DELETE_KEYS} keys` })
  @IsString({ each: true, message: 'keys must be strings' })
  keys!: string[];
}

/** What happened to one key of a batch delete. */
export class DeletedFile {
  /** The key, as given. */
  key!: string;

  /** True when the object is gone (or there was none); false when S3 refused this key: see `error`. */
  deleted!: boolean;

  /** Why this key was not deleted: the error `DELETE /files/{key}` would have answered. */
  error?: ErrorResponse;
}

/** The outcome of a batch delete: one result per key, in the order given. */
export class DeletedFiles {
  /** Keys deleted (or already absent). */
  @ApiProperty({ type: 'integer' })
  deleted!: number;

  /** Keys S3 refused; each has an `error`. */
  @ApiProperty({ type: 'integer' })
  failed!: number;

  results!: DeletedFile[];
}

export class CopyFileDto {
  /**
   * The target key, validated as in the Files API (not URL-encoded here); must differ from the source key.
   * @example "archive/2026/a b.jpg"
   */
  @IsString()
  to!: string;

  /** `false`: 409 if an object with the target key exists (default `true`: replace it). */
  @IsOptional()
  @IsBoolean()
  overwrite?: boolean;
}

/** A move: the copied object, and whether its source is gone. */
export class MovedFile extends StoredFile {
  /** The source key. */
  from!: string;

  /**
   * True when the source was deleted (or was already gone). False when the copy was made but the source could not
   * be deleted: both objects exist, nothing is lost; `sourceError` says why.
   */
  sourceDeleted!: boolean;

  /** Why the source was kept. */
  @ApiPropertyOptional({ type: ErrorResponse })
  sourceError?: ErrorResponse;
}
