import type { NestExpressApplication } from '@nestjs/platform-express';
import { API_VERSION } from '../src/openapi/openapi.js';
import { s3Env, startApp } from './support/app.js';
import { send } from './support/http.js';
import { randomBucketName, startS3Server, testCredentials, type TestS3Server } from './support/s3-server.js';
import { startBuiltService } from './support/built-service.js';

/** What a first user meets: the boot log names the bucket and says whether it answers; `GET /` leads somewhere. */
describe('first contact (e2e)', () => {
  let s3: TestS3Server;

  beforeAll(async () => {
    s3 = await startS3Server();
  });

  afterAll(async () => {
    await s3?.stop();
  });

  describe('boot log', () => {
    const boot = async (bucket: string, extra: Record<string, string> = {}) => {
      const service = await startBuiltService({
        ...s3Env(s3.endpoint, bucket, { LOG_LEVEL: 'info', PORT: '0' }),
        ...extra,
      });
      return service;
    };

    it('should name the bucket, region and endpoint, and say the bucket answers', async () => {
      const service = await boot(s3.bucket, { AWS_REGION: 'eu-west-1', S3_PREFIX: 'tenant' });
      try {
        await service.waitForLog(
          (l) => l.msg === `S3 bucket "${s3.bucket}" in eu-west-1 at ${s3.endpoint}, keys under "tenant/"`,
        );
        await service.waitForLog((l) => l.msg === `S3 bucket "${s3.bucket}" answers`);
      } finally {
        await service.stop(0);
      }
    });

    it('should warn that the bucket is missing and keep running, with /health/ saying so', async () => {
      const missing = randomBucketName();
      const service = await boot(missing);
      try {
        const warning = await service.waitForLog((l) => l.msg.startsWith(`S3 bucket "${missing}" cannot be used yet`));
        expect(warning.msg).toMatch(/bucket not found/);
        const health = await send(`${service.url}/health/`);
        expect(health.status).toBe(503);
        expect(health.body.toString()).toMatch(/bucket not found/);
      } finally {
        await service.stop(0);
      }
    });

    it('should warn that S3 refuses unknown credentials, without the secret', async () => {
      const secret = `wrong-${testCredentials().secretAccessKey}-secret`;
      const service = await boot(s3.bucket, {
        AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNKEY000000',
        AWS_SECRET_ACCESS_KEY: secret,
      });
      try {
        const warning = await service.waitForLog((l) =>
          l.msg.startsWith(`S3 bucket "${s3.bucket}" cannot be used yet`),
        );
        expect(warning.msg).toMatch(/wrong credentials or no permission/);
        const key = await send(`${service.url}/files/a.txt`);
        expect(key.status).toBe(502);
        expect(JSON.parse(key.body.toString())).toMatchObject({
          message: expect.stringMatching(/^S3 refused the credentials \(/),
        });
        expect(service.output()).not.toContain(secret);
      } finally {
        await service.stop(0);
      }
    });
  });

  describe('GET /', () => {
    let app: NestExpressApplication | undefined;

    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    it('should redirect to Swagger UI in development', async () => {
      let url: string;
      ({ app, url } = await startApp(s3Env(s3.endpoint, s3.bucket)));
      const res = await send(`${url}/`);
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe('/docs');
    });

    it.each([
      ['off', { health: '/health/', files: '/files' }],
      ['key', { health: '/health/', files: '/files', docs: '/docs', openapi: '/docs-json' }],
    ])('should answer a JSON index when the docs are %s', async (docs, links) => {
      let url: string;
      ({ app, url } = await startApp(s3Env(s3.endpoint, s3.bucket, { DOCS: docs })));
      const res = await send(`${url}/`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString())).toEqual({ name: 's3-file-service', version: API_VERSION, links });
      expect((await send(`${url}/`, { method: 'POST' })).status).toBe(404);
    });
  });
});
