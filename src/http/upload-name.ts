import { randomUUID } from 'node:crypto';
import type { Response } from 'express';

const UNSAFE = /[\u0000-\u001f\u007f-\u009f/\\:*?"<>|]/g;
/** Unicode format characters (category Cf): bidi overrides and isolates (U+202E...), zero-width marks, BOM. */
const FORMAT = /\p{Cf}/gu;
const MAX_NAME_BYTES = 200;

/** A file name fit for a key segment and a download: no path, no control or reserved characters, bounded. */
export function sanitiseFileName(name: string | undefined): string {
  const base = (name ?? '').split(/[/\\]/).pop() ?? '';
  let clean = withoutFormatCharacters(base.normalize('NFC'))
    .replace(UNSAFE, '_')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\.+/, '');
  // Whole code points (an emoji is two UTF-16 units; half of one would make encodeURIComponent throw).
  let bytes = 0;
  clean = Array.from(clean)
    .filter((char) => (bytes += Buffer.byteLength(char, 'utf8')) <= MAX_NAME_BYTES)
    .join('');
  return clean === '' ? 'file' : clean;
}

/** Drops invisible characters that make a name display as another (`invoice\u202Etxt.exe` shows as `invoiceexe.txt`). */
export function withoutFormatCharacters(name: string): string {
  return name.replace(FORMAT, '');
}

export function downloadName(key: string): string {
  return withoutFormatCharacters(key.split('/').pop() ?? '') || 'file';
}

/** A key that never collides with another upload and keeps the file name: `<uuid>/<name>`. */
export function generateKey(fileName: string | undefined): string {
  return `${randomUUID()}/${sanitiseFileName(fileName)}`;
}

export function fileLocation(key: string): string {
  return `/files/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** A write answers with the stored object's ETag, the one a later `If-Match` must name (none when S3 gave none). */
export function setStoredEtag(res: Response, etag: string): void {
  if (etag !== '') {
    res.setHeader('ETag', etag);
  }
}
