import { QUOTED, TOKEN } from '../config/s3-options.js';

// RFC 9110 8.3.1: media-type = type "/" subtype parameters; parameters = *( OWS ";" OWS [ parameter ] ).
// Written so that each space has one place to go: no backtracking blow-up on `a/b; ; ; ;…`.
const PARAMETERS = `(?:[ \\t]*;(?:[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED}))?)*[ \\t]*`;
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})(${PARAMETERS})$`);
const PARAMETER = new RegExp(`[ \\t]*;(?:[ \\t]*(${TOKEN})=(${TOKEN}|${QUOTED}))?`, 'y');
const IS_TOKEN = new RegExp(`^${TOKEN}$`);

/** Longer than any real media type; S3 keeps it as object metadata. */
export const MAX_MEDIA_TYPE_LENGTH = 255;

export interface MediaType {
  readonly essence: string;
  /** The canonical form to store and serve: `type/subtype; name=value` (names lowercase, `charset` value too). */
  readonly value: string;
}

/** Parses exactly one media type (no list, no comma outside a quoted string); returns the problem as a string. */
export function parseMediaType(header: string): MediaType | string {
  if (header.length > MAX_MEDIA_TYPE_LENGTH) {
    return `must be at most ${MAX_MEDIA_TYPE_LENGTH} characters`;
  }
  const match = MEDIA_TYPE.exec(header.replace(/^[ \t]+/, ''));
  if (!match) {
    return 'must be one media type such as text/plain; charset=utf-8 (type/subtype, optional parameters, no list)';
  }
  if (match[1] === '*' || match[2] === '*') {
    // A media range (what Accept lists), never the type of a body: `*/*` stored would be served back as-is.
    return 'must be a media type, not a wildcard such as */* or image/*';
  }
  const essence = `${match[1]}/${match[2]}`.toLowerCase();
  const parameters = new Map<string, string>();
  const rest = match[3];
  PARAMETER.lastIndex = 0;
  for (let found = PARAMETER.exec(rest); found; found = PARAMETER.exec(rest)) {
    const [, rawName, rawValue] = found;
    if (rawName === undefined) {
      continue; // an empty parameter, as `text/plain;` (allowed by the grammar)
    }
    const name = rawName.toLowerCase();
    if (parameters.has(name)) {
      return `must not repeat the parameter ${name}`;
    }
    const value = rawValue.startsWith('"') ? rawValue.slice(1, -1).replace(/\\(.)/g, '$1') : rawValue;
    // RFC 9110 8.3.2: charset names compare case-insensitively.
    parameters.set(name, name === 'charset' ? value.toLowerCase() : value);
  }
  const canonical = [...parameters].map(([name, value]) => `; ${name}=${quoteIfNeeded(value)}`).join('');
  return { essence, value: essence + canonical };
}

const quoteIfNeeded = (value: string): string =>
  IS_TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/** Types a browser may render inline; anything else (HTML, SVG, JS...) is always served as an attachment. */
const INLINE =
  /^(image\/(png|jpeg|gif|webp|avif|bmp)|video\/[^/]+|audio\/[^/]+|application\/pdf|text\/plain|application\/json)$/;

/** Types a browser runs as a document or script: HTML, XML (SVG, XHTML...), XSLT, JavaScript, and the like. */
const ACTIVE =
  /^(text\/html|[^/]+\/([^/]+\+)?xml|[^/]+\/xml-[^/]+|text\/xsl|[^/]+\/(x-)?(java|ecma|j|live)script[\d.]*|application\/x-shockwave-flash|multipart\/x-mixed-replace|message\/rfc822)$/;

/** Whether a browser may show this stored type (or one parsed already) inline; an unparsable one never. */
export function isInline(contentType: string | MediaType): boolean {
  const parsed = typeof contentType === 'string' ? parseMediaType(contentType) : contentType;
  return typeof parsed !== 'string' && INLINE.test(parsed.essence);
}

/** Whether this type is active content (runs script in a browser); an unparsable one counts as active. */
export function isActive(contentType: string): boolean {
  const parsed = parseMediaType(contentType);
  return typeof parsed === 'string' || ACTIVE.test(parsed.essence);
}
