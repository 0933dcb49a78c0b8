import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { renderOpenApiDocument } from '../src/openapi-document.js';
import {
  CLIENT_TYPES_FILE,
  DOCUMENT_FILE,
  generateClientTypes,
  generateMetadata,
  METADATA_FILE,
  ROOT,
} from '../scripts/openapi.js';
import { OPENAPI_DOCUMENT } from './support/openapi.js';
import { s3Env, startApp } from './support/app.js';

/** Fails with the first differing line and what to run, rather than a 40 KB diff. */
function expectUpToDate(file: string, expected: string): void {
  const committed = readFileSync(file, 'utf8');
  if (committed === expected) {
    return;
  }
  const a = committed.split('\n');
  const b = expected.split('\n');
  const line = a.findIndex((text, i) => text !== b[i]);
  throw new Error(
    `${path.relative(ROOT, file)} is out of date: run \`npm run openapi\` and commit the result.\n` +
      `line ${line + 1}: committed ${JSON.stringify(a[line])}, code gives ${JSON.stringify(b[line])}`,
  );
}

describe('OpenAPI document', () => {
  it('should be what the code produces (openapi.json)', async () => {
    expectUpToDate(DOCUMENT_FILE, await renderOpenApiDocument());
  });

  it('should load plugin metadata generated from the current sources (src/metadata.ts)', () => {
    expectUpToDate(METADATA_FILE, generateMetadata());
  });

  it('should have client types generated from it (test/generated/openapi.ts)', async () => {
    expectUpToDate(CLIENT_TYPES_FILE, await generateClientTypes(readFileSync(DOCUMENT_FILE, 'utf8')));
  });

  it('should carry the version and license of package.json', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
      license: string;
    };
    expect(OPENAPI_DOCUMENT.info).toEqual(
      expect.objectContaining({ version: pkg.version, license: expect.objectContaining({ name: pkg.license }) }),
    );
  });

  it('should lint clean with Redocly CLI', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [path.join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js'), 'lint', DOCUMENT_FILE, '--format=json'],
      { cwd: ROOT, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
    );
    const result = JSON.parse(stdout) as { totals: { errors: number; warnings: number } };
    expect(result.totals).toEqual(expect.objectContaining({ errors: 0, warnings: 0 }));
  });

  it('should document every operation with an operationId, its errors as JSON and its security', () => {
    const operations = Object.entries(OPENAPI_DOCUMENT.paths).flatMap(([route, item]) =>
      Object.entries(item).map(([method, operation]) => ({ route, method, ...operation })),
    );
    expect(operations.map((o) => `${o.method.toUpperCase()} ${o.route} ${o.operationId}`).sort()).toEqual(
      [
        'DELETE /files/{key} remove',
        'GET /files list',
        'GET /files/{key} download',
        'GET /health check',
        'GET /health/live live',
        'HEAD /files/{key} head',
        'POST /files uploadMultipart',
        'POST /files/delete removeMany',
        'POST /files/{key}/copy copy',
        'POST /files/{key}/move move',
        'POST /signed-urls createSignedUrl',
        'PUT /files/{key} uploadRaw',
        'DELETE /upload-sessions/{token}/s3/multipart/{uploadId} abortMultipartUpload',
        'GET /upload-sessions/{token}/s3/multipart/{uploadId} listUploadParts',
        'GET /upload-sessions/{token}/s3/multipart/{uploadId}/{partNumber} signUploadPart',
        'GET /upload-sessions/{token}/s3/params signPostPolicy',
        'POST /upload-sessions createUploadSession',
        'POST /upload-sessions/{token}/s3/multipart createMultipartUpload',
        'POST /upload-sessions/{token}/s3/multipart/{uploadId}/complete completeMultipartUpload',
        'PUT /upload-sessions/{token}/s3/multipart/{uploadId}/{partNumber} uploadPart',
      ].sort(),
    );
    for (const operation of operations) {
      const isHealth = operation.route.startsWith('/health');
      // The upload-session token in the path is the credential.
      const isSessionUrl = operation.route.startsWith('/upload-sessions/{token}/');
      expect(operation.security).toEqual(isHealth || isSessionUrl ? [{}] : [{ apiKey: [] }]);
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(isHealth ? ['400'] : ['400', '401']));
      for (const [status, response] of Object.entries(operation.responses)) {
        // HEAD errors have no body; health answers 503 with Terminus's own JSON.
        if (Number(status) >= 400 && operation.method !== 'head' && !(isHealth && status === '503')) {
          expect(response.content).toEqual({
            'application/json': { schema: { $ref: '#/components/schemas/ErrorResponse' } },
          });
        }
      }
    }
  });
});

describe('/docs and /docs-json', () => {
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    ({ app, url } = await startApp(s3Env('http://127.0.0.1:9', 'docs')));
  });

  afterAll(() => app?.close());

  it('should serve the committed document at /docs-json', async () => {
    const res = await request(url).get('/docs-json').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual(OPENAPI_DOCUMENT);
  });

  it('should serve Swagger UI at /docs', async () => {
    const res = await request(url).get('/docs').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('swagger-ui');
  });
});

describe('/docs and /docs-json exposure (DOCS)', () => {
  const KEY = 'docs-read-write-key-0123456789';
  const READ_ONLY = 'docs-read-only-key-0123456789';
  const production = {
    NODE_ENV: 'production',
    ALLOWED_HOSTS: '127.0.0.1',
    API_KEYS: KEY,
    API_KEYS_READONLY: READ_ONLY,
  };
  const apps: NestExpressApplication[] = [];
  const start = async (env: Record<string, string>) => {
    const started = await startApp(s3Env('http://127.0.0.1:9', 'docs', env));
    apps.push(started.app);
    return started.url;
  };
  const paths = ['/docs', '/docs-json', '/docs/swagger-ui-init.js'];

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });

  it('should not serve them in production by default (DOCS=off), with a key or without', async () => {
    const url = await start(production);
    for (const path of paths) {
      for (const auth of [{}, { Authorization: `Bearer ${KEY}` }]) {
        const res = await request(url).get(path).set(auth).expect(404);
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        expect(res.text).not.toMatch(/"openapi"|<html/i);
      }
    }
  });

  it('should serve them to any API key only with DOCS=key', async () => {
    const url = await start({ ...production, DOCS: 'key' });
    for (const path of paths) {
      const refused = await request(url).get(path).expect(401);
      expect(refused.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(refused.text).not.toMatch(/"openapi"|<html/i);
      await request(url).get(path).set('Authorization', 'Bearer not-a-key-0123456789').expect(401);
      for (const key of [KEY, READ_ONLY]) {
        await request(url).get(path).set('Authorization', `Bearer ${key}`).expect(200);
      }
    }
    const res = await request(url).get('/docs-json').set('Authorization', `Bearer ${READ_ONLY}`).expect(200);
    expect(res.body).toEqual(OPENAPI_DOCUMENT);
  });

  it('should serve them to anyone with DOCS=public, and in development by default', async () => {
    for (const url of [await start({ ...production, DOCS: 'public' }), await start({})]) {
      for (const path of paths) {
        await request(url).get(path).expect(200);
      }
    }
  });

  it('should still check the Host of a docs request', async () => {
    const url = await start({ ...production, DOCS: 'public' });
    await request(url).get('/docs-json').set('Host', 'evil.example').expect(400);
  });
});
