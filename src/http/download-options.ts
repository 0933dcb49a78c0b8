import { BadRequestException } from '@nestjs/common';
import type { Request } from 'express';

/** The spellings a yes/no query parameter accepts (`?download=1`); the OpenAPI schema lists exactly these. */
export const FLAG_VALUES = ['1', 'true', '0', 'false'] as const;

export function parseFlag(name: string, value: unknown): boolean | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (!(FLAG_VALUES as readonly unknown[]).includes(value)) {
    throw new BadRequestException(`${name} must be one of ${FLAG_VALUES.join(', ')}`);
  }
  return value === '1' || value === 'true';
}

/** A resumed download (If-Range) is streamed: S3 may ignore If-Range and splice a changed object onto its bytes. */
export function downloadOptions(req: Request, mode: 'proxy' | 'redirect'): { attachment: boolean; redirect: boolean } {
  const attachment = parseFlag('download', req.query.download) ?? false;
  const redirect = parseFlag('redirect', req.query.redirect) ?? mode === 'redirect';
  const resumed = req.headers.range !== undefined && req.headers['if-range'] !== undefined;
  return { attachment, redirect: redirect && !resumed };
}
