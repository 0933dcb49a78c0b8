import fc from 'fast-check';
import { isActive, isInline, parseMediaType } from './media-type.js';

describe(parseMediaType.name, () => {
  it.each([
    ['text/plain', 'text/plain'],
    ['Text/HTML', 'text/html'],
    ['text/html;charset=UTF-8', 'text/html; charset=utf-8'],
    ['text/html; charset="utf-8"', 'text/html; charset=utf-8'],
    ['Text/HTML;Charset="utf-8"', 'text/html; charset=utf-8'],
    ['text/html ; \tcharset=utf-8 ', 'text/html; charset=utf-8'],
    ['text/plain;', 'text/plain'],
    ['text/plain;;charset=utf-8; ', 'text/plain; charset=utf-8'],
    ['multipart/mixed; boundary="a b,c"', 'multipart/mixed; boundary="a b,c"'],
    ['application/x; q="a\\"b\\\\c"', 'application/x; q="a\\"b\\\\c"'],
    ['application/x; q="\\z"', 'application/x; q=z'],
    ["application/vnd.a+b!#$%&'*^_`|~-1; Name=Value", "application/vnd.a+b!#$%&'*^_`|~-1; name=Value"],
  ])('should read %j as %j (RFC 9110 8.3.1)', (header, value) => {
    expect(parseMediaType(header)).toEqual({ essence: value.split(';')[0], value });
  });

  it.each([
    ['a list', 'text/plain; charset=utf-8, text/html'],
    ['a comma in a parameter', 'image/png;a=b,text/html'],
    ['a list of types', 'text/plain, text/html'],
    ['no subtype', 'text'],
    ['an empty subtype', 'text/'],
    ['two slashes', 'text/plain/html'],
    ['a space in the type', 'text /plain'],
    ['a parameter without a value', 'text/plain; charset'],
    ['an empty parameter value', 'text/plain; charset='],
    ['spaces around =', 'text/plain; charset = utf-8'],
    ['an unterminated quoted string', 'text/plain; a="b'],
    ['text after a quoted string', 'text/plain; a="b"c'],
    ['a repeated parameter', 'text/plain; charset=utf-8; Charset=latin1'],
    ['a control character', 'text/plain;\u0000a=b'],
    ['a line break', 'text/plain\r\nX-Injected: 1'],
    ['non-ASCII', 'text/plain; a="é"'],
    ['nothing', ''],
    ['over 255 characters', `text/plain; a=${'b'.repeat(250)}`],
    ['the wildcard */*', '*/*'],
    ['a wildcard subtype', 'image/*'],
    ['a wildcard type', '*/json; charset=utf-8'],
  ])('should refuse %s', (_why, header) => {
    expect(parseMediaType(header)).toEqual(expect.any(String));
  });

  it('should refuse a long run of empty parameters quickly (no catastrophic backtracking)', () => {
    const started = performance.now();
    expect(parseMediaType(`a/b${'; \t'.repeat(80)}x`)).toEqual(expect.any(String));
    expect(parseMediaType(`a/b${' ;'.repeat(120)}`)).toEqual({ essence: 'a/b', value: 'a/b' });
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('should give a value that parses back to itself', () => {
    const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,8}$/).filter((t) => t !== '*');
    const value = fc.oneof(
      token,
      fc.string({ unit: fc.constantFrom('a', ' ', '"', '\\', ',', ';', '='), maxLength: 8 }),
    );
    const header = fc
      .tuple(token, token, fc.uniqueArray(fc.tuple(token, value), { maxLength: 3, selector: ([n]) => n.toLowerCase() }))
      .map(([t, s, params]) =>
        [`${t}/${s}`, ...params.map(([n, v]) => `${n}="${v.replace(/["\\]/g, (c) => `\\${c}`)}"`)].join(';'),
      );
    fc.assert(
      fc.property(header, (h) => {
        const first = parseMediaType(h);
        expect(typeof first).toBe('object');
        const value = (first as { value: string }).value;
        expect(parseMediaType(value)).toEqual(first);
        expect(value.split(';')[0]).toBe(value.split(';')[0].toLowerCase());
      }),
      { numRuns: 300 },
    );
  });
});

describe(isInline.name, () => {
  it.each([
    ['image/png', true],
    ['IMAGE/PNG; x=y', true],
    ['text/plain; charset=utf-8', true],
    ['video/mp4', true],
    ['application/json', true],
    ['text/html', false],
    ['image/svg+xml', false],
    ['text/plain; charset=utf-8, text/html', false],
    ['image/png;a=b,text/html', false],
    ['application/octet-stream', false],
  ])('should say %j is inline: %s', (type, inline) => {
    expect(isInline(type)).toBe(inline);
  });
});

describe(isActive.name, () => {
  it.each([
    'text/html',
    'TEXT/HTML; charset=utf-8',
    'application/xhtml+xml',
    'image/svg+xml',
    'text/xml',
    'application/xml',
    'application/rss+xml',
    'application/xml-dtd',
    'text/xsl',
    'text/javascript',
    'application/javascript',
    'application/x-javascript',
    'text/ecmascript',
    'text/javascript1.5',
    'text/jscript',
    'application/x-shockwave-flash',
    'multipart/x-mixed-replace; boundary=x',
    'text/plain, text/html',
  ])('should count %j as active content', (type) => {
    expect(isActive(type)).toBe(true);
  });

  it.each([
    'image/png',
    'text/plain',
    'text/csv',
    'application/json',
    'application/pdf',
    'application/zip',
    'video/mp4',
  ])('should not count %j as active content', (type) => {
    expect(isActive(type)).toBe(false);
  });
});
