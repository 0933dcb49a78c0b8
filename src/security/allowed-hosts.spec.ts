import { hostDomain, hostRefusal, isAllowedDomain } from './allowed-hosts.js';

describe(hostDomain.name, () => {
  it.each([
    ['example.com', 'example.com'],
    ['EXAMPLE.com', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com.:443', 'example.com'],
    ['10.0.1.25', '10.0.1.25'],
    ['10.0.1.25:80', '10.0.1.25'],
    ['[::1]', '[::1]'],
    ['[::1]:3000', '[::1]'],
    ['[2001:DB8::1]:443', '[2001:db8::1]'],
    ['[::ffff:10.0.0.1]', '[::ffff:10.0.0.1]'],
  ])('should parse %j as %j', (host, domain) => {
    expect(hostDomain(host)).toBe(domain);
  });

  it.each([
    ['an empty value', ''],
    ['a user part', 'user@example.com'],
    ['an underscore', 'my_host.example.com'],
    ['a space', 'example.com evil.com'],
    ['a path', 'example.com/path'],
    ['a comma list', 'example.com,evil.com'],
    ['a bad port', 'example.com:http'],
    ['an unbracketed IPv6 address', '::1'],
    ['a bracketed non-address', '[example.com]'],
    ['a non-ASCII name', 'exämple.com'],
  ])('should reject %s', (_name, host) => {
    expect(hostDomain(host)).toBeUndefined();
  });
});

describe(isAllowedDomain.name, () => {
  it.each<[string, string[], boolean]>([
    ['api.example.com', ['api.example.com'], true],
    ['api.example.com', ['API.Example.com'], true],
    ['www.example.com', ['api.example.com'], false],
    ['example.com', ['.example.com'], true],
    ['api.example.com', ['.example.com'], true],
    ['a.b.example.com', ['.example.com'], true],
    ['badexample.com', ['.example.com'], false],
    ['example.com.evil.org', ['.example.com'], false],
    ['example.com', ['example.com.'], false],
    ['anything.org', ['*'], true],
    ['anything.org', ['*.org'], false],
    ['10.0.1.25', ['10.0.1.25'], true],
    ['10.0.1.250', ['10.0.1.25'], false],
    ['[::1]', ['[::1]'], true],
    ['[::1]', ['::1'], false],
    ['example.com', [''], false],
    ['example.com', [], false],
  ])('should say %j against %j is %s', (domain, patterns, allowed) => {
    expect(isAllowedDomain(domain, patterns)).toBe(allowed);
  });
});

describe(hostRefusal.name, () => {
  const patterns = ['api.example.com', '.files.example.org', '10.0.1.25'];
  const only = (host: string) => ({ hostHeaders: [host], target: '/' });

  it.each([
    ['api.example.com'],
    ['API.EXAMPLE.COM:443'],
    ['api.example.com.'],
    ['files.example.org'],
    ['eu.files.example.org:8443'],
    ['10.0.1.25'],
    ['10.0.1.25:80'],
  ])('should allow %j', (host) => {
    expect(hostRefusal(only(host), patterns)).toBeUndefined();
  });

  it.each([
    ['the load balancer public IP', '52.1.2.3'],
    ['an EB CNAME not listed', 'my-env.us-east-1.elasticbeanstalk.com'],
    ['a lookalike', 'api.example.com.evil.org'],
    ['another private IP', '10.0.1.26'],
  ])('should refuse %s and name it', (_name, host) => {
    expect(hostRefusal(only(host), patterns)).toEqual({ domain: host, reason: expect.stringContaining(`"${host}"`) });
  });

  it.each([
    ['missing', { hostHeaders: [], target: '/' }],
    ['malformed', only('api.example.com:80:80')],
    ['only a port', only(':80')],
  ])('should refuse a %s Host without echoing it', (_name, sources) => {
    expect(hostRefusal(sources, ['*'])).toEqual({
      domain: '(malformed)',
      reason: 'Invalid Host header: the domain name provided is not valid according to RFC 1034/1035',
    });
  });

  // Which values are checked: refusing any one of them refuses the request, allowing all of them lets it through.
  it.each<[string, Parameters<typeof hostRefusal>[0], string[]]>([
    ['the one Host', { hostHeaders: ['a.example'], target: '/files' }, ['a.example']],
    ['no Host as empty', { hostHeaders: [], target: '/files' }, ['']],
    [
      'the authority of an absolute target too',
      { hostHeaders: ['a.example'], target: 'http://b.example/x' },
      ['a.example', 'b.example'],
    ],
    ['an empty authority', { hostHeaders: ['a.example'], target: 'http:///x' }, ['a.example', '']],
    [
      'a believed X-Forwarded-Host instead of Host',
      { hostHeaders: ['10.0.0.5'], target: '/', forwardedHost: 'a.example' },
      ['a.example'],
    ],
    [
      'its right-most value',
      { hostHeaders: ['h'], target: '/', forwardedHost: 'evil.example, a.example' },
      ['a.example'],
    ],
    ['an empty right-most value', { hostHeaders: ['h'], target: '/', forwardedHost: 'a.example,' }, ['']],
  ])('should check %s', (_name, sources, hosts) => {
    for (const host of hosts) {
      const others = hosts.filter((other) => other !== host);
      expect(hostRefusal(sources, others)).toMatchObject({ domain: host === '' ? '(malformed)' : host });
    }
    if (!hosts.includes('')) {
      expect(hostRefusal(sources, hosts)).toBeUndefined();
    }
  });

  it('should refuse two Host headers, even equal ones', () => {
    expect(hostRefusal({ hostHeaders: ['a.example', 'a.example'], target: '/' }, ['*'])).toEqual({
      domain: '(several)',
      reason: expect.stringMatching(/exactly one Host/),
    });
  });
});
