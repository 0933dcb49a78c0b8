import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomKey, serviceSuite } from './support/app.js';

/**
 * A third-party validator between client and service: Stoplight Prism's validating proxy
 * (`prism proxy openapi.json <service>`) checks every request against the document and every response the service
 * gives, and reports what breaks it in an `sl-violations` header. The traffic covers every operation of the
 * document with good input and bad input; no response may break the document, and no good request either.
 *
 * Prism runs without `--errors`: with it, Prism answers a request the document refuses itself (422, 401) instead of
 * forwarding it, and the service's own answer to bad input would go unchecked. How Prism proxies bodies decides
 * what goes through it: it reads every request body as text (JSON parsed, anything else decoded as UTF-8, 10 MB at
 * most) and every response body as text, so the files here are ASCII text. Bypassing it: binary bodies, bodies over
 * 10 MB and malformed JSON (Prism's own parser would answer); those answers are checked against the same document by
 * every other e2e suite (test/support/openapi.ts). A request's Host is Prism's too, so the Host check is not tried
 * here. The suite runs on both backends: the answers come from the service, but their shapes (ETags, 502/503 from
 * S3 failures) partly come from S3.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PRISM = path.join(ROOT, 'node_modules/@stoplight/prism-cli/dist/index.js');
const KEY = 'prism-read-write-key-0123456789';
const READ_ONLY_KEY = 'prism-read-only-key-0123456789';
const MAX_UPLOAD_BYTES = 64 * 1024;
const CANARY = '/prism-canary';

interface Violation {
  location: string[];
  severity: string;
  code?: string | number;
  message: string;
}

interface Exchange {
  /** operationId in openapi.json. */
  operation: string;
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  status: number;
  /**
   * Bad input the document itself refuses (a schema limit, a missing required part, a missing key): Prism must flag
   * the request. Bad input only the service knows (a `..` key segment, field order) is refused by the service alone.
   */
  documentRefuses?: boolean;
}

