import { ApiProperty } from './swagger-decorators.js';
import type { ErrorBody } from '../http/problem.js';

/** Every error the service answers: `{statusCode, error, message}`, never a stack trace or a secret. */
export class ErrorResponse implements ErrorBody {
  /** The HTTP status. @example 400 */
  @ApiProperty({ type: 'integer' })
  statusCode!: number;

  /** The status text. @example "Bad Request" */
  error!: string;

  /** What went wrong, for people. @example "key must not contain . or .. segments" */
  message!: string;
}
