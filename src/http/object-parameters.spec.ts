import type { IncomingMessage } from 'node:http';
import { BadRequestException } from '@nestjs/common';
import { isCacheControl } from '../config/s3-options.js';
import { writeHeaders, writeParameters } from '../storage/object-settings.js';
import {
  parametersFromFields,
  parametersFromHeaders,
  servedMetadata,
  storedFileName,
  userMetadata,
} from './object-parameters.js';

const request = (...rawHeaders: string[]): IncomingMessage => {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    headers[rawHeaders[i].toLowerCase()] = rawHeaders[i + 1];
  }
  return { rawHeaders, headers } as unknown as IncomingMessage;
};

describe(isCacheControl.name, () => {
  it.each([
    'no-store',
    'public, max-age=31536000, immutable',
    'private,max-age=0',
    'max-age=60 ,  s-maxage=120',
    'no-cache="Set-Cookie, X-Meta-Owner"',
    'ext="a \\" quote"',
  ])('should accept %j', (value) => {
    expect(isCacheControl(value)).toBe(true);
  });

  it.each([
    '',
    ',',
    'max-age=60,',
    'max-age=60;',
    'max-age=',
    'a b',
    'a="unterminated',
    'a\r\nSet-Cookie: x=1',
    'caf\u00e9',
    `max-age=${'9'.repeat(600)}`,
  ])('should refuse %j', (value) => {
    expect(isCacheControl(value)).toBe(false);
  });
});

describe(parametersFromHeaders.name, () => {
  it('should read Cache-Control, the file name and X-Meta-* in any case, trimmed', () => {
    expect(
      parametersFromHeaders(
        request(
          'Cache-Control',
          ' no-cache ',
          'Content-Disposition',
          `inline; filename*=UTF-8''%E2%82%AC%20rates.pdf`,
          'X-Meta-Owner',
          '42 ',
          'x-meta-a-b',
          'c d',
          'Content-Type',
          'text/plain',
        ),
      ),
    ).toEqual({
      cacheControl: 'no-cache',
      contentDisposition: `attachment; filename="? rates.pdf"; filename*=UTF-8''%E2%82%AC%20rates.pdf`,
      metadata: { owner: '42', 'a-b': 'c d' },
    });
  });

  it('should leave everything unset when none is sent', () => {
    expect(parametersFromHeaders(request('Content-Type', 'text/plain'))).toEqual({
      cacheControl: undefined,
      contentDisposition: undefined,
      metadata: undefined,
    });
  });

  it('should sanitise the file name as an upload name: no path, no format characters', () => {
    const { contentDisposition } = parametersFromHeaders(
      request('Content-Disposition', `attachment; filename*=UTF-8''..%2F..%2Fetc%2Finvoice%E2%80%AEtxt.exe`),
    );
    expect(contentDisposition).toBe('attachment; filename=invoicetxt.exe');
    expect(storedFileName(`attachment; filename*=UTF-8''invoice%E2%80%AEtxt.exe`)).toBe('invoicetxt.exe');
  });

  it.each([
    [['Cache-Control', 'a', 'cache-control', 'b'], /once/],
    [['Content-Disposition', 'attachment; filename=a', 'Content-Disposition', 'inline; filename=b'], /once/],
    [['X-Meta-A', '1', 'x-meta-a', '2'], /once/],
    [['Content-Disposition', 'attachment; filename=""'], /filename/],
    [['Content-Disposition', '; filename=a'], /filename/],
    [['X-Meta-', '1'], /a-z/],
    [['X-Meta-' + 'a'.repeat(65), '1'], /a-z/],
    [['X-Meta-A\u00e9', '1'], /a-z/],
    [['X-Meta-A', 'line\nbreak'], /US-ASCII/],
  ])('should refuse %j with a 400', (headers, message) => {
    expect(() => parametersFromHeaders(request(...headers))).toThrow(message);
    expect(() => parametersFromHeaders(request(...headers))).toThrow(BadRequestException);
  });
});

describe(parametersFromFields.name, () => {
  it('should read the cacheControl, fileName and x-meta-* fields', () => {
    expect(
      parametersFromFields({ key: 'k', cacheControl: 'no-store', fileName: 'a/b.txt', 'X-Meta-Owner': '1' }, request()),
    ).toEqual({
      cacheControl: 'no-store',
      contentDisposition: 'attachment; filename=b.txt',
      metadata: { owner: '1' },
    });
  });

  it('should point X-Meta-* headers on a form to the fields', () => {
    expect(() => parametersFromFields({}, request('X-Meta-Owner', '1'))).toThrow(/form fields/);
  });
});

describe(userMetadata.name, () => {
  it('should allow 10 entries and 1024 bytes, and no more', () => {
    const ten = Array.from({ length: 10 }, (_, i): [string, string] => [`m${i}`, 'v'.repeat(100)]);
    expect(Object.keys(userMetadata(ten, '')!)).toHaveLength(10);
    expect(() => userMetadata([...ten, ['m10', 'v']], '')).toThrow(/at most 10/);
    const sized = (bytes: number): [string, string][] => [['a', 'v'.repeat(bytes - 1)]];
    expect(userMetadata(sized(1024), '')).toBeDefined();
    expect(() => userMetadata(sized(1025), '')).toThrow(/1024 bytes/);
  });

  it('should refuse a name written twice or the service marker', () => {
    expect(() => userMetadata([['upload-marker', 'x']], '')).toThrow(/reserved/);
    expect(() =>
      userMetadata(
        [
          ['a', '1'],
          ['a', '2'],
        ],
        '',
      ),
    ).toThrow(/repeated/);
  });

  it('should take a name that Object.prototype has (constructor) as any other', () => {
    expect(userMetadata([['constructor', 'x']], '')).toEqual({ constructor: 'x' });
    expect(() =>
      userMetadata(
        [
          ['constructor', '1'],
          ['constructor', '2'],
        ],
        '',
      ),
    ).toThrow(/repeated/);
  });
});

describe(servedMetadata.name, () => {
  it('should serve only what it would accept (metadata written by other tools may not be header-safe)', () => {
    expect(
      servedMetadata({ owner: '1', 'upload-marker': 'uuid', Bad_Name: 'x', city: 'Z\u00fcrich', 'x\r\ny': '1' }),
    ).toEqual([['owner', '1']]);
  });
});

describe(writeParameters.name, () => {
  const settings = {
    sse: 'aws:kms',
    sseKmsKeyId: 'alias/files',
    storageClass: 'STANDARD_IA',
    defaultCacheControl: 'private, max-age=60',
  } as const;

  it('should apply the default Cache-Control unless the upload names one', () => {
    expect(writeParameters(settings)).toEqual({
      CacheControl: 'private, max-age=60',
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'alias/files',
      StorageClass: 'STANDARD_IA',
    });
    expect(writeParameters(settings, { cacheControl: 'no-store' }).CacheControl).toBe('no-store');
  });

  it('should send a KMS key only with SSE-KMS, and nothing when nothing is set', () => {
    expect(writeParameters({ sse: 'AES256', sseKmsKeyId: 'k' })).toEqual({ ServerSideEncryption: 'AES256' });
    expect(writeParameters({})).toEqual({});
  });

  it('should name the same parameters as S3 headers', () => {
    expect(writeHeaders(settings, { contentDisposition: 'attachment; filename=a', metadata: { owner: '1' } })).toEqual({
      'Cache-Control': 'private, max-age=60',
      'Content-Disposition': 'attachment; filename=a',
      'x-amz-meta-owner': '1',
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': 'alias/files',
      'x-amz-storage-class': 'STANDARD_IA',
    });
  });
});
