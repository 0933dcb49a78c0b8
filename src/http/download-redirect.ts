import { create as contentDisposition } from 'content-disposition';
import { isActive, isInline, parseMediaType } from './media-type.js';

/** Lifetime of a download's redirect URL: 5 minutes, as Rails Active Storage, leave a media player's ranges room. */
export const REDIRECT_TTL_SECONDS = 300;

/**
 * A presigned GET's type and disposition. S3 sends no `nosniff` or CSP, so active content goes as an octet-stream
 * attachment; the type is always pinned, so an overwrite after this HEAD cannot change how the browser treats it.
 */
export function redirectResponseHeaders(storedType: string, attachment: boolean, fileName: string) {
  const { contentType, inline } = signedDownloadType(storedType, attachment);
  return {
    contentType,
    contentDisposition: contentDisposition(fileName, { type: inline ? 'inline' : 'attachment' }),
  };
}

export function signedDownloadType(storedType: string, attachment: boolean): { contentType: string; inline: boolean } {
  const parsed = parseMediaType(storedType);
  const contentType = typeof parsed === 'object' && !isActive(parsed.value) ? parsed.value : 'application/octet-stream';
  return { contentType, inline: !attachment && isInline(contentType) };
}
