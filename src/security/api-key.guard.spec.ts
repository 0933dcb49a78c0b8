import { Controller, Get, Post, Req } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import type { Request } from 'express';
import request from 'supertest';
import { AppConfig } from '../config/app-config.js';
import { HttpErrorFilter } from '../http/http-error.filter.js';
import { UploadSessions } from './upload-sessions.service.js';
import {
  AcceptsUploadSession,
  Access,
  AllowReadOnly,
  Public,
  PublicRead,
  type AccessLevel,
} from './access.decorators.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeyRing } from './api-keys.js';

const RW = 'read-write-key-0123456789';
const RO = 'read-only-key-0123456789';

describe(ApiKeyRing.name, () => {
  const ring = new ApiKeyRing([RW, 'both-lists-key-0123456789'], [RO, 'both-lists-key-0123456789']);

  it.each<[string, AccessLevel | undefined]>([
    [RW, 'read-write'],
    [RO, 'read-only'],
    ['both-lists-key-0123456789', 'read-write'],
    ['unknown-key-0123456789', undefined],
    [RW.slice(0, -1), undefined],
    [`${RW}x`, undefined],
    ['', undefined],
  ])('should give %j the level %s', (key, level) => {
    expect(ring.levelOf(key)).toBe(level);
  });

  it('should be disabled without keys', () => {
    expect(new ApiKeyRing([], []).enabled).toBe(false);
    expect(new ApiKeyRing([], []).levelOf('anything')).toBeUndefined();
  });
});

@Controller('probe')
class ProbeController {
  @Get()
  read(@Access() access: AccessLevel) {
    return { access };
  }

  @Post()
  write(@Access() access: AccessLevel) {
    return { access };
  }

  @Post('sign')
  @AllowReadOnly()
  sign(@Access() access: AccessLevel) {
    return { access };
  }

  @Post('upload')
  @AcceptsUploadSession()
  upload(@Access() access: AccessLevel, @Req() req: Request) {
    return { access, key: req.uploadSession?.key };
  }

  @Public()
  @Get('public')
  open() {
    return { open: true };
  }

  @PublicRead()
  @Get('read')
  readPublic(@Req() req: Request) {
    return { anonymous: req.anonymous ?? false, access: req.accessLevel ?? null };
  }

  @PublicRead()
  @Post('read')
  writePublic() {
    return { written: true };
  }
}

const config = (keys: { readWrite: string[]; readOnly: string[] }, publicPrefixes: string[] = []) =>
  ({
    apiKeys: keys,
    publicPrefixes,
    s3: { bucket: 'b', prefix: '' },
    uploadSessionSecret: 's'.repeat(32),
  }) as unknown as AppConfig;

/** A token for `key` from the same secret as `appWith`'s. */
const sessionToken = (key: string, expiresIn = 60) =>
  new UploadSessions(config({ readWrite: [], readOnly: [] })).issue({
    key,
    overwrite: true,
    maxBytes: 10,
    expiresAt: Date.now() + expiresIn * 1000,
  }).token;

