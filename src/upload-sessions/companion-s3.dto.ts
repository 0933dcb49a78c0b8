import { ApiProperty } from '../openapi/swagger-decorators.js';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  MaxLength,
  ValidateNested,
} from 'class-validator';
import { MAX_PARTS } from '../config/s3-options.js';

/** `POST /s3/multipart`, as `@uppy/aws-s3` sends it. */
export class CreateMultipartDto {
  /** The file's name; the service picks the key from it within the session's scope. */
  @IsString()
  @MaxLength(1024)
  filename!: string;

  /** The file's media type (default `application/octet-stream`). */
  @IsOptional()
  @IsString()
  type?: string;

  /** Uppy's file metadata; not stored. */
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class CompletedPart {
  @ApiProperty({ type: 'integer', minimum: 1, maximum: MAX_PARTS })
  @IsInt()
  PartNumber!: number;

  /** As the part's PUT answered it (unquoted, as Uppy sends it) or as listed (quoted). */
  @IsString()
  @MaxLength(128)
  ETag!: string;
}

export class CompleteMultipartDto {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_PARTS)
  @ValidateNested({ each: true })
  @Type(() => CompletedPart)
  parts!: CompletedPart[];
}

/** A POST policy: send `fields`, then the file as `file`, in a `multipart/form-data` POST to `url`. */
export class PostPolicy {
  method!: 'POST';
  /** The bucket's URL. */
  url!: string;
  /** `key` is the object's key in the bucket (with `S3_PREFIX`). */
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } })
  fields!: Record<string, string>;
  expiresAt!: Date;
}

export class StartedMultipart {
  /** The object's key in the bucket (with `S3_PREFIX`): pass it back as `?key=`. */
  key!: string;
  /** The upload's id, bound to this session and key. */
  uploadId!: string;
}

export class SignedPart {
  /** PUT the part's bytes here (the service's part route, or S3); the answer's `ETag` header is the part's. */
  url!: string;
  expiresAt!: Date;
}

export class ListedPart {
  @ApiProperty({ type: 'integer' })
  PartNumber!: number;
  /** Quoted, as S3 lists it. */
  ETag!: string;
  @ApiProperty({ type: 'integer' })
  Size!: number;
}

export class CompletedUpload {
  /** The file's absolute URL on this service (`/files/{key}`, each key segment percent-encoded). */
  location!: string;
  /** The object's key in the bucket (with `S3_PREFIX`). */
  key!: string;
  bucket!: string;
}