interface Result {
  exchange: Exchange;
  status: number;
  request: Violation[];
  response: Violation[];
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Starts `prism proxy <document> <upstream>` and waits until it answers. */
async function startPrism(document: string, upstream: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [PRISM, 'proxy', document, upstream, '--host', '127.0.0.1', '--port', String(port), '--cors=false', '-v', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`prism exited (${child.exitCode}): ${output}`);
    }
    if (
      await fetch(`${url}/health/live`).then(
        (res) => res.ok,
        () => false,
      )
    ) {
      break;
    }
    if (Date.now() > until) {
      child.kill();
      throw new Error(`prism did not start in 30 s: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null) {
        child.kill();
        await once(child, 'exit');
      }
    },
  };
}

async function send(prismUrl: string, exchange: Exchange): Promise<Result> {
  const res = await fetch(prismUrl + exchange.path, {
    method: exchange.method,
    headers: exchange.headers,
    body: exchange.body,
    redirect: 'manual',
  });
  await res.arrayBuffer();
  const header = res.headers.get('sl-violations');
  const violations = header ? (JSON.parse(header) as Violation[]) : [];
  return {
    exchange,
    status: res.status,
    request: violations.filter((v) => v.location[0] === 'request'),
    response: violations.filter((v) => v.location[0] !== 'request'),
  };
}

const auth = (key = KEY) => ({ Authorization: `Bearer ${key}` });
/** The documented form of a key in a path: one segment, `/` as `%2F` (what generated clients send). */
const inPath = (key: string) => encodeURIComponent(key);

/** A multipart body with `key` first (or after the file part, which the service refuses). */
function form(parts: { key?: string; file?: string; keyAfterFile?: boolean }): { body: string; type: string } {
  const boundary = 'prism-boundary-7d1f';
  const field = (name: string, value: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const file =
    parts.file === undefined
      ? ''
      : `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\n` +
        `Content-Type: text/plain\r\n\r\n${parts.file}\r\n`;
  const key = parts.key === undefined ? '' : field('key', parts.key);
  const body = (parts.keyAfterFile ? file + key : key + file) + `--${boundary}--\r\n`;
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

describe('Stoplight Prism validating proxy (third-party check of openapi.json)', () => {
  let prism: Awaited<ReturnType<typeof startPrism>>;
  let documentDir: string;
  const results: Result[] = [];
  const document = JSON.parse(readFileSync(path.join(ROOT, 'openapi.json'), 'utf8')) as {
    paths: Record<string, Record<string, { operationId?: string }>>;
  };
  const operations = Object.values(document.paths).flatMap((item) =>
    Object.values(item).flatMap((op) => (op.operationId ? [op.operationId] : [])),
  );

  const suite = serviceSuite({
    env: { API_KEYS: KEY, API_KEYS_READONLY: READ_ONLY_KEY, MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) },
  });

  beforeAll(async () => {
    // openapi.json as it is, plus one canary operation the service does not have (it answers 404, which the canary
    // does not declare): the proof that this check can fail, with one Prism start (about 15 s on a busy machine).
    documentDir = await mkdtemp(path.join(tmpdir(), 'prism-doc-'));
    const withCanary = {
      ...document,
      paths: {
        ...document.paths,
        [CANARY]: {
          get: {
            operationId: 'prismCanary',
            responses: {
              '404': {
                description: 'a body the service never sends',
                content: { 'application/json': { schema: { type: 'object', required: ['canary'] } } },
              },
            },
          },
        },
      },
    };
    writeFileSync(path.join(documentDir, 'openapi.json'), JSON.stringify(withCanary));
    prism = await startPrism(path.join(documentDir, 'openapi.json'), suite.url);
  });

  afterAll(async () => {
    await prism?.stop();
    await rm(documentDir, { recursive: true, force: true });
  });

  it('should pass every operation, with good and bad input, through Prism with no violation', async () => {
    const dir = randomKey('').replace(/\/$/, '');
    const key = `${dir}/notes.txt`;
    const text = 'Plain ASCII text: Prism proxies bodies as text.\n';
    const putKey = `${dir}/raw/report.txt`;
    // An upload session, and two multipart uploads of it made directly (not through Prism): one with a part
    // already in S3 to complete, one to abort. Prism then sees every session route, good and bad.
    const json = { 'Content-Type': 'application/json' };
    const direct = async <T>(route: string, init?: RequestInit) =>
      (await (await fetch(suite.url + route, init)).json()) as T;
    const session = await direct<{ url: string }>('/upload-sessions', {
      method: 'POST',
      headers: { ...auth(), ...json },
      body: JSON.stringify({ keyPrefix: `${dir}/session/` }),
    });
    expect(session).toHaveProperty('url');
    const s3Routes = `${new URL(session.url).pathname}/s3`;
    const startMultipart = () =>
      direct<{ key: string; uploadId: string }>(`${s3Routes}/multipart`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ filename: 'parts.txt', type: 'text/plain' }),
      });
    const multipart = (upload: { key: string; uploadId: string }, rest = '') =>
      `${s3Routes}/multipart/${encodeURIComponent(upload.uploadId)}${rest}?key=${encodeURIComponent(upload.key)}`;
    const toComplete = await startMultipart();
    const toAbort = await startMultipart();
    const signedPart = await direct<{ url: string }>(multipart(toComplete, '/1'));
    const etag = (await fetch(signedPart.url, { method: 'PUT', body: text })).headers.get('etag')!.replace(/"/g, '');
    const exchanges: Exchange[] = [
      // health
      { operation: 'check', name: 'health', method: 'GET', path: '/health', status: 200 },
      { operation: 'live', name: 'liveness', method: 'GET', path: '/health/live', status: 200 },
      // uploadMultipart
      (() => {
        const f = form({ file: text });
        return {
          operation: 'uploadMultipart',
          name: 'form upload, key in the query',
          method: 'POST',
          path: `/files?key=${encodeURIComponent(key)}`,
          headers: { ...auth(), 'Content-Type': f.type },
          body: f.body,
          status: 201,
        };
      })(),
      (() => {
        const f = form({ key: `${dir}/field.txt`, file: text });
        return {
          operation: 'uploadMultipart',
          name: 'form upload, key field first',
          method: 'POST',
          path: '/files',
          headers: { ...auth(), 'Content-Type': f.type },
          body: f.body,
          status: 201,
        };
      })(),
      (() => {
        const f = form({ file: text });
        return {
          operation: 'uploadMultipart',
          name: 'form upload without a key: a generated one',
          method: 'POST',
          path: '/files',
          headers: { ...auth(), 'Content-Type': f.type },
          body: f.body,
          status: 201,
        };
      })(),
      (() => {
        const f = form({ file: text });
        return {
          operation: 'uploadMultipart',
          name: 'overwrite=false on an existing key',
          method: 'POST',
          path: `/files?key=${encodeURIComponent(key)}&overwrite=false`,
          headers: { ...auth(), 'Content-Type': f.type },
          body: f.body,
          status: 409,
        };
      })(),
      (() => {
        const f = form({ key: `${dir}/late.txt`, file: text, keyAfterFile: true });
        return {
          operation: 'uploadMultipart',
          name: 'key field after the file part',
          method: 'POST',
          path: '/files',
          headers: { ...auth(), 'Content-Type': f.type },
          body: f.body,
          status: 400,
        };
      })(),
      (() => {
        const f = form({ key: `${dir}/nofile.txt` });
        return {
          operation: 'uploadMultipart',
          name: 'no file part',
          method: 'POST',
          path: '/files',
          headers: { ...auth(), 'Content-Type': f.type },
          body: f.body,
          status: 400,
          documentRefuses: true,
        };
      })(),
      (() => {
        const f = form({ file: 'x'.repeat(MAX_UPLOAD_BYTES) });
        return {
          operation: 'uploadMultipart',
          name: 'over MAX_UPLOAD_BYTES',
          method: 'POST',
          path: `/files?key=${encodeURIComponent(`${dir}/big.txt`)}`,
          headers: { ...auth(), 'Content-Type': f.type },
          body: f.body,
          status: 413,
        };
      })(),
      (() => {
        const f = form({ file: text });
        return {
          operation: 'uploadMultipart',
          name: 'read-only key writing',
          method: 'POST',
          path: `/files?key=${encodeURIComponent(`${dir}/ro.txt`)}`,
          headers: { ...auth(READ_ONLY_KEY), 'Content-Type': f.type },
          body: f.body,
          status: 403,
        };
      })(),
      // uploadRaw
      {
        operation: 'uploadRaw',
        name: 'raw PUT, new key',
        method: 'PUT',
        path: `/files/${inPath(putKey)}`,
        headers: { ...auth(), 'Content-Type': 'text/plain; charset=utf-8' },
        body: text,
        status: 201,
      },
      {
        operation: 'uploadRaw',
        name: 'raw PUT, replacing',
        method: 'PUT',
        path: `/files/${inPath(putKey)}`,
        headers: { ...auth(), 'Content-Type': 'application/octet-stream' },
        body: text,
        status: 200,
      },
      {
        operation: 'uploadRaw',
        name: 'If-None-Match: * on an existing key',
        method: 'PUT',
        path: `/files/${inPath(putKey)}`,
        headers: { ...auth(), 'Content-Type': 'text/plain', 'If-None-Match': '*' },
        body: text,
        status: 412,
      },
      {
        operation: 'uploadRaw',
        name: 'a .. segment in the key',
        method: 'PUT',
        path: `/files/${inPath(`${dir}/../escape.txt`)}`,
        headers: { ...auth(), 'Content-Type': 'text/plain' },
        body: text,
        status: 400,
      },
      {
        operation: 'uploadRaw',
        name: 'no API key',
        method: 'PUT',
        path: `/files/${inPath(`${dir}/anon.txt`)}`,
        headers: { 'Content-Type': 'text/plain' },
        body: text,
        status: 401,
        documentRefuses: true,
      },
      // list
      {
        operation: 'list',
        name: 'list a folder',
        method: 'GET',
        path: `/files?prefix=${encodeURIComponent(`${dir}/`)}&delimiter=%2F&limit=2`,
        headers: auth(READ_ONLY_KEY),
        status: 200,
      },
      {
        operation: 'list',
        name: 'limit 0',
        method: 'GET',
        path: '/files?limit=0',
        headers: auth(),
        status: 400,
        documentRefuses: true,
      },
      {
        operation: 'list',
        name: 'limit not a number',
        method: 'GET',
        path: '/files?limit=ten',
        headers: auth(),
        status: 400,
        documentRefuses: true,
      },
      {
        operation: 'list',
        name: 'a forged cursor',
        method: 'GET',
        path: '/files?cursor=eyJmb3JnZWQiOnRydWV9',
        headers: auth(),
        status: 400,
      },
      {
        operation: 'list',
        name: 'a wrong API key',
        method: 'GET',
        path: '/files',
        headers: auth('not-the-key-0123456789'),
        status: 401,
      },
      // download
      {
        operation: 'download',
        name: 'download',
        method: 'GET',
        path: `/files/${inPath(key)}`,
        headers: auth(READ_ONLY_KEY),
        status: 200,
      },
      {
        operation: 'download',
        name: 'download as an attachment',
        method: 'GET',
        path: `/files/${inPath(key)}?download=true`,
        headers: auth(),
        status: 200,
      },
      {
        operation: 'download',
        name: 'a range',
        method: 'GET',
        path: `/files/${inPath(key)}`,
        headers: { ...auth(), Range: 'bytes=0-4' },
        status: 206,
      },
      {
        operation: 'download',
        name: 'If-None-Match: * (any version)',
        method: 'GET',
        path: `/files/${inPath(key)}`,
        headers: { ...auth(), 'If-None-Match': '*' },
        status: 304,
      },
      {
        operation: 'download',
        name: 'an unsatisfiable range',
        method: 'GET',
        path: `/files/${inPath(key)}`,
        headers: { ...auth(), Range: 'bytes=100000-' },
        status: 416,
      },
      {
        operation: 'download',
        name: 'no such key',
        method: 'GET',
        path: `/files/${inPath(`${dir}/missing.txt`)}`,
        headers: auth(),
        status: 404,
      },
      {
        operation: 'download',
        name: 'a control character in the key',
        method: 'GET',
        path: `/files/${inPath(`${dir}/a\u0001b.txt`)}`,
        headers: auth(),
        status: 400,
      },
      // head
      { operation: 'head', name: 'HEAD', method: 'HEAD', path: `/files/${inPath(key)}`, headers: auth(), status: 200 },
      {
        operation: 'head',
        name: 'HEAD, no such key',
        method: 'HEAD',
        path: `/files/${inPath(`${dir}/missing.txt`)}`,
        headers: auth(),
        status: 404,
      },
      // createSignedUrl
      {
        operation: 'createSignedUrl',
        name: 'sign a download',
        method: 'POST',
        path: '/signed-urls',
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ key, operation: 'download', expiresIn: 60 }),
        status: 201,
      },
      {
        operation: 'createSignedUrl',
        name: 'sign an upload with a size limit',
        method: 'POST',
        path: '/signed-urls',
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({
          key: `${dir}/direct.txt`,
          operation: 'upload',
          contentType: 'text/plain',
          maxBytes: 100,
        }),
        status: 201,
      },
      {
        operation: 'createSignedUrl',
        name: 'no operation',
        method: 'POST',
        path: '/signed-urls',
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ key }),
        status: 400,
        documentRefuses: true,
      },
      {
        operation: 'createSignedUrl',
        name: 'a read-only key signing an upload',
        method: 'POST',
        path: '/signed-urls',
        headers: { ...auth(READ_ONLY_KEY), 'Content-Type': 'application/json' },
        body: JSON.stringify({ key, operation: 'upload' }),
        status: 403,
      },
      {
        operation: 'createSignedUrl',
        name: 'not JSON',
        method: 'POST',
        path: '/signed-urls',
        headers: { ...auth(), 'Content-Type': 'text/plain' },
        body: 'key=a',
        status: 415,
        documentRefuses: true,
      },
      // copy, move, removeMany
      {
        operation: 'copy',
        name: 'copy',
        method: 'POST',
        path: `/files/${inPath(key)}/copy`,
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ to: `${dir}/copy.txt` }),
        status: 201,
      },
      {
        operation: 'copy',
        name: 'copy onto itself',
        method: 'POST',
        path: `/files/${inPath(key)}/copy`,
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ to: key }),
        status: 400,
      },
      {
        operation: 'copy',
        name: 'copy with no target',
        method: 'POST',
        path: `/files/${inPath(key)}/copy`,
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({}),
        status: 400,
        documentRefuses: true,
      },
      {
        operation: 'move',
        name: 'move',
        method: 'POST',
        path: `/files/${inPath(`${dir}/copy.txt`)}/move`,
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ to: `${dir}/moved.txt` }),
        status: 201,
      },
      {
        operation: 'move',
        name: 'a read-only key moving',
        method: 'POST',
        path: `/files/${inPath(`${dir}/moved.txt`)}/move`,
        headers: { ...auth(READ_ONLY_KEY), 'Content-Type': 'application/json' },
        body: JSON.stringify({ to: `${dir}/elsewhere.txt` }),
        status: 403,
      },
      {
        operation: 'removeMany',
        name: 'batch delete',
        method: 'POST',
        path: '/files/delete',
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ keys: [`${dir}/moved.txt`, `${dir}/never-written.txt`] }),
        status: 200,
      },
      {
        operation: 'removeMany',
        name: 'batch delete of an empty list',
        method: 'POST',
        path: '/files/delete',
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ keys: [] }),
        status: 400,
        documentRefuses: true,
      },
      // upload sessions and their Companion-compatible S3 routes
      {
        operation: 'createUploadSession',
        name: 'an upload session',
        method: 'POST',
        path: '/upload-sessions',
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify({ key: `${dir}/avatar.png`, maxBytes: 1000, contentTypes: ['image/*'] }),
        status: 201,
      },
      {
        operation: 'createUploadSession',
        name: 'a read-only key asking for a session',
        method: 'POST',
        path: '/upload-sessions',
        headers: { ...auth(READ_ONLY_KEY), 'Content-Type': 'application/json' },
        body: JSON.stringify({ key: `${dir}/avatar.png` }),
        status: 403,
      },
      {
        operation: 'signPostPolicy',
        name: 'a POST policy',
        method: 'GET',
        path: `${s3Routes}/params?filename=form.txt&type=text%2Fplain`,
        status: 200,
      },
      {
        operation: 'signPostPolicy',
        name: 'active content',
        method: 'GET',
        path: `${s3Routes}/params?filename=page.html&type=text%2Fhtml`,
        status: 400,
      },
      {
        operation: 'createMultipartUpload',
        name: 'start a multipart upload',
        method: 'POST',
        path: `${s3Routes}/multipart`,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ filename: 'big.txt', type: 'text/plain', metadata: { name: 'big.txt' } }),
        status: 200,
      },
      {
        operation: 'createMultipartUpload',
        name: 'no file name',
        method: 'POST',
        path: `${s3Routes}/multipart`,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'text/plain' }),
        status: 400,
        documentRefuses: true,
      },
      {
        operation: 'signUploadPart',
        name: 'sign a part',
        method: 'GET',
        path: multipart(toComplete, '/1'),
        status: 200,
      },
      {
        operation: 'signUploadPart',
        name: 'an uploadId of another key',
        method: 'GET',
        path: `${s3Routes}/multipart/${encodeURIComponent(toComplete.uploadId)}/1?key=${encodeURIComponent(`${toComplete.key}x`)}`,
        status: 403,
      },
      {
        operation: 'uploadPart',
        name: 'a part through the service',
        method: 'PUT',
        path: multipart(toAbort, '/1'),
        headers: { 'Content-Type': 'application/octet-stream' },
        body: 'the second part',
        status: 200,
      },
      {
        operation: 'uploadPart',
        name: 'part number 0',
        method: 'PUT',
        path: multipart(toAbort, '/0'),
        headers: { 'Content-Type': 'application/octet-stream' },
        body: 'x',
        status: 400,
      },
      { operation: 'listUploadParts', name: 'list the parts', method: 'GET', path: multipart(toComplete), status: 200 },
      {
        operation: 'listUploadParts',
        name: 'a forged uploadId',
        method: 'GET',
        path: multipart({ ...toComplete, uploadId: `${toComplete.uploadId}x` }),
        status: 403,
      },
      {
        operation: 'completeMultipartUpload',
        name: 'a wrong ETag (which aborts the upload)',
        method: 'POST',
        path: multipart(toAbort, '/complete'),
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ parts: [{ PartNumber: 1, ETag: '0123456789abcdef0123456789abcdef' }] }),
        status: 400,
      },
      {
        operation: 'completeMultipartUpload',
        name: 'complete',
        method: 'POST',
        path: multipart(toComplete, '/complete'),
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ parts: [{ PartNumber: 1, ETag: etag }] }),
        status: 200,
      },
      { operation: 'abortMultipartUpload', name: 'abort', method: 'DELETE', path: multipart(toAbort), status: 204 },
      {
        operation: 'abortMultipartUpload',
        name: 'a forged uploadId',
        method: 'DELETE',
        path: multipart({ ...toAbort, uploadId: `${toAbort.uploadId}x` }),
        status: 403,
      },
      // remove
      {
        operation: 'remove',
        name: 'If-Match that does not hold',
        method: 'DELETE',
        path: `/files/${inPath(key)}`,
        headers: { ...auth(), 'If-Match': '"0123456789abcdef0123456789abcdef"' },
        status: 412,
      },
      {
        operation: 'remove',
        name: 'read-only key deleting',
        method: 'DELETE',
        path: `/files/${inPath(key)}`,
        headers: auth(READ_ONLY_KEY),
        status: 403,
      },
      {
        operation: 'remove',
        name: 'delete',
        method: 'DELETE',
        path: `/files/${inPath(key)}`,
        headers: auth(),
        status: 204,
      },
      {
        operation: 'remove',
        name: 'delete again (idempotent)',
        method: 'DELETE',
        path: `/files/${inPath(key)}`,
        headers: auth(),
        status: 204,
      },
    ];

    // In order: later exchanges read what earlier ones wrote.
    for (const exchange of exchanges) {
      results.push(await send(prism.url, exchange));
    }
    // S3 gone: the 503s (and health's down report) must match the document too.
    await suite.s3.halt();
    try {
      // Health caches its check for 5 s: ask until it has noticed.
      const healthDown: Exchange = {
        operation: 'check',
        name: 'health, S3 down',
        method: 'GET',
        path: '/health',
        status: 503,
      };
      const until = Date.now() + 10_000;
      let health = await send(prism.url, healthDown);
      while (health.status === 200 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 250));
        health = await send(prism.url, healthDown);
      }
      results.push(health);
      results.push(
        await send(prism.url, {
          operation: 'list',
          name: 'list, S3 down',
          method: 'GET',
          path: '/files',
          headers: auth(),
          status: 503,
        }),
      );
    } finally {
      await suite.s3.restart();
    }

    const summary = results.map((r) => ({
      name: `${r.exchange.operation}: ${r.exchange.name}`,
      status: r.status,
      response: r.response.map((v) => `${v.location.join('.')} ${v.message}`),
      request: r.request.map((v) => `${v.location.join('.')} ${v.message}`),
    }));
    // Every answer as planned, and not one response that breaks the document.
    expect(summary.filter((s, i) => s.status !== results[i].exchange.status || s.response.length > 0)).toEqual([]);
    // Good requests: the document accepts them (Prism found the route and every parameter valid).
    const good = results.filter((r) => r.exchange.status < 400 || r.exchange.status >= 500);
    expect(good.filter((r) => r.request.length > 0).map((r) => [r.exchange.name, r.request])).toEqual([]);
    // Bad input the document describes as bad: Prism says so too, so the document and the service agree.
    const refusedByDocument = results.filter((r) => r.exchange.documentRefuses);
    expect(refusedByDocument.filter((r) => r.request.length === 0).map((r) => r.exchange.name)).toEqual([]);
    // Every operation of the document, with good input and (where it takes any) bad input.
    const covered = (pick: (r: Result) => boolean) => new Set(results.filter(pick).map((r) => r.exchange.operation));
    const withGood = covered((r) => r.exchange.status < 400);
    const withBad = covered((r) => r.exchange.status >= 400 && r.exchange.status < 500);
    expect(operations.filter((o) => !withGood.has(o))).toEqual([]);
    expect(operations.filter((o) => !withBad.has(o) && !['check', 'live'].includes(o))).toEqual([]);
  });

  it('should be a check that can fail: a response the document does not allow is reported', async () => {
    const result = await send(prism.url, {
      operation: 'prismCanary',
      name: 'canary',
      method: 'GET',
      path: CANARY,
      headers: auth(),
      status: 404,
    });
    expect(result.status).toBe(404);
    expect(result.request).toEqual([]);
    expect(result.response).toEqual([
      expect.objectContaining({
        location: ['response', 'body'],
        severity: 'Error',
        message: expect.stringMatching(/canary/),
      }),
    ]);
  });
});