async function appWith(
  keys: { readWrite: string[]; readOnly: string[] },
  publicPrefixes: string[] = [],
): Promise<NestExpressApplication> {
  const moduleRef = await Test.createTestingModule({
    controllers: [ProbeController],
    providers: [
      { provide: AppConfig, useValue: config(keys, publicPrefixes) },
      UploadSessions,
      { provide: APP_GUARD, useClass: ApiKeyGuard },
    ],
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
  app.useGlobalFilters(new HttpErrorFilter());
  await app.init();
  return app;
}

describe(ApiKeyGuard.name, () => {
  let app: NestExpressApplication;

  beforeAll(async () => {
    app = await appWith({ readWrite: [RW], readOnly: [RO] });
  });

  afterAll(() => app.close());

  const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

  it.each([
    ['no Authorization header', {}, 'an API key is required'],
    ['another scheme', { Authorization: `Basic ${Buffer.from(`x:${RW}`).toString('base64')}` }, 'must be "Bearer'],
    ['an empty bearer', { Authorization: 'Bearer ' }, 'must be "Bearer'],
    ['an unknown key', bearer('unknown-key-0123456789'), 'unknown API key'],
  ])('should answer 401 with a challenge for %s', async (_name, headers, message) => {
    const res = await request(app.getHttpServer()).get('/probe').set(headers).expect(401);
    expect(res.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: expect.stringContaining(message) });
    expect(res.headers['www-authenticate']).toMatch(/^Bearer error="invalid_(request|token)"$/);
  });

  it('should never echo the presented key', async () => {
    const res = await request(app.getHttpServer())
      .get('/probe')
      .set(bearer(`${RW}-typo`))
      .expect(401);
    expect(JSON.stringify(res.body) + JSON.stringify(res.headers)).not.toContain(RW);
  });

  it.each<[string, string, string, number, AccessLevel?]>([
    ['read-write', 'get', '/probe', 200, 'read-write'],
    ['read-write', 'post', '/probe', 201, 'read-write'],
    ['read-only', 'get', '/probe', 200, 'read-only'],
    ['read-only', 'post', '/probe', 403, undefined],
    ['read-only', 'post', '/probe/sign', 201, 'read-only'],
  ])('should let a %s key %s %s: %d', async (level, method, path, status, access) => {
    const key = level === 'read-write' ? RW : RO;
    const res = await request(app.getHttpServer())[method as 'get' | 'post'](path).set(bearer(key)).expect(status);
    if (access) {
      expect(res.body).toEqual({ access });
    } else {
      expect(res.body).toEqual({ statusCode: 403, error: 'Forbidden', message: expect.stringContaining('read-only') });
    }
  });

  it('should accept the scheme in any case', async () => {
    await request(app.getHttpServer()).get('/probe').set('Authorization', `bearer ${RO}`).expect(200);
  });

  it('should let anyone reach a @Public() route', async () => {
    await request(app.getHttpServer()).get('/probe/public').expect(200, { open: true });
  });

  it('should leave the API open, as read-write, when no keys are configured (development)', async () => {
    const open = await appWith({ readWrite: [], readOnly: [] });
    try {
      await request(open.getHttpServer()).post('/probe').expect(201, { access: 'read-write' });
    } finally {
      await open.close();
    }
  });

  describe('on a @PublicRead() route', () => {
    it('should let a request without an Authorization header in, as anonymous, with PUBLIC_PREFIXES set', async () => {
      const open = await appWith({ readWrite: [RW], readOnly: [] }, ['public/']);
      try {
        const server = open.getHttpServer();
        await request(server).get('/probe/read').expect(200, { anonymous: true, access: null });
        await request(server)
          .get('/probe/read')
          .set(bearer(RW))
          .expect(200, { anonymous: false, access: 'read-write' });
        // Any Authorization header is checked as anywhere: a wrong key is no way around it.
        await request(server).get('/probe/read').set(bearer('unknown-key-0123456789')).expect(401);
        await request(server).get('/probe/read').set('Authorization', '').expect(401);
        await request(server)
          .get('/probe/read')
          .set(bearer(sessionToken('public/a.png')))
          .expect(403);
        // Only GET and HEAD: a write there is refused whatever the route says.
        await request(server).post('/probe/read').expect(401);
        await request(server).get('/probe').expect(401);
      } finally {
        await open.close();
      }
    });

    it('should answer 401 as before without PUBLIC_PREFIXES', async () => {
      const res = await request(app.getHttpServer()).get('/probe/read').expect(401);
      expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_request"');
    });
  });

  describe('with an upload-session token', () => {
    it('should accept it on an @AcceptsUploadSession() route, with its session and no access level', async () => {
      const res = await request(app.getHttpServer())
        .post('/probe/upload')
        .set(bearer(sessionToken('a.txt')));
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ access: 'read-only', key: 'a.txt' });
    });

    it.each([
      ['get', '/probe'],
      ['post', '/probe'],
      ['post', '/probe/sign'],
    ])('should answer 403 to it on %s %s', async (method, path) => {
      const res = await request(app.getHttpServer())
        [method as 'get' | 'post'](path)
        .set(bearer(sessionToken('a.txt')))
        .expect(403);
      expect(res.body.message).toContain('upload-session token only authorises uploads');
    });

    it.each([
      ['a forged one', () => sessionToken('a.txt').slice(0, -2) + 'AA', 'not valid'],
      ['an expired one', () => sessionToken('a.txt', -1), 'expired'],
      ['a malformed one', () => 'us1.nonsense', 'not an upload-session token'],
    ])('should answer 401 to %s', async (_name, token, message) => {
      const res = await request(app.getHttpServer()).post('/probe/upload').set(bearer(token())).expect(401);
      expect(res.body.message).toContain(message);
    });

    it('should hold its scope also when no API keys are configured (development)', async () => {
      const open = await appWith({ readWrite: [], readOnly: [] });
      try {
        await request(open.getHttpServer())
          .get('/probe')
          .set(bearer(sessionToken('a.txt')))
          .expect(403);
        await request(open.getHttpServer())
          .post('/probe/upload')
          .set(bearer(sessionToken('b.txt')))
          .expect(201, { access: 'read-only', key: 'b.txt' });
      } finally {
        await open.close();
      }
    });
  });
});
