import { randomUUID } from 'node:crypto';

const UNSAFE = /[\u0000-\u001f\u007f-\u009f/\\:*?"<>|]/g;
const MAX_NAME_BYTES = 200;

/** A file name fit for a key segment and a download: no path, no control or reserved characters, bounded. */
export function sanitiseFileName(name: string | undefined): string {
  const base = (name ?? '').split(/[/\\]/).pop() ?? '';
  let clean = base.normalize('NFC').replace(UNSAFE, '_').replace(/\s+/g, ' ').trim().replace(/^\.+/, '');
  while (Buffer.byteLength(clean, 'utf8') > MAX_NAME_BYTES) {
    clean = clean.slice(0, -1);
  }
  return clean === '' ? 'file' : clean;
}

/** A key that never collides with another upload and keeps the file name: `<uuid>/<name>`. */
export function generateKey(fileName: string | undefined): string {
  return `${randomUUID()}/${sanitiseFileName(fileName)}`;
}

/** The path of a key under /files, each segment percent-encoded and `/` kept. */
export function fileLocation(key: string): string {
  return `/files/${key.split('/').map(encodeURIComponent).join('/')}`;
}
