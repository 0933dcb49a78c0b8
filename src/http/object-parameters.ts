import { BadRequestException } from '@nestjs/common';
import { create as contentDisposition, parse as parseContentDisposition } from 'content-disposition';
import type { IncomingMessage } from 'node:http';
import { isCacheControl, MAX_CACHE_CONTROL_LENGTH } from '../config/s3-options.js';
import type { ObjectParameters } from '../storage/object-settings.js';
import { sanitiseFileName, withoutFormatCharacters } from './upload-name.js';

export const MAX_METADATA_ENTRIES = 10;
/** Names (without `X-Meta-`) and values together, in bytes: half of S3's 2 KiB, which the service's own marker shares. */
export const MAX_METADATA_BYTES = 1024;
const MAX_METADATA_NAME = 64;

/** The header prefix clients send and receive user metadata under (`X-Meta-Owner: 42`). */
export const METADATA_PREFIX = 'x-meta-';
/** Names the service writes itself (the upload marker of `StorageService`). */
const RESERVED_METADATA = new Set(['upload-marker']);
/** 1 to 64 lower-case letters, digits and `-` (nginx drops header names with `_` by default). */
const METADATA_NAME = new RegExp(`^[a-z0-9](?:[a-z0-9-]{0,${MAX_METADATA_NAME - 2}}[a-z0-9])?$`);
/** Printable US-ASCII: S3 stores metadata values as header text, and answers anything else RFC 2047-encoded. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Form fields of `POST /files` that set object parameters (like `key`, they must come before the file part). */
export const isParameterField = (name: string): boolean =>
  name === 'cacheControl' || name === 'fileName' || name.toLowerCase().startsWith(METADATA_PREFIX);

/** `PUT /files/{key}`: `Cache-Control`, `Content-Disposition`'s name and `X-Meta-*`, as S3's PutObject reads them. */
export function parametersFromHeaders(req: IncomingMessage): ObjectParameters {
  const once = new Map<string, string>();
  const metadata: [string, string][] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (name === 'cache-control' || name === 'content-disposition' || name.startsWith(METADATA_PREFIX)) {
      if (once.has(name)) {
        throw new BadRequestException(`${req.rawHeaders[i]} must be sent once`);
      }
      once.set(name, req.rawHeaders[i + 1]);
      if (name.startsWith(METADATA_PREFIX)) {
        metadata.push([name.slice(METADATA_PREFIX.length), req.rawHeaders[i + 1]]);
      }
    }
  }
  const disposition = once.get('content-disposition');
  return {
    cacheControl: cacheControl(once.get('cache-control'), 'Cache-Control'),
    contentDisposition: disposition === undefined ? undefined : storedDisposition(nameFromDisposition(disposition)),
    metadata: userMetadata(metadata, 'header X-Meta-'),
  };
}

/** `POST /files` takes form fields, not headers: a browser sends `Cache-Control: no-cache` when its cache is off. */
export function parametersFromFields(fields: Readonly<Record<string, string>>, req: IncomingMessage): ObjectParameters {
  if (Object.keys(req.headers).some((name) => name.startsWith(METADATA_PREFIX))) {
    throw new BadRequestException('POST /files takes metadata as form fields x-meta-<name>, not as X-Meta-* headers');
  }
  const metadata = Object.entries(fields)
    .filter(([name]) => name.toLowerCase().startsWith(METADATA_PREFIX))
    .map(([name, value]): [string, string] => [name.slice(METADATA_PREFIX.length).toLowerCase(), value]);
  const { fileName } = fields;
  if (fileName !== undefined && !/^[^\u0000-\u001f\u007f]{1,255}$/u.test(fileName)) {
    throw new BadRequestException('form field fileName must be 1 to 255 characters, without control characters');
  }
  return {
    cacheControl: cacheControl(fields.cacheControl, 'form field cacheControl'),
    contentDisposition: fileName === undefined ? undefined : storedDisposition(fileName),
    metadata: userMetadata(metadata, 'form field x-meta-'),
  };
}

