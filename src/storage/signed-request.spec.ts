import { MAX_SIGNED_URL_SECONDS, signingWindow } from './signed-request.js';

describe(signingWindow.name, () => {
  const now = Date.parse('2026-11-23T10:00:00.750Z');
  const at = (iso: string) => new Date(iso);

  it('should sign from the whole second for the requested lifetime without expiring credentials', () => {
    expect(signingWindow(900, undefined, now)).toEqual({
      signedAt: at('2026-11-23T10:00:00Z'),
      seconds: 900,
      expiresAt: at('2026-11-23T10:15:00Z'),
    });
    expect(signingWindow(MAX_SIGNED_URL_SECONDS, undefined, now).expiresAt).toEqual(at('2026-11-30T10:00:00Z'));
  });

  it('should end when temporary credentials expire, if that is earlier', () => {
    expect(signingWindow(3600, at('2026-11-23T10:20:00.500Z'), now)).toEqual({
      signedAt: at('2026-11-23T10:00:00Z'),
      seconds: 1200,
      expiresAt: at('2026-11-23T10:20:00Z'),
    });
  });

  it('should keep the requested lifetime when the credentials outlive it', () => {
    expect(signingWindow(60, at('2026-11-23T16:00:00Z'), now).seconds).toBe(60);
  });
});
