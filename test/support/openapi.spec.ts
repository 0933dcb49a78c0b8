import { assertMatchesOpenApi, type ObservedResponse } from './openapi.js';

const stored = { key: 'a/b.txt', size: 1, contentType: 'text/plain', etag: '"x"' };
const objectHeaders = {
  'content-type': 'text/plain',
  'content-length': '1',
  etag: '"x"',
  'last-modified': 'Mon, 23 Nov 2026 10:00:00 GMT',
  'accept-ranges': 'bytes',
  'content-disposition': 'inline; filename="b.txt"',
  'content-security-policy': "default-src 'none'; sandbox",
  'x-content-type-options': 'nosniff',
};

const response = (overrides: Partial<ObservedResponse>): ObservedResponse => ({
  method: 'PUT',
  path: '/files/a/b.txt',
  status: 200,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  json: stored,
  hasBody: true,
  ...overrides,
});

describe(assertMatchesOpenApi.name, () => {
  it('should accept responses as documented', () => {
    expect(() => assertMatchesOpenApi(response({}))).not.toThrow();
    expect(() =>
      assertMatchesOpenApi(response({ method: 'GET', path: '/files/a%20b/c.txt?download=1', headers: objectHeaders })),
    ).not.toThrow();
    expect(() =>
      assertMatchesOpenApi(
        response({ method: 'GET', path: '/files?limit=1', json: { items: [], prefixes: [], nextCursor: null } }),
      ),
    ).not.toThrow();
    expect(() =>
      assertMatchesOpenApi(response({ method: 'HEAD', status: 404, headers: {}, json: undefined, hasBody: false })),
    ).not.toThrow();
  });

  it.each<[string, Partial<ObservedResponse>, RegExp]>([
    ['an undocumented route', { path: '/nope' }, /not in openapi.json/],
    ['an undocumented method', { method: 'PATCH' }, /not in openapi.json/],
    ['an undeclared status', { status: 418 }, /status not declared/],
    ['a missing required header', { status: 201 }, /required header Location/],
    [
      'a header that breaks its schema',
      { status: 201, headers: { 'content-type': 'application/json', location: '/x' } },
      /header Location/,
    ],
    ['a body missing a property', { json: { key: 'a' } }, /must have required property/],
    ['a property of the wrong type', { json: { ...stored, size: '1' } }, /must be integer/],
    ['an undeclared media type', { headers: { 'content-type': 'text/html' } }, /Content-Type text\/html/],
    [
      'a body where none is declared',
      { method: 'DELETE', status: 204, headers: {}, hasBody: true },
      /none is declared/,
    ],
    ['an error body not shaped as ErrorResponse', { status: 400, json: { message: 'x' } }, /statusCode/],
    [
      'null where not nullable',
      { method: 'GET', path: '/files', json: { items: null, prefixes: [], nextCursor: null } },
      /items/,
    ],
  ])('should reject %s', (_name, overrides, reason) => {
    expect(() => assertMatchesOpenApi(response(overrides))).toThrow(reason);
  });
});
