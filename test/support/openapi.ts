import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import supertest from 'supertest';

/** openapi.json as committed: what clients generate code from. */
export const OPENAPI_DOCUMENT = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8')) as {
  info: Record<string, unknown>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
};

type Schema = Record<string, unknown>;

interface Operation {
  operationId: string;
  security?: Record<string, string[]>[];
  responses: Record<
    string,
    {
      headers?: Record<string, { required?: boolean; schema?: Schema }>;
      content?: Record<string, { schema?: Schema }>;
    }
  >;
}

/** A response as any HTTP client sees it. */
export interface ObservedResponse {
  method: string;
  /** The request path, percent-encoded as sent, with or without the query. */
  path: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, when the response is JSON. */
  json?: unknown;
  /** Whether the response carried body bytes. */
  hasBody: boolean;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
ajv.addFormat('binary', true);

/** OpenAPI 3.0 schema → JSON Schema: `nullable` becomes a null type, refs point into the document. */
function toJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) {
    return schema.map(toJsonSchema);
  }
  if (schema === null || typeof schema !== 'object') {
    return schema;
  }
  const { nullable, ...rest } = schema as Schema & { nullable?: boolean };
  const converted = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, toJsonSchema(v)]));
  if (nullable && typeof converted.type === 'string') {
    converted.type = [converted.type, 'null'];
  }
  return converted;
}

const components = toJsonSchema(OPENAPI_DOCUMENT.components) as Schema;
const validators = new Map<string, ValidateFunction>();

function validatorFor(id: string, schema: Schema): ValidateFunction {
  let validate = validators.get(id);
  if (!validate) {
    validate = ajv.compile({ ...(toJsonSchema(schema) as Schema), components });
    validators.set(id, validate);
  }
  return validate;
}

const templates = Object.keys(OPENAPI_DOCUMENT.paths).map((template) => ({
  template,
  // `{key}` spans segments: keys contain `/`.
  pattern: new RegExp(`^${template.replace(/\{key\}/g, '.+').replace(/\{[^}]+\}/g, '[^/]+')}/?$`),
}));

function findOperation(method: string, path: string): { id: string; operation: Operation } {
  const pathname = path.split('?')[0];
  // `/files/{key}` also matches `/files/a/copy`: the template must have the method too.
  const match = templates.find(
    ({ template, pattern }) => pattern.test(pathname) && OPENAPI_DOCUMENT.paths[template][method.toLowerCase()],
  );
  const operation = match && OPENAPI_DOCUMENT.paths[match.template][method.toLowerCase()];
  if (!operation) {
    throw new Error(`${method} ${pathname} is not in openapi.json`);
  }
  return { id: operation.operationId, operation };
}

/** Media type of the response matches one of the declared ones (`*\/*`, `type/*` or exact). */
function mediaTypeMatches(declared: string, actual: string): boolean {
  const [type, subtype] = declared.split('/');
  const [actualType, actualSubtype] = actual.split(';')[0].trim().toLowerCase().split('/');
  return (type === '*' || type === actualType) && (subtype === '*' || subtype === actualSubtype);
}

/** Throws, saying what differs, unless the response is one openapi.json declares for its operation. */
export function assertMatchesOpenApi(response: ObservedResponse): void {
  const { id, operation } = findOperation(response.method, response.path);
  const where = `${response.method} ${response.path} → ${response.status} (${id})`;
  const declared = operation.responses[String(response.status)];
  if (!declared) {
    throw new Error(`${where}: status not declared (declared: ${Object.keys(operation.responses).join(', ')})`);
  }
  const header = (name: string) => {
    const value = response.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  for (const [name, spec] of Object.entries(declared.headers ?? {})) {
    const value = header(name);
    if (value === undefined) {
      if (spec.required) {
        throw new Error(`${where}: required header ${name} is missing`);
      }
      continue;
    }
    const validate = validatorFor(`${id} ${response.status} header ${name}`, spec.schema ?? {});
    if (!validate(value)) {
      throw new Error(`${where}: header ${name}: ${JSON.stringify(value)} ${ajv.errorsText(validate.errors)}`);
    }
  }
  const content = declared.content;
  if (!content) {
    if (response.hasBody) {
      throw new Error(`${where}: has a body, but none is declared`);
    }
    return;
  }
  const contentType = header('content-type') ?? '';
  const mediaType = Object.keys(content).find((declaredType) => mediaTypeMatches(declaredType, contentType));
  if (mediaType === undefined) {
    throw new Error(`${where}: Content-Type ${contentType} is not one of ${Object.keys(content).join(', ')}`);
  }
  const schema = content[mediaType].schema ?? {};
  if (schema.format === 'binary' || !/json/.test(contentType)) {
    return;
  }
  const validate = validatorFor(`${id} ${response.status} ${mediaType}`, schema);
  if (!validate(response.json)) {
    throw new Error(`${where}: body ${JSON.stringify(response.json)}: ${ajv.errorsText(validate.errors)}`);
  }
}

function fromSupertest(res: supertest.Response): void {
  const req = (res as unknown as { req: { method: string; path: string } }).req;
  const raw = res.body as unknown;
  const hasBody = Buffer.isBuffer(raw)
    ? raw.length > 0
    : (res.text ?? '').length > 0 || (raw !== undefined && raw !== null && Object.keys(raw).length > 0);
  assertMatchesOpenApi({
    method: req.method,
    path: req.path,
    status: res.status,
    headers: res.headers,
    json: /json/.test(String(res.headers['content-type'])) ? raw : undefined,
    hasBody: req.method !== 'HEAD' && hasBody,
  });
}

/** supertest, with every response checked against openapi.json (status, declared headers, JSON body). */
export function request(app: string): ReturnType<typeof supertest> {
  const client = supertest(app);
  for (const method of ['get', 'post', 'put', 'delete', 'head'] as const) {
    const send: (url: string) => supertest.Test = client[method].bind(client);
    (client as Record<typeof method, (url: string) => supertest.Test>)[method] = (url: string) =>
      send(url).expect(fromSupertest);
  }
  return client;
}
