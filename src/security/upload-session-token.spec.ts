import { UploadSessionTokens, type UploadSession } from './upload-session-token.js';

const SECRET = 's'.repeat(32);
const tokens = new UploadSessionTokens(SECRET, '["bucket",""]');
const session: UploadSession = {
  keyPrefix: 'users/42/',
  overwrite: false,
  maxBytes: 1024,
  contentTypes: ['image/*'],
  expiresAt: 2_000_000_000_000,
  id: UploadSessionTokens.newId(),
};
const NOW = 1_900_000_000_000;

describe(UploadSessionTokens.name, () => {
  it('should read back the session it issued, URL-safe', () => {
    const token = tokens.issue(session);
    expect(token).toMatch(/^us1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(tokens.read(token, NOW)).toEqual(session);
    const single = { key: 'a b/ü.png', overwrite: true, maxBytes: 1, expiresAt: 2_000_000_000_000, id: 'x' };
    expect(tokens.read(tokens.issue(single), NOW)).toEqual(single);
    const replacing = { ...session, overwrite: true };
    expect(tokens.read(tokens.issue(replacing), NOW)).toEqual(replacing);
  });

  it('should refuse an expired token, unless asked to ignore expiry', () => {
    expect(tokens.read(tokens.issue(session), session.expiresAt)).toBe('expired');
    expect(tokens.read(tokens.issue(session), null)).toEqual(session);
  });

  it('should refuse a token with a changed scope or signature', () => {
    const [prefix, body, mac] = tokens.issue(session).split('.');
    const widened = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), p: '' }),
    ).toString('base64url');
    expect(tokens.read(`${prefix}.${widened}.${mac}`, NOW)).toBe('forged');
    const flipped = `${mac.slice(0, 10)}${mac[10] === 'A' ? 'B' : 'A'}${mac.slice(11)}`;
    expect(tokens.read(`${prefix}.${body}.${flipped}`, NOW)).toBe('forged');
  });

  it('should refuse a token from another secret or another bucket and prefix', () => {
    const token = tokens.issue(session);
    expect(new UploadSessionTokens('t'.repeat(32), '["bucket",""]').read(token, NOW)).toBe('forged');
    expect(new UploadSessionTokens(SECRET, '["bucket","tenant/"]').read(token, NOW)).toBe('forged');
  });

  it.each(['', 'us1.', 'us1..', 'us1.e30', 'Bearer us1.e30.AAAA', 'us1.e30.AAAA', `us1.e30.${'A'.repeat(43)}=`])(
    'should call %j malformed',
    (token) => {
      expect(tokens.read(token, NOW)).toBe('malformed');
    },
  );

  describe('upload ids', () => {
    const s3UploadId = '2~Zx9.abc_DEF-123';

    it('should give back S3 upload id only for the session and key it was bound to', () => {
      const bound = tokens.bindUpload(session, 'users/42/a.png', s3UploadId);
      expect(tokens.unbindUpload(session, 'users/42/a.png', bound)).toBe(s3UploadId);
      expect(tokens.unbindUpload(session, 'users/42/b.png', bound)).toBeUndefined();
      expect(tokens.unbindUpload({ ...session, id: 'other' }, 'users/42/a.png', bound)).toBeUndefined();
    });

    it.each([s3UploadId, '', '.', `${'A'.repeat(22)}.${s3UploadId}`, `${'A'.repeat(21)}.${s3UploadId}`])(
      'should refuse the made-up upload id %j',
      (uploadId) => {
        expect(tokens.unbindUpload(session, 'users/42/a.png', uploadId)).toBeUndefined();
      },
    );
  });
});
