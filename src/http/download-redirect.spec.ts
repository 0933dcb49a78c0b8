import type { Request } from 'express';
import { downloadOptions, parseFlag } from './download-options.js';
import { redirectResponseHeaders } from './download-redirect.js';
import { downloadName } from './upload-name.js';

describe(parseFlag.name, () => {
  it.each([
    [undefined, undefined],
    ['1', true],
    ['true', true],
    ['0', false],
    ['false', false],
  ])('should read %j as %j', (value, expected) => {
    expect(parseFlag('download', value)).toBe(expected);
  });

  it.each(['', 'yes', 'TRUE', ' 1', '2', ['1', '1']])('should refuse %j with a 400 naming the values', (value) => {
    expect(() => parseFlag('redirect', value)).toThrow('redirect must be one of 1, true, 0, false');
  });
});

describe(downloadOptions.name, () => {
  const req = (query: Record<string, string>, headers: Record<string, string> = {}) =>
    ({ query, headers }) as unknown as Request;

  it('should follow DOWNLOAD_MODE unless redirect says otherwise', () => {
    expect(downloadOptions(req({}), 'proxy')).toEqual({ attachment: false, redirect: false });
    expect(downloadOptions(req({}), 'redirect')).toEqual({ attachment: false, redirect: true });
    expect(downloadOptions(req({ redirect: '0', download: '1' }), 'redirect')).toEqual({
      attachment: true,
      redirect: false,
    });
    expect(downloadOptions(req({ redirect: 'true' }), 'proxy').redirect).toBe(true);
  });

  it('should stream a resumed download (Range with If-Range), and only that', () => {
    expect(downloadOptions(req({ redirect: '1' }, { range: 'bytes=5-', 'if-range': '"e"' }), 'proxy').redirect).toBe(
      false,
    );
    expect(downloadOptions(req({ redirect: '1' }, { range: 'bytes=5-' }), 'proxy').redirect).toBe(true);
    expect(downloadOptions(req({ redirect: '1' }, { 'if-range': '"e"' }), 'proxy').redirect).toBe(true);
  });
});

describe(redirectResponseHeaders.name, () => {
  it.each([
    ['image/png', false, 'image/png', 'inline; filename=a.bin'],
    ['Text/Plain; Charset=UTF-8', false, 'text/plain; charset=utf-8', 'inline; filename=a.bin'],
    ['image/png', true, 'image/png', 'attachment; filename=a.bin'],
    ['application/zip', false, 'application/zip', 'attachment; filename=a.bin'],
    ['text/html', false, 'application/octet-stream', 'attachment; filename=a.bin'],
    ['image/svg+xml', false, 'application/octet-stream', 'attachment; filename=a.bin'],
    ['text/plain, text/html', false, 'application/octet-stream', 'attachment; filename=a.bin'],
    ['*/*', false, 'application/octet-stream', 'attachment; filename=a.bin'],
  ])('should make S3 answer a stored %j (download=%j) as %j, %j', (stored, attachment, type, disposition) => {
    expect(redirectResponseHeaders(stored, attachment, 'a.bin')).toEqual({
      contentType: type,
      contentDisposition: disposition,
    });
  });

  it('should name the attachment after the last key segment, without format characters', () => {
    expect(redirectResponseHeaders('text/html', false, downloadName('d/invoice\u202Etxt.exe')).contentDisposition).toBe(
      'attachment; filename=invoicetxt.exe',
    );
  });
});
