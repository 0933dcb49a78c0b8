import { createApp } from './app.factory.js';
import { createOpenApiDocument } from './openapi/openapi.js';

/** Enough configuration to build the app without reaching any S3 server (nothing is contacted before listen). */
const OFFLINE_ENV = {
  NODE_ENV: 'development',
  LOG_LEVEL: 'silent',
  S3_BUCKET: 'openapi',
  S3_ENDPOINT: 'http://127.0.0.1:9',
  AWS_ACCESS_KEY_ID: 'openapi',
  AWS_SECRET_ACCESS_KEY: 'openapi',
};

/** openapi.json as `npm run openapi` writes it: the document of the whole app, keys sorted, two-space indent. */
export async function renderOpenApiDocument(): Promise<string> {
  const app = await createApp({ env: OFFLINE_ENV });
  try {
    return `${JSON.stringify(await createOpenApiDocument(app), null, 2)}\n`;
  } finally {
    await app.close();
  }
}
