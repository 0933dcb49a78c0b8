import { BadRequestException, ForbiddenException, UnsupportedMediaTypeException } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { UploadSessions, type UploadSession } from './upload-sessions.service.js';

const config = (overrides: Partial<AppConfig> = {}) =>
  ({
    s3: { bucket: 'b', prefix: '' },
    uploadSessionSecret: 's'.repeat(32),
    signedUploadActiveContent: false,
    ...overrides,
  }) as AppConfig;

const sessions = new UploadSessions(config());
const later = Date.now() + 60_000;
const prefixed: UploadSession = { keyPrefix: 'users/42/', overwrite: false, maxBytes: 10, expiresAt: later, id: 'i' };
const single: UploadSession = { key: 'avatars/42.png', overwrite: true, maxBytes: 10, expiresAt: later, id: 'i' };

describe(UploadSessions.name, () => {
  it('should verify what it issued, also on another instance with the same secret', () => {
    const { token, session } = sessions.issue({ key: 'a', overwrite: true, maxBytes: 1, expiresAt: later });
    expect(new UploadSessions(config()).verify(token)).toEqual(session);
    expect(() => new UploadSessions(config({ uploadSessionSecret: 't'.repeat(32) })).verify(token)).toThrow(
      'not valid',
    );
  });

  it('should sign with a random secret per process when none is configured', () => {
    const { token } = new UploadSessions(config({ uploadSessionSecret: undefined })).issue(prefixed);
    expect(() => new UploadSessions(config({ uploadSessionSecret: undefined })).verify(token)).toThrow('not valid');
  });

  it('should carry whether a keyPrefix session may replace objects; a key session always may', () => {
    expect(sessions.verify(sessions.issue(prefixed).token).overwrite).toBe(false);
    expect(sessions.verify(sessions.issue({ ...prefixed, overwrite: true }).token).overwrite).toBe(true);
    expect(sessions.verify(sessions.issue({ ...single, overwrite: false }).token).overwrite).toBe(true);
  });

  it('should refuse a malformed token', () => {
    expect(() => sessions.verify('us1.forged.x')).toThrow('not an upload-session token');
  });

  describe('keyFor', () => {
    it('should name a file under the prefix as POST /files does, and use a single-key session its key', () => {
      expect(sessions.keyFor(prefixed, 'Résumé ü.pdf')).toMatch(/^users\/42\/[0-9a-f-]{36}\/Résumé ü\.pdf$/);
      expect(sessions.keyFor(prefixed, '../../etc/passwd')).toMatch(/^users\/42\/[0-9a-f-]{36}\/passwd$/);
      expect(sessions.keyFor(single, 'whatever.gif')).toBe('avatars/42.png');
    });

    it('should take a requested key in scope and refuse one outside it', () => {
      expect(sessions.keyFor(prefixed, undefined, 'users/42/x.png')).toBe('users/42/x.png');
      expect(() => sessions.keyFor(prefixed, undefined, 'users/43/x.png')).toThrow(ForbiddenException);
      expect(() => sessions.keyFor(single, undefined, 'avatars/42.png.html')).toThrow(ForbiddenException);
      expect(() => sessions.keyFor(prefixed, undefined, 'users/42/../43/x')).toThrow(BadRequestException);
    });

    it('should take a keyPrefix without a trailing / as a folder (a token signed before it was normalised)', () => {
      const bare = { ...prefixed, keyPrefix: 'users/42' };
      expect(sessions.keyFor(bare, 'a.png')).toMatch(/^users\/42\/[0-9a-f-]{36}\/a\.png$/);
      expect(sessions.keyFor(bare, undefined, 'users/42/a.png')).toBe('users/42/a.png');
      for (const outside of ['users/420/a.png', 'users/42-admin.txt', 'users/42']) {
        expect(() => sessions.keyFor(bare, undefined, outside)).toThrow(ForbiddenException);
      }
      expect(sessions.keyFor({ ...prefixed, keyPrefix: '' }, undefined, 'anything.txt')).toBe('anything.txt');
    });
  });

  describe('checkType', () => {
    const images = { ...prefixed, contentTypes: ['image/*', 'application/pdf'] };

    it('should give the canonical type, octet-stream for none', () => {
      expect(sessions.checkType(prefixed, 'Text/Plain; Charset=UTF-8', true)).toBe('text/plain; charset=utf-8');
      expect(sessions.checkType(prefixed, '', true)).toBe('application/octet-stream');
      expect(sessions.checkType(images, 'image/png', true)).toBe('image/png');
      expect(sessions.checkType(images, 'application/pdf', true)).toBe('application/pdf');
    });

    it('should take */* as any type', () => {
      expect(sessions.checkType({ ...prefixed, contentTypes: ['*/*'] }, 'video/mp4', false)).toBe('video/mp4');
      expect(sessions.checkType({ ...prefixed, contentTypes: ['*/*'] }, undefined, false)).toBe(
        'application/octet-stream',
      );
    });

    it('should refuse a type the session does not allow (415), a malformed one (400)', () => {
      expect(() => sessions.checkType(images, 'application/pdfx', false)).toThrow(UnsupportedMediaTypeException);
      expect(() => sessions.checkType(images, 'video/mp4', false)).toThrow(UnsupportedMediaTypeException);
      expect(() => sessions.checkType(prefixed, 'text/plain, text/html', false)).toThrow(BadRequestException);
    });

    it('should refuse active content straight to S3 only, unless SIGNED_UPLOAD_ACTIVE_CONTENT', () => {
      expect(() => sessions.checkType(prefixed, 'image/svg+xml', true)).toThrow('active content');
      expect(sessions.checkType(prefixed, 'image/svg+xml', false)).toBe('image/svg+xml');
      const lenient = new UploadSessions(config({ signedUploadActiveContent: true }));
      expect(lenient.checkType(prefixed, 'text/html', true)).toBe('text/html');
    });
  });

  it('should refuse an upload id this session did not bind', () => {
    const bound = sessions.bindUpload(prefixed, 'users/42/a', 'S3-ID');
    expect(sessions.s3UploadId(prefixed, 'users/42/a', bound)).toBe('S3-ID');
    expect(() => sessions.s3UploadId({ ...prefixed, id: 'j' }, 'users/42/a', bound)).toThrow(ForbiddenException);
  });
});
