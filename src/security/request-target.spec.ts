import { requestTargetProblem } from './request-target.js';

describe(requestTargetProblem.name, () => {
  it.each([
    '/files',
    '/files/a%20b/c%2Fd.txt',
    '/files/a+b.txt',
    '/files?prefix=a%2Fb&limit=10&cursor=abc.def',
    '/files?download',
    '/files?a=1&&b=2',
    '/files?key=%C3%A9',
    'http://files.example.com/files?x=1',
  ])('should accept %j', (target) => {
    expect(requestTargetProblem(target)).toBeUndefined();
  });

  it.each([
    ['/files/a%E0%A4%A', /path is not valid/],
    ['/files/%C0%AE%C0%AE', /path is not valid/],
    ['/files/a%ZZ', /path is not valid/],
    ['/files?prefix=%E0%A4%A', /query string is not valid/],
    ['/files?%FF=1', /query string is not valid/],
    ['/files?key=a&key=b', /^query parameter "key" is given more than once$/],
    ['/files?key=a&%6Bey=b', /^query parameter "key" is given more than once$/],
    ['/files?x&x', /^query parameter "x" is given more than once$/],
    ['/files?%3Cb%3E=1&%3Cb%3E=2', /^a query parameter is given more than once$/],
  ])('should refuse %j', (target, message) => {
    expect(requestTargetProblem(target)).toMatch(message);
  });

  it('should never quote undecodable input', () => {
    expect(requestTargetProblem('/files?%E0%A4%A=1&%E0%A4%A=2')).not.toMatch(/%|\ufffd/);
  });
});
