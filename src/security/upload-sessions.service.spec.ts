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

  it('should read back the session it issued, URL-safe', () => {
    const scoped = { ...prefixed, contentTypes: ['image/*'] };
    const { token, session } = sessions.issue(scoped);
    expect(token).toMatch(/^us1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(sessions.verify(token)).toEqual(session);
    expect(session).toEqual({ ...scoped, expiresAt: Math.floor(later / 1000) * 1000, id: expect.any(String) });
    const unusual = sessions.issue({ ...single, key: 'a b/ü.png' });
    expect(sessions.verify(unusual.token)).toEqual(unusual.session);
  });

  it('should refuse an expired token, unless asked to ignore expiry', () => {
    const { token, session } = sessions.issue({ ...prefixed, expiresAt: Date.now() - 1000 });
    expect(() => sessions.verify(token)).toThrow('has expired');
    expect(sessions.verify(token, true)).toEqual(session);
  });

  it('should refuse a token with a changed scope or signature', () => {
    const [prefix, body, mac] = sessions.issue(prefixed).token.split('.');
    const widened = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), p: '' }),
    ).toString('base64url');
    expect(() => sessions.verify(`${prefix}.${widened}.${mac}`)).toThrow('not valid');
    const flipped = `${mac.slice(0, 10)}${mac[10] === 'A' ? 'B' : 'A'}${mac.slice(11)}`;
    expect(() => sessions.verify(`${prefix}.${body}.${flipped}`)).toThrow('not valid');
  });

  it('should refuse a token from another bucket or prefix', () => {
    const { token } = sessions.issue(prefixed);
    expect(() =>
      new UploadSessions(config({ s3: { bucket: 'b', prefix: 'tenant/' } } as Partial<AppConfig>)).verify(token),
    ).toThrow('not valid');
    expect(() =>
      new UploadSessions(config({ s3: { bucket: 'c', prefix: '' } } as Partial<AppConfig>)).verify(token),
    ).toThrow('not valid');
  });

  it.each([
    '',
    'us1.',
    'us1..',
    'us1.e30',
    'Bearer us1.e30.AAAA',
    'us1.e30.AAAA',
    `us1.e30.${'A'.repeat(43)}=`,
    'us1.forged.x',
  ])('should call %j malformed', (token) => {
    expect(() => sessions.verify(token)).toThrow('not an upload-session token');
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

  describe('upload ids', () => {
    const s3UploadId = '2~Zx9.abc_DEF-123';

    it('should give back S3 upload id only for the session and key it was bound to', () => {
      const bound = sessions.bindUpload(prefixed, 'users/42/a.png', s3UploadId);
      expect(sessions.s3UploadId(prefixed, 'users/42/a.png', bound)).toBe(s3UploadId);
      expect(() => sessions.s3UploadId(prefixed, 'users/42/b.png', bound)).toThrow(ForbiddenException);
      expect(() => sessions.s3UploadId({ ...prefixed, id: 'j' }, 'users/42/a.png', bound)).toThrow(ForbiddenException);
    });

    it.each([s3UploadId, '', '.', `${'A'.repeat(22)}.${s3UploadId}`, `${'A'.repeat(21)}.${s3UploadId}`])(
      'should refuse the made-up upload id %j',
      (uploadId) => {
        expect(() => sessions.s3UploadId(prefixed, 'users/42/a.png', uploadId)).toThrow(ForbiddenException);
      },
    );
  });
});
