import { ApiPropertyOptional } from '../openapi/swagger-decorators.js';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Length, Max, MaxLength, Min } from 'class-validator';

export class ListFilesQuery {
  /** Only keys that start with this. */
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  prefix?: string;

  /** Groups keys by this character into `prefixes` (folders), usually `/`. */
  @IsOptional()
  @IsString()
  @Length(1, 1, { message: 'delimiter must be a single character' })
  delimiter?: string;

  /** Page size, 1 to 1000. */
  @ApiPropertyOptional({ type: 'integer' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be a whole number' })
  @Min(1)
  @Max(1000)
  limit: number = 100;

  /** The `nextCursor` of the previous page. */
  @IsOptional()
  @IsString()
  @Length(1, 4096)
  cursor?: string;
}
