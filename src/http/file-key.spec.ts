import { BadRequestException, UnauthorizedException } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { AppConfig } from '../config/app-config.js';
import { decodeKey, isPublicKey, keyInPath, KeyPipe, keyProblem, ReadKeyPipe } from './file-key.js';

/** A path key through the route's decoding and `KeyPipe`, with an `S3_PREFIX` of `prefixBytes` bytes. */
const parseKey = (path: string, prefixBytes: number): string =>
  new KeyPipe({ s3: { prefix: 'p'.repeat(prefixBytes) } } as AppConfig).transform(decodeKey(path));

describe(KeyPipe.name, () => {
  it.each([
    ['photo.jpg', 'photo.jpg'],
    ['photos/2026/a%20b.jpg', 'photos/2026/a b.jpg'],
    ['dir%2Fname.txt', 'dir/name.txt'],
    ['%252e%252e', '%2e%2e'], // decoded exactly once
    ['caf%C3%A9.txt', 'café.txt'],
    ['...hidden', '...hidden'],
    ['a.b/c..d', 'a.b/c..d'],
    ['.tusk/a', '.tusk/a'],
    ['a/.tus/b', 'a/.tus/b'],
  ])('should accept %s as %s', (raw, key) => {
    expect(parseKey(raw, 0)).toBe(key);
  });

  it.each([
    ['', /empty/],
    ['..', /\.\./],
    ['%2e%2e/secret', /\.\./],
    ['a/%2E/b', /\./],
    ['a%2F%2E%2E%2Fb', /\.\./],
    ['/abs', /start with \//],
    ['a//b', /empty segments/],
    ['a/', /empty segments/],
    ['a%00b', /control/],
    ['a%0D%0Ab', /control/],
    ['a%7Fb', /control/],
    ['a%5C..%5Cb', /backslash/],
    ['%C0%AE%C0%AE/x', /percent-encoded/], // overlong UTF-8 for "."
    ['%ZZ', /percent-encoded/],
    ['k'.repeat(1025), /1024/],
    ['.tus/abc.info', /reserved/],
    ['.tus%2Fabc.part', /reserved/],
    ['.tus', /reserved/],
  ])('should reject %s', (raw, reason) => {
    expect(() => parseKey(raw, 0)).toThrow(BadRequestException);
    expect(() => parseKey(raw, 0)).toThrow(reason);
  });

  it('should count the prefix in the 1024-byte limit', () => {
    expect(() => parseKey('k'.repeat(1000), 0)).not.toThrow();
    expect(() => parseKey('k'.repeat(1000), 30)).toThrow(/at most 994/);
    expect(keyProblem('é'.repeat(512), 0)).toBeUndefined();
    expect(keyProblem('é'.repeat(513), 0)).toMatch(/1024/);
  });

  it('should count the prefix in the limit of a list prefix too', () => {
    const pipe = new KeyPipe({ s3: { prefix: 'tenant/' } } as AppConfig);
    expect(pipe.listPrefix('k'.repeat(1017))).toBe('k'.repeat(1017));
    expect(() => pipe.listPrefix('k'.repeat(1018))).toThrow(/at most 1017/);
    expect(() => pipe.listPrefix('a//')).toThrow(BadRequestException);
    expect(pipe.listPrefix('photos/')).toBe('photos/');
    expect(pipe.listPrefix('')).toBe('');
    expect(pipe.listPrefix(undefined)).toBeUndefined();
  });

  it('should accept folder prefixes only where asked', () => {
    expect(keyProblem('photos/', 0, true)).toBeUndefined();
    expect(keyProblem('photos/', 0)).toBeDefined();
    expect(keyProblem('../', 0, true)).toBeDefined();
  });
});

describe(ReadKeyPipe.name, () => {
  const config = { s3: { prefix: '' }, publicPrefixes: ['public/', 'media/avatars/'] } as unknown as AppConfig;
  const pipe = new ReadKeyPipe(new KeyPipe(config), config);

  function read(path: string, anonymous: boolean): { key?: string; error?: unknown; challenge?: unknown } {
    const headers: Record<string, string> = {};
    const res = { setHeader: (name: string, value: string) => (headers[name] = value) } as unknown as Response;
    try {
      return { key: pipe.transform({ key: decodeKey(path), req: { anonymous } as Request, res }) };
    } catch (error) {
      return { error, challenge: headers['WWW-Authenticate'] };
    }
  }

  it.each(['public/a.png', 'public%2Fa.png', 'media/avatars/42.png', 'public/%EF%BC%8E%EF%BC%8E/a'])(
    'should give an anonymous read the public key %s',
    (path) => {
      expect(read(path, true).key).toBe(decodeKey(path));
    },
  );

  it.each(['private/a.png', 'Public/a.png', 'publicity/a.png', 'public', 'media/a.png', 'media/avatars'])(
    'should refuse an anonymous read of %s with the 401 challenge',
    (path) => {
      const { error, challenge } = read(path, true);
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(challenge).toBe('Bearer error="invalid_request"');
    },
  );

  it.each(['public/../private/a', 'public/%2e%2e/private/a', 'public%2F..%2Fprivate', 'public%5C..%5Cprivate'])(
    'should apply the key rules first: %s is a 400',
    (path) => {
      expect(read(path, true).error).toBeInstanceOf(BadRequestException);
    },
  );

  it('should give a keyed read any key', () => {
    expect(read('private/a.png', false).key).toBe('private/a.png');
  });

  it('should match folders exactly and case-sensitively', () => {
    expect(isPublicKey(['public/'], 'public/a')).toBe(true);
    expect(isPublicKey(['public/'], 'publicity/a')).toBe(false);
    expect(isPublicKey(['public/'], 'PUBLIC/a')).toBe(false);
    expect(isPublicKey([], 'public/a')).toBe(false);
  });
});

describe(keyInPath.name, () => {
  const keyOf = (originalUrl: string): string => keyInPath({ originalUrl } as Request);

  it('should take the key after the route, in any case as Express routes it, decoded once', () => {
    expect(keyOf('/files/dir/a%20b.txt?download=1')).toBe('dir/a b.txt');
    expect(keyOf('/FILES/a')).toBe('a');
    expect(keyOf('/Files/dir/files/x')).toBe('dir/files/x');
    expect(keyOf('/files/a%252Fb')).toBe('a%2Fb');
  });
});
