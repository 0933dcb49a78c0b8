import { BadRequestException } from '@nestjs/common';
import type { Request } from 'express';

/** The spellings a yes/no query parameter accepts (`?download=1`); the OpenAPI schema lists exactly these. */
export const FLAG_VALUES = ['1', 'true', '0', 'false'] as const;

/** A yes/no query parameter: undefined when absent; any other value, an empty one included, is a 400. */
export function parseFlag(name: string, value: unknown): boolean | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (!(FLAG_VALUES as readonly unknown[]).includes(value)) {
    throw new BadRequestException(`${name} must be one of ${FLAG_VALUES.join(', ')}`);
  }
  return value === '1' || value === 'true';
}

/**
 * `download` and `redirect` of `GET`/`HEAD /files/{key}`, checked before S3 is asked anything. `redirect` defaults
 * to `DOWNLOAD_MODE`. A resumed download (`Range` with `If-Range`) is always streamed: `If-Range` is not in S3's
 * documented API and S3-compatible servers may ignore it, splicing a changed object onto the client's older bytes.
 */
export function downloadOptions(req: Request, mode: 'proxy' | 'redirect'): { attachment: boolean; redirect: boolean } {
  const attachment = parseFlag('download', req.query.download) ?? false;
  const redirect = parseFlag('redirect', req.query.redirect) ?? mode === 'redirect';
  const resumed = req.headers.range !== undefined && req.headers['if-range'] !== undefined;
  return { attachment, redirect: redirect && !resumed };
}