/** Trims spaces and tabs only (RFC 9110 OWS): a CR or LF anywhere stays, to be refused. */
const trimOws = (value: string): string => value.replace(/^[ \t]+|[ \t]+$/g, '');

/** Validates a `Cache-Control` to store; undefined stays undefined (the service default applies). */
export function cacheControl(value: string | undefined, what: string): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  const trimmed = trimOws(value);
  if (!isCacheControl(trimmed)) {
    throw new BadRequestException(
      `${what} must be a list of cache directives (RFC 9111, e.g. "public, max-age=3600") in printable ASCII, ` +
        `at most ${MAX_CACHE_CONTROL_LENGTH} characters`,
    );
  }
  return trimmed;
}

export function userMetadata(entries: readonly [string, string][], what: string): Record<string, string> | undefined {
  if (entries.length === 0) {
    return undefined;
  }
  if (entries.length > MAX_METADATA_ENTRIES) {
    throw new BadRequestException(`at most ${MAX_METADATA_ENTRIES} metadata entries (X-Meta-*) are allowed`);
  }
  const metadata: Record<string, string> = {};
  let bytes = 0;
  for (const [name, raw] of entries) {
    const refuse = (problem: string) =>
      new BadRequestException(`${what}${name.slice(0, MAX_METADATA_NAME)}: ${problem}`);
    if (!METADATA_NAME.test(name)) {
      throw refuse(`a metadata name is 1 to ${MAX_METADATA_NAME} of a-z, 0-9 and - (not at either end)`);
    }
    // Own keys only: `constructor` is a fine name, and `in` would find it on Object.prototype.
    if (RESERVED_METADATA.has(name) || Object.hasOwn(metadata, name)) {
      throw refuse(`this metadata name is ${RESERVED_METADATA.has(name) ? 'reserved' : 'repeated'}`);
    }
    const value = trimOws(raw);
    if (value === '' || !PRINTABLE_ASCII.test(value)) {
      throw refuse('a metadata value must be printable US-ASCII and not empty (percent-encode anything else)');
    }
    bytes += name.length + value.length;
    metadata[name] = value;
  }
  if (bytes > MAX_METADATA_BYTES) {
    throw new BadRequestException(`metadata names and values must fit in ${MAX_METADATA_BYTES} bytes together`);
  }
  return metadata;
}

/** The file name of a `Content-Disposition` request header (printable ASCII; UTF-8 names travel as `filename*`). */
function nameFromDisposition(header: string): string {
  const problem =
    'Content-Disposition must be `attachment` or `inline` with a filename, in printable ASCII ' +
    "(a UTF-8 name as filename*=UTF-8''<percent-encoded>)";
  const parsed = PRINTABLE_ASCII.test(header) && header.length <= 1024 ? parseDisposition(header) : undefined;
  const name = parsed?.parameters.filename;
  if ((parsed?.type !== 'attachment' && parsed?.type !== 'inline') || name === undefined || name.trim() === '') {
    throw new BadRequestException(problem);
  }
  return name;
}

function parseDisposition(header: string): ReturnType<typeof parseContentDisposition> | undefined {
  try {
    return parseContentDisposition(header);
  } catch {
    return undefined;
  }
}

/** Stored as an attachment with a safe name; GET decides inline or attachment itself, as for any object. */
export const storedDisposition = (name: string): string =>
  contentDisposition(sanitiseFileName(name), { type: 'attachment' });

/** The download name a stored `Content-Disposition` names, or undefined (none, or unreadable). */
export function storedFileName(disposition: string | undefined): string | undefined {
  const name = disposition ? parseDisposition(disposition)?.parameters.filename : undefined;
  return name ? withoutFormatCharacters(name) || undefined : undefined;
}

/** The stored metadata to serve as `X-Meta-*` headers: what this service would accept, nothing else. */
export function servedMetadata(metadata: Readonly<Record<string, string>> | undefined): [string, string][] {
  return Object.entries(metadata ?? {}).filter(
    ([name, value]) => !RESERVED_METADATA.has(name) && METADATA_NAME.test(name) && PRINTABLE_ASCII.test(value),
  );
}
