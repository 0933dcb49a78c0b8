/** Django's Host grammar, checked before any pattern: a name or bracketed IPv6 literal, then an optional port. */
const HOST_GRAMMAR = /^([a-z0-9.-]+|\[[a-f0-9]*:[a-f0-9.:]+\])(?::([0-9]+))?$/;

/** The domain part of a Host header value (lower case, no port, no trailing dot), or undefined if malformed. */
export function hostDomain(host: string): string | undefined {
  const domain = HOST_GRAMMAR.exec(host.toLowerCase())?.[1];
  return domain?.endsWith('.') ? domain.slice(0, -1) : domain;
}

/** Django's `validate_host` and `is_same_domain`, for a non-empty domain parsed by `hostDomain`. */
export function isAllowedDomain(domain: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => {
    const p = pattern.toLowerCase();
    return p === '*' || p === domain || (p.startsWith('.') && (domain.endsWith(p) || domain === p.slice(1)));
  });
}

/** The authority of an absolute-form request target (`GET http://host/path`), or undefined for origin-form. */
const ABSOLUTE_TARGET = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i;

/**
 * Why a request's Host is refused, with the domain to log it under, or undefined: its one `Host` (or the right-most,
 * proxy appended, `X-Forwarded-Host` when believed) and the authority of an absolute-form target must be allowed.
 */
export function hostRefusal(
  sources: { hostHeaders: readonly string[]; target: string; forwardedHost?: string },
  patterns: readonly string[],
) {
  if (sources.hostHeaders.length > 1) {
    return { domain: '(several)', reason: 'Invalid Host header: a request must have exactly one Host header' };
  }
  const forwarded = sources.forwardedHost?.split(',').at(-1)?.trim();
  const hosts = [sources.forwardedHost === undefined ? (sources.hostHeaders[0] ?? '') : (forwarded ?? '')];
  const authority = ABSOLUTE_TARGET.exec(sources.target);
  if (authority) {
    hosts.push(authority[1]);
  }
  for (const domain of hosts.map((host) => hostDomain(host))) {
    if (!domain) {
      const reason = 'Invalid Host header: the domain name provided is not valid according to RFC 1034/1035';
      return { domain: '(malformed)', reason };
    }
    if (!isAllowedDomain(domain, patterns)) {
      const shown = JSON.stringify(domain.slice(0, 255));
      return { domain, reason: `Invalid Host header ${shown}: it is not in ALLOWED_HOSTS` };
    }
  }
  return undefined;
}
