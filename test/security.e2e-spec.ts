import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import request from 'supertest';
import { s3Env, startApp, serviceSuite } from './support/app.js';

const KEY = 'a-read-write-key-for-tests';

describe('Host guard, headers, CORS and health (e2e through the real app)', () => {
  const env = {
    ALLOWED_HOSTS: 'api.example.com,.example.org,[::1]',
    API_KEYS: KEY,
    CORS_ORIGINS: 'https://app.example.com',
  };
  const suite = serviceSuite({ env });
  const proxied = suite.withApp({ env: { ...env, TRUST_PROXY: 'loopback' } });

  describe('Host', () => {
    it.each([
      ['api.example.com', 200],
      ['API.Example.COM:8080', 200],
      ['api.example.com.', 200],
      ['example.org', 200],
      ['files.eu.example.org', 200],
      ['[::1]:3000', 200],
      ['127.0.0.1', 400],
      ['52.95.110.1', 400],
      ['evil.com', 400],
      ['api.example.com.evil.com', 400],
      ['api.example.com:80:80', 400],
      ['exa_mple.org', 400],
    ])('should answer %j with %d', async (host, status) => {
      const res = await request(suite.url).get('/health/live').set('Host', host).expect(status);
      if (status === 400) {
        expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.any(String) });
      }
    });

    it('should check the Host before the API key', async () => {
      await request(suite.url).get('/files').set('Host', 'evil.com').expect(400);
      await request(suite.url).get('/files').set('Host', 'api.example.com').expect(401);
    });

    it('should ignore X-Forwarded-Host unless TRUST_PROXY trusts the peer', async () => {
      await request(suite.url)
        .get('/health/live')
        .set({ Host: 'api.example.com', 'X-Forwarded-Host': 'evil.com' })
        .expect(200);
      await request(suite.url)
        .get('/health/live')
        .set({ Host: 'evil.com', 'X-Forwarded-Host': 'api.example.com' })
        .expect(400);
    });

    it('should check Host, not X-Forwarded-Host, behind a trusted proxy unless USE_X_FORWARDED_HOST is on', async () => {
      const live = () => request(proxied.url).get('/health/live');
      await live().set({ Host: '10.0.0.5', 'X-Forwarded-Host': 'api.example.com' }).expect(400);
      await live().set({ Host: 'api.example.com', 'X-Forwarded-Host': 'evil.com' }).expect(200);
      await live().set({ Host: 'api.example.com' }).expect(200);
    });

    it('should log a refused host at most once a minute', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn');
      try {
        for (let i = 0; i < 3; i++) {
          await request(suite.url).get('/health/live').set('Host', 'once.invalid').expect(400);
        }
        await request(suite.url).get('/health/live').set('Host', 'twice.invalid').expect(400);
        const logged = warn.mock.calls.map(([message]) => String(message)).filter((m) => m.includes('.invalid'));
        expect(logged).toEqual([expect.stringContaining('"once.invalid"'), expect.stringContaining('"twice.invalid"')]);
      } finally {
        warn.mockRestore();
      }
    });
  });

  describe('headers', () => {
    it('should send helmet headers', async () => {
      const res = await request(suite.url).get('/health/live').set('Host', 'api.example.com').expect(200);
      expect(res.headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
        'strict-transport-security': expect.stringContaining('max-age='),
        'content-security-policy': expect.stringContaining("default-src 'self'"),
      });
      expect(res.headers['x-powered-by']).toBeUndefined();
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('should answer a CORS preflight from an allowed origin, exposing ETag', async () => {
      const res = await request(suite.url)
        .options('/files/a.txt')
        .set({
          Host: 'api.example.com',
          Origin: 'https://app.example.com',
          'Access-Control-Request-Method': 'PUT',
          'Access-Control-Request-Headers': 'authorization,content-type',
        })
        .expect(204);
      expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com');
      expect(res.headers['access-control-allow-headers']).toMatch(/Authorization/);
      // A browser app can send the conditional headers of safe updates and resumed downloads.
      for (const name of ['If-Match', 'If-Unmodified-Since', 'If-Range', 'Cache-Control', 'Content-Disposition']) {
        expect(String(res.headers['access-control-allow-headers']).split(',')).toContain(name);
      }
      const get = await request(suite.url)
        .get('/files')
        .set({ Host: 'api.example.com', Origin: 'https://app.example.com', Authorization: `Bearer ${KEY}` })
        .expect(200);
      expect(get.headers['access-control-expose-headers']).toMatch(/\bETag\b/);
    });

    it('should not allow other origins', async () => {
      const res = await request(suite.url)
        .get('/health/live')
        .set({ Host: 'api.example.com', Origin: 'https://evil.example.net' })
        .expect(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe('health', () => {
    it('should report the process and the bucket, at /health and /health/, without an API key', async () => {
      const res = await request(suite.url).get('/health/').set('Host', 'api.example.com').expect(200);
      expect(res.body).toMatchObject({
        status: 'ok',
        details: { process: { status: 'up' }, storage: { status: 'up', responseTime: expect.any(Number) } },
      });
      expect(res.headers['cache-control']).toBe('no-store');
      await request(suite.url).get('/health').set('Host', 'api.example.com').expect(200);
    });

    it('should cache the storage check for a few seconds', async () => {
      await request(suite.url).get('/health/').set('Host', 'api.example.com').expect(200);
      const res = await request(suite.url).get('/health/').set('Host', 'api.example.com').expect(200);
      expect(res.body.details.storage).toMatchObject({ status: 'up', cachedResponse: true });
    });

    it('should answer 503 with the details, not 500, when the bucket cannot be reached', async () => {
      const broken = await startApp(s3Env('http://127.0.0.1:9', suite.s3.bucket, { AWS_MAX_ATTEMPTS: '1' }));
      try {
        const res = await request(broken.url).get('/health/').expect(503);
        expect(res.body).toMatchObject({
          status: 'error',
          error: { storage: { status: 'down', message: expect.any(String) } },
          details: { process: { status: 'up' } },
        });
        await request(broken.url).get('/health/live').expect(200);
      } finally {
        await broken.app.close();
      }
    });

    it('should say the bucket is missing, not that an object is, when S3_BUCKET names no bucket', async () => {
      const missing = await startApp(s3Env(suite.s3.endpoint, `${suite.s3.bucket}-missing`));
      try {
        const res = await request(missing.url).get('/health/').expect(503);
        expect(res.body.error.storage).toMatchObject({
          status: 'down',
          message: expect.stringMatching(/bucket not found/),
        });
        expect(res.body.error.storage.message).not.toMatch(/object|key/);
        const list = await request(missing.url).get('/files').expect(502);
        expect(list.body.message).toMatch(/bucket not found/);
      } finally {
        await missing.app.close();
      }
    });
  });
});
