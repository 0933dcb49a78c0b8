import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import type { OpenAPIObject } from '@nestjs/swagger';
import { AppConfig } from '../config/app-config.js';
import metadata from '../metadata.js';
import { ApiKeyGuard } from '../security/api-key.guard.js';
import { loadSwagger } from './swagger-decorators.js';

/** As in package.json (a test checks): the compiled app may run without package.json beside it. */
export const API_VERSION = '0.1.0';

export const DOCS_PATH = 'docs';
export const DOCS_JSON_PATH = 'docs-json';
export const API_KEY_SCHEME = 'apiKey';

const DESCRIPTION = `Puts one S3 bucket behind a small HTTP API: streaming uploads and downloads, listing, deleting, and signed
URLs so browsers move big files straight to and from S3. Keys may contain \`/\`; in a path they are URL-encoded per
segment. Errors are JSON \`{statusCode, error, message}\`.`;

/** Keys sorted so openapi.json is stable; src/metadata.ts stands in for the compiler plugin (swagger-decorators.ts). */
export async function createOpenApiDocument(app: INestApplication): Promise<OpenAPIObject> {
  const { DocumentBuilder, SwaggerModule } = await loadSwagger();
  await SwaggerModule.loadPluginMetadata(metadata);
  const config = new DocumentBuilder()
    .setTitle('s3-file-service')
    .setDescription(DESCRIPTION)
    .setVersion(API_VERSION)
    .setLicense('MIT', 'https://spdx.org/licenses/MIT.html')
    .addServer('/', 'This service')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'API key',
        description: 'An API key from `API_KEYS` (read-write) or `API_KEYS_READONLY` (read-only).',
      },
      API_KEY_SCHEME,
    )
    .addTag('files', 'Upload, list, download and delete files, streamed through the service.')
    .addTag('signed-urls', 'Signed URLs: browsers move big files straight to and from S3.')
    .addTag('health', "Elastic Beanstalk's health check and a liveness probe; no API key.")
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
  });
  return sortKeys(document);
}

/** `DOCS` is `off` by default in production: the document maps every route for an attacker. */
export async function setupOpenApi(app: NestExpressApplication): Promise<void> {
  const exposure = app.get(AppConfig).docs;
  if (exposure === 'off') {
    return;
  }
  if (exposure === 'key') {
    app.use([`/${DOCS_PATH}`, `/${DOCS_JSON_PATH}`], app.get(ApiKeyGuard).requireAnyKey);
  }
  const document = await createOpenApiDocument(app);
  const { SwaggerModule } = await import('@nestjs/swagger');
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: DOCS_JSON_PATH,
    raw: ['json'],
    customSiteTitle: 's3-file-service API',
    // Swagger UI would otherwise send the document to validator.swagger.io for its badge.
    swaggerOptions: { validatorUrl: null },
  });
}

/** `GET /`: a redirect to public docs in development; else a JSON index, no API key (it names nothing secret). */
export function serveIndex(app: NestExpressApplication): void {
  const config = app.get(AppConfig);
  const index = {
    name: 's3-file-service',
    version: API_VERSION,
    links: {
      health: '/health/',
      files: '/files',
      ...(config.docs !== 'off' ? { docs: `/${DOCS_PATH}`, openapi: `/${DOCS_JSON_PATH}` } : {}),
    },
  };
  app.use((req: Request, res: Response, next: NextFunction) => {
    // req.url, not req.path: this runs for every request, and req.path parses the URL each time.
    const url = req.url;
    if ((url !== '/' && !url.startsWith('/?')) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      next();
    } else if (!config.production && config.docs === 'public') {
      res.redirect(302, `/${DOCS_PATH}`);
    } else {
      res.json(index);
    }
  });
}

/** Object keys sorted, recursively; arrays and `content` maps keep their order (clients send the first media type). */
function sortKeys<T>(value: T, keepOrder = false): T {
  if (Array.isArray(value)) {
    return value.map((item: unknown) => sortKeys(item)) as T;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    const ordered = keepOrder ? entries : entries.sort(([a], [b]) => (a < b ? -1 : 1));
    return Object.fromEntries(ordered.map(([key, item]) => [key, sortKeys(item, key === 'content')])) as T;
  }
  return value;
}
