import { fileContentType } from './multipart-upload.js';

const B = 'xyz';
const part = (headers: string[], data = 'data') => `--${B}\r\n${headers.join('\r\n')}\r\n\r\n${data}\r\n`;

describe(fileContentType.name, () => {
  it.each([
    [
      'the file part among fields',
      part(['Content-Disposition: form-data; name="key"'], 'a/b') +
        part(['Content-Disposition: form-data; name="file"; filename="a"', 'Content-Type: image/png']),
      'image/png',
    ],
    [
      'any header case and spacing',
      part(['content-disposition: form-data; name=file; filename="a"', 'CONTENT-TYPE:   text/plain; charset=utf-8']),
      'text/plain; charset=utf-8',
    ],
    [
      'two Content-Type headers, joined as a list',
      part(['Content-Disposition: form-data; name="file"', 'Content-Type: image/png', 'Content-Type: text/html']),
      'image/png, text/html',
    ],
    ['no Content-Type', part(['Content-Disposition: form-data; name="file"; filename="a"']), undefined],
    [
      'only a field named like it',
      part(['Content-Disposition: form-data; name="files"', 'Content-Type: text/html']),
      undefined,
    ],
    [
      'headers not yet complete',
      `--${B}\r\nContent-Disposition: form-data; name="file"\r\nContent-Type: image/gif`,
      'image/gif',
    ],
    [
      'a preamble that mentions the boundary',
      `preamble --${B}x\r\n` + part(['Content-Disposition: form-data; name="file"', 'Content-Type: image/jpeg']),
      'image/jpeg',
    ],
  ])('should read %s', (_what, raw, expected) => {
    expect(fileContentType(raw, B)).toBe(expected);
  });
});
