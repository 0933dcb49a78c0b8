import { create as contentDisposition } from 'content-disposition';
import { isActive, isInline, parseMediaType } from './media-type.js';
import { downloadName } from './upload-name.js';

/**
 * Lifetime of the URL a download redirects to. The client follows it at once and S3 checks it only when a request
 * starts (a long transfer runs on past it); 5 minutes, as Rails Active Storage, leaves a media player's later range
 * requests to the same URL some room.
 */
export const REDIRECT_TTL_SECONDS = 300;

/**
 * What the presigned URL makes S3 answer with (`response-content-type`, `response-content-disposition`), decided as
 * a proxied download decides. S3 cannot send `nosniff` or a sandboxing CSP, so active content (or a type that does
 * not parse) is pinned to `application/octet-stream` and always an attachment; the type is pinned in every case, so
 * an overwrite between this HEAD and the client's GET cannot change how the browser treats it.
 */
export function redirectResponseHeaders(
  key: string,
  storedType: string,
  attachment: boolean,
  fileName = downloadName(key),
): { contentType: string; contentDisposition: string } {
  const { contentType, inline } = signedDownloadType(storedType, attachment);
  return {
    contentType,
    contentDisposition: contentDisposition(fileName, { type: inline ? 'inline' : 'attachment' }),
  };
}

/** The type a signed GET pins for an object of `storedType`, and whether the browser may show it inline. */
export function signedDownloadType(storedType: string, attachment: boolean): { contentType: string; inline: boolean } {
  const parsed = parseMediaType(storedType);
  const contentType = typeof parsed === 'object' && !isActive(parsed.value) ? parsed.value : 'application/octet-stream';
  return { contentType, inline: !attachment && isInline(contentType) };
}
