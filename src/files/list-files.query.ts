import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsInt,
  IsOptional,
  IsString,
  Length,
  Max,
  MaxLength,
  Min,
  Validate,
  type ValidatorConstraintInterface,
  ValidatorConstraint,
} from 'class-validator';
import { keyProblem } from './file-key.js';

@ValidatorConstraint({ name: 'listPrefix' })
class ListPrefixRule implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'string' && (value === '' || keyProblem(value, 0, true) === undefined);
  }
  defaultMessage(): string {
    return 'prefix must be a key prefix: no control characters, backslashes, empty, . or .. segments';
  }
}

export class ListFilesQuery {
  /** Only keys that start with this. */
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  @Validate(ListPrefixRule)
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
