import { createHash } from 'node:crypto';

/** Never logged: upload-session tokens (irrevocable for up to 24 h) however spelled, and S3 signatures in a query. */
const SESSION_SEGMENT = /(\/upload-sessions\/)([^/?#"\\\s]+)/gi;
const TOKEN = /(?<![\w%-])us1(?:\.|%2e)[\w%-]+(?:\.|%2e)[\w%-]+/gi;
const SIGNED_QUERY = /((?:X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId)=)[^&#"\\\s]+/gi;

/** A cheap test first: most log lines have none of these. */
const SUSPECT = /us1|upload-sessions|signature|credential|security-token|awsaccesskeyid/i;

/** A token's stable short name, to correlate lines: `printf %s "$TOKEN" | sha256sum | cut -c1-8` (percent-decoded). */
export function tokenFingerprint(token: string): string {
  let decoded = token;
  try {
    decoded = decodeURIComponent(token);
  } catch {
    // A malformed escape: fingerprint what was sent.
  }
  return createHash('sha256').update(decoded).digest('hex').slice(0, 8);
}

const redactedToken = (token: string): string => `us1.…#${tokenFingerprint(token)}`;

/** The text with every upload-session token and URL signature replaced (a token by its fingerprint). */
export function redactCapabilities(text: string): string {
  if (!SUSPECT.test(text)) {
    return text;
  }
  return text
    .replace(SESSION_SEGMENT, (_match, route: string, token: string) => route + redactedToken(token))
    .replace(TOKEN, redactedToken)
    .replace(SIGNED_QUERY, '$1[redacted]');
}
