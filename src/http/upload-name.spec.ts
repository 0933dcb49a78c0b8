import { downloadName, fileLocation, generateKey, sanitiseFileName } from './upload-name.js';

describe(sanitiseFileName.name, () => {
  it.each([
    ['report.pdf', 'report.pdf'],
    ['C:\\Users\\me\\report.pdf', 'report.pdf'],
    ['../../etc/passwd', 'passwd'],
    ['a\r\nb.txt', 'a__b.txt'],
    ['"quoted".txt', '_quoted_.txt'],
    ['..', 'file'],
    ['.env', 'env'],
    ['', 'file'],
    [undefined, 'file'],
    ['invoice\u202Etxt.exe', 'invoicetxt.exe'],
    ['\u200Ba\u2066b\uFEFF.txt', 'ab.txt'],
    ['\u202E', 'file'],
  ])('should turn %j into %j', (name, clean) => {
    expect(sanitiseFileName(name)).toBe(clean);
  });

  it('should bound the name to 200 UTF-8 bytes', () => {
    expect(Buffer.byteLength(sanitiseFileName('é'.repeat(300)))).toBeLessThanOrEqual(200);
  });

  it('should cut a long name between characters, never inside an emoji', () => {
    const name = sanitiseFileName('a'.repeat(197) + '😀😀');
    expect(name).toBe('a'.repeat(197));
    expect(() => fileLocation(generateKey(name))).not.toThrow();
    expect(sanitiseFileName('a'.repeat(196) + '😀😀')).toBe('a'.repeat(196) + '😀');
  });
});

describe(generateKey.name, () => {
  it('should keep the file name under a unique folder', () => {
    const a = generateKey('photo.jpg');
    expect(a).toMatch(/^[0-9a-f-]{36}\/photo\.jpg$/);
    expect(generateKey('photo.jpg')).not.toBe(a);
  });
});

describe(fileLocation.name, () => {
  it('should encode each segment and keep the slashes', () => {
    expect(fileLocation('photos/2026/a b#?.jpg')).toBe('/files/photos/2026/a%20b%23%3F.jpg');
  });
});

describe(downloadName.name, () => {
  it.each([
    ['a/b/report.pdf', 'report.pdf'],
    ['evil\u202Egpj.exe', 'evilgpj.exe'],
    ['a/\u2066\u2069', 'file'],
  ])('should offer %j as %j', (key, name) => {
    expect(downloadName(key)).toBe(name);
  });
});
