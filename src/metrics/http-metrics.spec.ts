import type { Request } from 'express';
import { routeLabel, toTemplate, transferKind, UNMATCHED_ROUTE } from './http-metrics.js';

const request = (route?: { path: unknown }, baseUrl = ''): Request => ({ route, baseUrl }) as unknown as Request;

describe(toTemplate.name, () => {
  it.each([
    ['/files/*key', '/files/{key}'],
    ['/files', '/files'],
    ['/files/:key/copy', '/files/{key}/copy'],
    ['/a/:id{/*rest}', '/a/{id}/{rest}'],
    ['', '/'],
  ])('should turn %s into %s', (path, template) => {
    expect(toTemplate(path)).toBe(template);
  });
});

describe(routeLabel.name, () => {
  it('should name the matched route by its template, never by the request path', () => {
    expect(routeLabel(request({ path: '/files/*key' }))).toBe('/files/{key}');
    expect(routeLabel(request({ path: '/*key' }, '/files'))).toBe('/files/{key}');
  });

  it('should give one fixed label to requests no route matched, and to catch-all middleware routes', () => {
    expect(routeLabel(request())).toBe(UNMATCHED_ROUTE);
    expect(routeLabel(request({ path: /regex/ }))).toBe(UNMATCHED_ROUTE);
    for (const path of ['/*splat', '/{*splat}', '*path', '{*path}']) {
      expect(routeLabel(request({ path }))).toBe(UNMATCHED_ROUTE);
    }
  });
});

describe(transferKind.name, () => {
  it.each([
    ['GET', '/files/a/b.bin', 'download'],
    ['GET', '/files/a.bin?download=1', 'download'],
    ['GET', '/files', undefined],
    ['GET', '/files?prefix=a', undefined],
    ['GET', '/files/', undefined],
    ['HEAD', '/files/a.bin', undefined],
    ['PUT', '/files/a.bin', 'upload'],
    ['POST', '/files', 'upload'],
    ['POST', '/files?key=a', 'upload'],
    ['POST', '/files/delete', undefined],
    ['POST', '/signed-urls', undefined],
    ['PATCH', '/uploads/abc', 'upload'],
    ['DELETE', '/files/a.bin', undefined],
  ])('should classify %s %s as %s', (method, url, kind) => {
    expect(transferKind(method, url)).toBe(kind);
  });
});
