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
 * `download` and `redirect` (default: `DOWNLOAD_MODE`) of `GET`/`HEAD /files/{key}`. A resumed download (`If-Range`)
 * is always streamed: S3-compatible servers may ignore If-Range, splicing a changed object onto the client's bytes.
 */
export function downloadOptions(req: Request, mode: 'proxy' | 'redirect'): { attachment: boolean; redirect: boolean } {
  const attachment = parseFlag('download', req.query.download) ?? false;
  const redirect = parseFlag('redirect', req.query.redirect) ?? mode === 'redirect';
  const resumed = req.headers.range !== undefined && req.headers['if-range'] !== undefined;
  return { attachment, redirect: redirect && !resumed };
}
