import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Upload, type HttpRequest, type HttpResponse } from 'tus-js-client';
import { RGW_TEST_KMS_KEY_ID } from '../dev/rgw/rgw.ts';
import { TusUploads } from '../src/uploads/tus-uploads.service.js';
import { binaryParser, encodeKey, eventually, randomKey, s3Env, sha256, serviceSuite } from './support/app.js';
import { FaultProxy } from './support/fault-proxy.js';
import { send } from './support/http.js';
import { request } from './support/openapi.js';
import { startRecordingProxy, type RecordingProxy } from './support/recording-proxy.js';
import {
  listMultipartUploads,
  objectExists,
  startS3Server,
  testBackend,
  type TestS3Server,
} from './support/s3-server.js';
import { startBuiltService, type BuiltService } from './support/built-service.js';
import { productionStart } from '../dev/service-process.ts';

const MiB = 1024 * 1024;
const RW = 'tus-read-write-key-0123456789';
const RO = 'tus-read-only-key-0123456789';
const KEYS = { API_KEYS: RW, API_KEYS_READONLY: RO };
const auth = (key = RW) => ({ Authorization: `Bearer ${key}` });
const TUS = { 'Tus-Resumable': '1.0.0' };

interface Exchange {
  method: string;
  status: number;
  requestOffset?: string;
  responseOffset?: string;
}

/** Uploads `data` with tus-js-client; resolves with the upload URL and every request it made. */
function tusUpload(
  endpoint: string,
  data: Buffer,
  options: { headers?: Record<string, string>; filename?: string; filetype?: string } = {},
): Promise<{ url: string; exchanges: Exchange[] }> {
  const exchanges: Exchange[] = [];
  return new Promise((resolve, reject) => {
    const upload = new Upload(data, {
      endpoint,
      headers: options.headers ?? auth(),
      metadata: {
        filename: options.filename ?? 'big file.bin',
        filetype: options.filetype ?? 'application/octet-stream',
      },
      retryDelays: [0, 200, 500, 1000, 2000],
      onAfterResponse: (req: HttpRequest, res: HttpResponse) => {
        exchanges.push({
          method: req.getMethod(),
          status: res.getStatus(),
          requestOffset: req.getHeader('Upload-Offset'),
          responseOffset: res.getHeader('Upload-Offset'),
        });
      },
      onError: reject,
      onSuccess: () => resolve({ url: upload.url as string, exchanges }),
    });
    upload.start();
  });
}

/** The file key of a finished upload: its URL's last segment. */
const keyOf = (uploadUrl: string): string => decodeURIComponent(new URL(uploadUrl).pathname.split('/').pop() ?? '');

async function reservedObjects(s3: S3Client, bucket: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: '.tus/' }));
  return (out.Contents ?? []).map((o) => o.Key ?? '');
}

/** POST /uploads for `length` bytes; the upload's path. */
async function create(url: string, length: number, metadata = 'filename dGVzdC5iaW4='): Promise<string> {
  const res = await send(`${url}/uploads`, {
    method: 'POST',
    headers: { ...auth(), ...TUS, 'Upload-Length': String(length), 'Upload-Metadata': metadata },
  });
  expect(res.status).toBe(201);
  return String(res.headers.location);
}

const patch = (
  url: string,
  path: string,
  offset: number | string,
  body: Buffer,
  headers: Record<string, string> = {},
) =>
  send(`${url}${path}`, {
    method: 'PATCH',
    headers: {
      ...auth(),
      ...TUS,
      'Upload-Offset': String(offset),
      'Content-Type': 'application/offset+octet-stream',
      ...headers,
    },
    body,
  });

/** One request whose target is sent byte for byte as given (no URL parsing on the client side). */
function sendTarget(
  base: string,
  target: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; headers: Record<string, unknown> }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path: target, method, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe(`tus uploads at /uploads (e2e against ${testBackend()})`, () => {
  const suite = serviceSuite({
    env: { ...KEYS, MAX_UPLOAD_BYTES: String(40 * MiB), CORS_ORIGINS: 'https://app.example' },
  });

  const leftovers = async (key: string) => ({
    multipart: await listMultipartUploads(suite.s3.s3, suite.s3.bucket, key),
    reserved: await reservedObjects(suite.s3.s3, suite.s3.bucket),
  });

  it('should store a tus-js-client upload at a generated key under its file name, readable through GET /files', async () => {
    const data = randomBytes(7 * MiB + 123);
    const { url: uploadUrl } = await tusUpload(`${suite.url}/uploads`, data, {
      filename: 'Résumé 2026.pdf',
      filetype: 'application/pdf',
    });
    const key = keyOf(uploadUrl);
    expect(key).toMatch(/^[0-9a-f-]{36}\/Résumé 2026\.pdf$/);
    const res = await request(suite.url)
      .get(`/files/${encodeKey(key)}`)
      .set(auth())
      .buffer(true)
      .parse(binaryParser)
      .expect(200);
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(sha256(res.body as Buffer)).toBe(sha256(data));
    const list = await request(suite.url).get('/files').set(auth()).expect(200);
    expect((list.body as { items: { key: string }[] }).items.map((i) => i.key)).toContain(key);
  });

  it('should store an empty file', async () => {
    const { url: uploadUrl } = await tusUpload(`${suite.url}/uploads`, Buffer.alloc(0), { filename: 'empty.txt' });
    const res = await request(suite.url)
      .head(`/files/${encodeKey(keyOf(uploadUrl))}`)
      .set(auth())
      .expect(200);
    expect(res.headers['content-length']).toBe('0');
  });

  it('should terminate an unfinished upload and leave no multipart upload, .info or .part behind', async () => {
    const before = await reservedObjects(suite.s3.s3, suite.s3.bucket);
    const path = await create(suite.url, 20 * MiB);
    // One full 5 MiB part and 2 MiB kept as the incomplete `.part` object.
    const res = await patch(suite.url, path, 0, randomBytes(7 * MiB));
    expect(res.status).toBe(204);
    expect(res.headers['upload-offset']).toBe(String(7 * MiB));
    const key = keyOf(`http://x${path}`);
    expect((await leftovers(key)).multipart).toHaveLength(1);
    expect((await reservedObjects(suite.s3.s3, suite.s3.bucket)).some((k) => k.endsWith('.part'))).toBe(true);
    // The Files API never shows the bookkeeping.
    const list = await request(suite.url).get('/files').set(auth()).expect(200);
    expect(JSON.stringify(list.body)).not.toContain('.tus');

    expect((await send(`${suite.url}${path}`, { method: 'DELETE', headers: { ...auth(), ...TUS } })).status).toBe(204);
    expect(await leftovers(key)).toEqual({ multipart: [], reserved: before });
    expect((await send(`${suite.url}${path}`, { method: 'HEAD', headers: { ...auth(), ...TUS } })).status).toBe(404);
    expect((await patch(suite.url, path, 7 * MiB, randomBytes(10))).status).toBe(404);
  });

  describe('bad input: a clear 4xx, never a 5xx', () => {
    let reservedBefore: string[];
    beforeEach(async () => {
      reservedBefore = await reservedObjects(suite.s3.s3, suite.s3.bucket);
    });

    it.each([
      ['no API key', {}, 401],
      ['an unknown key', auth('unknown-key-0123456789'), 401],
      ['a read-only key', auth(RO), 403],
    ])('should refuse creation with %s (JSON error)', async (_name, headers, status) => {
      const res = await send(`${suite.url}/uploads`, {
        method: 'POST',
        headers: { ...headers, ...TUS, 'Upload-Length': '10' },
      });
      expect(res.status).toBe(status);
      expect(JSON.parse(res.body.toString())).toEqual({
        statusCode: status,
        error: expect.any(String),
        message: expect.any(String),
      });
      expect(await reservedObjects(suite.s3.s3, suite.s3.bucket)).toEqual(reservedBefore);
    });

    it('should refuse a read-only key the offset of an upload (HEAD) and its termination', async () => {
      const path = await create(suite.url, 10);
      expect((await send(`${suite.url}${path}`, { method: 'HEAD', headers: { ...auth(RO), ...TUS } })).status).toBe(
        403,
      );
      expect((await send(`${suite.url}${path}`, { method: 'DELETE', headers: { ...auth(RO), ...TUS } })).status).toBe(
        403,
      );
      expect((await send(`${suite.url}${path}`, { method: 'DELETE', headers: { ...auth(), ...TUS } })).status).toBe(
        204,
      );
    });

    it('should answer 413 to an Upload-Length over MAX_UPLOAD_BYTES, creating nothing', async () => {
      const res = await send(`${suite.url}/uploads`, {
        method: 'POST',
        headers: { ...auth(), ...TUS, 'Upload-Length': String(40 * MiB + 1) },
      });
      expect(res.status).toBe(413);
      expect(await reservedObjects(suite.s3.s3, suite.s3.bucket)).toEqual(reservedBefore);
    });

    it.each([
      ['a negative Upload-Length', { 'Upload-Length': '-1' }, 400],
      ['no Upload-Length', {}, 400],
      ['no Tus-Resumable', { 'Tus-Resumable': '', 'Upload-Length': '10' }, 412],
      ['bad Upload-Metadata', { 'Upload-Length': '10', 'Upload-Metadata': 'filename %%%' }, 400],
      [
        'a filetype that is no media type',
        { 'Upload-Length': '10', 'Upload-Metadata': 'filetype dGV4dC9odG1sLCBpbWFnZS9wbmc=' },
        400,
      ],
      ['Upload-Concat (unsupported)', { 'Upload-Length': '10', 'Upload-Concat': 'partial' }, 400],
    ])('should refuse creation with %s', async (_name, headers: Record<string, string>, status) => {
      const res = await send(`${suite.url}/uploads`, { method: 'POST', headers: { ...auth(), ...TUS, ...headers } });
      expect(res.status).toBe(status);
      expect(res.body.toString()).not.toMatch(/\bat .+\.(js|ts):\d+/);
      expect(await reservedObjects(suite.s3.s3, suite.s3.bucket)).toEqual(reservedBefore);
    });

    it('should refuse bad offsets and bodies on PATCH', async () => {
      const path = await create(suite.url, 100);
      expect((await patch(suite.url, path, 5, Buffer.alloc(10))).status).toBe(409);
      expect((await patch(suite.url, path, 'abc', Buffer.alloc(10))).status).toBe(400);
      expect((await patch(suite.url, path, -1, Buffer.alloc(10))).status).toBe(400);
      expect((await patch(suite.url, path, 0, Buffer.alloc(10), { 'Content-Type': 'application/json' })).status).toBe(
        400,
      );
      expect((await patch(suite.url, path, 0, Buffer.alloc(101))).status).toBe(413);
      const ok = await patch(suite.url, path, 0, Buffer.alloc(60));
      expect(ok.headers['upload-offset']).toBe('60');
      expect((await patch(suite.url, path, 0, Buffer.alloc(10))).status).toBe(409);
      expect((await send(`${suite.url}${path}`, { method: 'DELETE', headers: { ...auth(), ...TUS } })).status).toBe(
        204,
      );
    });

    it('should refuse to terminate a finished upload and keep the file', async () => {
      const path = await create(suite.url, 5);
      expect((await patch(suite.url, path, 0, Buffer.from('hello'))).status).toBe(204);
      const res = await send(`${suite.url}${path}`, { method: 'DELETE', headers: { ...auth(), ...TUS } });
      expect(res.status).toBe(400);
      const file = await request(suite.url)
        .get(`/files/${encodeKey(keyOf(`http://x${path}`))}`)
        .set(auth())
        .buffer(true)
        .parse(binaryParser)
        .expect(200);
      expect((file.body as Buffer).toString()).toBe('hello');
    });

    it('should answer 404 to forged upload ids, and never touch a file the Files API stored', async () => {
      const key = randomKey('existing.txt');
      await request(suite.url)
        .put(`/files/${encodeKey(key)}`)
        .set(auth())
        .send('keep me')
        .expect(201);
      for (const id of [
        encodeURIComponent(key),
        'no-such-upload',
        '..%2F..%2Fetc%2Fpasswd',
        '.tus%2Fabc.info',
        '%2Fabsolute',
        'a%5Cb',
      ]) {
        for (const method of ['HEAD', 'DELETE']) {
          const res = await send(`${suite.url}/uploads/${id}`, { method, headers: { ...auth(), ...TUS } });
          expect([method, id, res.status]).toEqual([method, id, 404]);
        }
        expect((await patch(suite.url, `/uploads/${id}`, 0, Buffer.from('x'))).status).toBe(404);
      }
      await request(suite.url)
        .get(`/files/${encodeKey(key)}`)
        .set(auth())
        .expect(200, 'keep me');
    });

    it('should keep the reserved prefix out of the Files API', async () => {
      await request(suite.url).get('/files/.tus/x.info').set(auth()).expect(400);
      await request(suite.url).get('/files').query({ prefix: '.tus/' }).set(auth()).expect(400);
    });
  });

  describe('with an upload-session token', () => {
    const session = async (scope: Record<string, unknown>): Promise<string> => {
      const res = await request(suite.url).post('/upload-sessions').set(auth()).send(scope).expect(201);
      return (res.body as { token: string }).token;
    };
    const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

    it('should upload with tus-js-client under the session prefix', async () => {
      const token = await session({ keyPrefix: 'users/42/', maxBytes: 8 * MiB, contentTypes: ['image/*'] });
      const data = randomBytes(6 * MiB);
      const done = await tusUpload(`${suite.url}/uploads`, data, {
        headers: bearer(token),
        filename: 'cat.png',
        filetype: 'image/png',
      });
      const key = keyOf(done.url);
      expect(key).toMatch(/^users\/42\/[0-9a-f-]{36}\/cat\.png$/);
      const res = await request(suite.url)
        .get(`/files/${encodeKey(key)}`)
        .set(auth())
        .buffer(true)
        .parse(binaryParser);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('image/png');
      expect(sha256(res.body as Buffer)).toBe(sha256(data));
    });

    it('should hold the session to its size, types and scope', async () => {
      const token = await session({ keyPrefix: 'users/7/', maxBytes: 1000, contentTypes: ['image/*'] });
      const post = (headers: Record<string, string>) =>
        send(`${suite.url}/uploads`, { method: 'POST', headers: { ...bearer(token), ...TUS, ...headers } });
      const png = Buffer.from('image/png').toString('base64');
      const html = Buffer.from('text/html').toString('base64');
      expect((await post({ 'Upload-Length': '1001', 'Upload-Metadata': `filetype ${png}` })).status).toBe(413);
      expect((await post({ 'Upload-Length': '10', 'Upload-Metadata': `filetype ${html}` })).status).toBe(415);
      expect((await post({ 'Upload-Defer-Length': '1', 'Upload-Metadata': `filetype ${png}` })).status).toBe(201);
      // An upload made with an API key, outside the session's prefix, is out of its reach.
      const other = await create(suite.url, 10);
      for (const method of ['HEAD', 'DELETE']) {
        expect((await send(`${suite.url}${other}`, { method, headers: { ...bearer(token), ...TUS } })).status).toBe(
          403,
        );
      }
      expect((await patch(suite.url, other, 0, Buffer.alloc(10), bearer(token))).status).toBe(403);
      // Never a read, a list or a delete of files.
      expect((await send(`${suite.url}/files`, { headers: bearer(token) })).status).toBe(403);
    });

    it('should write exactly the key of a key session, one upload at a time', async () => {
      const key = randomKey('avatar.png');
      const token = await session({ key, maxBytes: 100 });
      const post = () =>
        send(`${suite.url}/uploads`, { method: 'POST', headers: { ...bearer(token), ...TUS, 'Upload-Length': '5' } });
      const first = await post();
      expect(first.status).toBe(201);
      const path = String(first.headers.location);
      expect(keyOf(`http://x${path}`)).toBe(key);
      // A second upload to the key while the first is unfinished would orphan the first's parts.
      expect((await post()).status).toBe(409);
      expect((await patch(suite.url, path, 0, Buffer.from('hello'), bearer(token))).status).toBe(204);
      expect(await objectExists(suite.s3.s3, suite.s3.bucket, key)).toBe(true);
      // Once finished, the key may be written again.
      const again = await post();
      expect(again.status).toBe(201);
      expect(
        (
          await send(`${suite.url}${String(again.headers.location)}`, {
            method: 'DELETE',
            headers: { ...bearer(token), ...TUS },
          })
        ).status,
      ).toBe(204);
    });

    it.each([
      ['a forged token', (t: string) => `${t.slice(0, -2)}${t.endsWith('AA') ? 'BB' : 'AA'}`],
      ['a token with another signature', (t: string) => `${t.split('.').slice(0, -1).join('.')}.x`],
    ])('should answer 401 to %s', async (_name, forge) => {
      const token = forge(await session({ keyPrefix: 'users/9/' }));
      const res = await send(`${suite.url}/uploads`, {
        method: 'POST',
        headers: { ...bearer(token), ...TUS, 'Upload-Length': '1' },
      });
      expect(res.status).toBe(401);
    });

    it('should answer 401 once the session has expired', async () => {
      const token = await session({ keyPrefix: 'users/8/', expiresIn: 1 });
      const path = String(
        (
          await send(`${suite.url}/uploads`, {
            method: 'POST',
            headers: { ...bearer(token), ...TUS, 'Upload-Length': '3' },
          })
        ).headers.location,
      );
      await new Promise((r) => setTimeout(r, 2100));
      expect((await patch(suite.url, path, 0, Buffer.from('abc'), bearer(token))).status).toBe(401);
      expect((await send(`${suite.url}${path}`, { method: 'DELETE', headers: { ...auth(), ...TUS } })).status).toBe(
        204,
      );
    });
  });

  describe('an upload id smuggled past the scope check in the request target', () => {
    // Each target names `mine` to the router; a parser that takes the last `/` segment of the whole URL sees `victim`.
    const targets = (mine: string, victim: string): string[] => [
      `/uploads/${mine}?/${victim}`,
      `/uploads/${mine}?/${victim}/`,
      `/uploads/${mine}/?/${victim}`,
      `/uploads/${mine}?x=1&y=/${victim}`,
      `/uploads/${mine}?//${victim}`,
      `/uploads/${mine}?;/${victim}`,
      `/uploads/${mine};/${victim}`,
      `/uploads/${mine}#/${victim}`,
      `/uploads/${mine}?#/${victim}`,
      `/uploads/${mine}%3F/${victim}`,
      `/uploads/${mine}%3F%2F${victim}`,
      `/uploads/${mine}?%2F${victim}`,
      `/uploads/${mine}%2F?/${victim}`,
      `/uploads//${victim}`,
      `//uploads/${mine}?/${victim}`,
      `/uploads/${mine}//?/${victim}`,
    ];

    const session = async (scope: Record<string, unknown>): Promise<string> => {
      const res = await request(suite.url).post('/upload-sessions').set(auth()).send(scope).expect(201);
      return (res.body as { token: string }).token;
    };

    it.each([
      ['an API key', () => Promise.resolve({ credential: auth(), mine: randomKey('mine.txt') })],
      [
        'an upload-session token for another key',
        async () => {
          const mine = randomKey('mine.txt');
          return { credential: { Authorization: `Bearer ${await session({ key: mine })}` }, mine };
        },
      ],
      [
        'an upload-session token for another prefix',
        async () => {
          const prefix = `t-${randomBytes(6).toString('hex')}/`;
          const token = await session({ keyPrefix: prefix });
          return { credential: { Authorization: `Bearer ${token}` }, mine: `${prefix}mine.txt` };
        },
      ],
    ])('should act on the id it checked, never the smuggled one, with %s', async (_name, given) => {
      const { credential, mine } = await given();
      const secret = Buffer.from('victim-secret.txt').toString('base64');
      // Unfinished after a smuggled PATCH, so a smuggled DELETE could still terminate it.
      const victimPath = await create(suite.url, 12, `filename ${secret}`);
      expect((await patch(suite.url, victimPath, 0, Buffer.from('GOOD'))).status).toBe(204);
      const victim = victimPath.slice('/uploads/'.length);

      for (const target of targets(encodeURIComponent(mine), victim)) {
        const head = await sendTarget(suite.url, target, 'HEAD', { ...credential, ...TUS });
        const write = await sendTarget(
          suite.url,
          target,
          'PATCH',
          { ...credential, ...TUS, 'Upload-Offset': '4', 'Content-Type': 'application/offset+octet-stream' },
          Buffer.from('EVIL'),
        );
        const remove = await sendTarget(suite.url, target, 'DELETE', { ...credential, ...TUS });
        // `mine` has no upload: nothing to find, write or remove.
        const refused = (status: number) => ([400, 403, 404].includes(status) ? 'refused' : status);
        expect({ target, answers: [head, write, remove].map((r) => refused(r.status)) }).toEqual({
          target,
          answers: ['refused', 'refused', 'refused'],
        });
        expect(JSON.stringify(head.headers)).not.toContain(secret);
        // The victim's upload is as it was.
        const check = await send(`${suite.url}${victimPath}`, { method: 'HEAD', headers: { ...auth(), ...TUS } });
        expect([target, check.status, check.headers['upload-offset']]).toEqual([target, 200, '4']);
      }
      expect((await patch(suite.url, victimPath, 4, Buffer.from('DONE-ALL'))).status).toBe(204);
      const file = await request(suite.url)
        .get(`/files/${encodeKey(keyOf(`http://x${victimPath}`))}`)
        .set(auth())
        .buffer(true)
        .parse(binaryParser)
        .expect(200);
      expect((file.body as Buffer).toString()).toBe('GOODDONE-ALL');
    });
  });

  it('should answer CORS preflights and expose the tus headers to the allowed origin', async () => {
    const preflight = await send(`${suite.url}/uploads/abc`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'PATCH',
        'Access-Control-Request-Headers': 'authorization,tus-resumable,upload-offset,content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-methods']).toContain('PATCH');
    expect(String(preflight.headers['access-control-allow-headers']).toLowerCase()).toContain('upload-offset');
    const res = await send(`${suite.url}/uploads`, {
      method: 'POST',
      headers: { ...auth(), ...TUS, 'Upload-Length': '1', Origin: 'https://app.example' },
    });
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    const exposed = String(res.headers['access-control-expose-headers']);
    for (const header of ['Location', 'Upload-Offset', 'Upload-Length', 'Tus-Resumable', 'Upload-Expires']) {
      expect(exposed).toContain(header);
    }
    const other = await send(`${suite.url}/uploads`, {
      method: 'POST',
      headers: { ...auth(), ...TUS, 'Upload-Length': '1', Origin: 'https://evil.example' },
    });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe(`tus writes with S3_SSE, S3_STORAGE_CLASS and DEFAULT_CACHE_CONTROL (e2e against ${testBackend()})`, () => {
  let proxy: RecordingProxy;
  // RGW 16 implements SSE-KMS (with its test key store: dev/rgw) but not SSE-S3.
  const kmsKeyId = testBackend() === 'rgw' ? RGW_TEST_KMS_KEY_ID : 'alias/files';
  const settings = {
    'x-amz-server-side-encryption': 'aws:kms',
    'x-amz-server-side-encryption-aws-kms-key-id': kmsKeyId,
    'x-amz-storage-class': 'STANDARD',
  };

  const suite = serviceSuite({
    env: async (s3) => {
      proxy = await startRecordingProxy(s3.endpoint);
      return s3Env(proxy.endpoint, s3.bucket, {
        ...KEYS,
        S3_SSE: 'aws:kms',
        S3_SSE_KMS_KEY_ID: kmsKeyId,
        // The one class every backend here knows (RGW's default placement has no other).
        S3_STORAGE_CLASS: 'STANDARD',
        DEFAULT_CACHE_CONTROL: 'private, max-age=600',
      });
    },
  });

  afterAll(async () => {
    await proxy?.close();
  });

  const head = (key: string) => suite.s3.s3.send(new HeadObjectCommand({ Bucket: suite.s3.bucket, Key: key }));

  it('should write the file, its .info, its .part and its locks with the settings', async () => {
    const data = randomBytes(8 * MiB);
    const path = await create(suite.url, data.length);
    const key = keyOf(`http://x${path}`);
    // One 5 MiB part, and 1 MiB left as the `.part` object until the rest arrives.
    expect((await patch(suite.url, path, 0, data.subarray(0, 6 * MiB))).status).toBe(204);

    const create_ = proxy.requests.find(
      (r) => r.method === 'POST' && r.path.split('?')[0].endsWith(`/${encodeKey(key)}`) && /[?&]uploads\b/.test(r.path),
    );
    expect(create_?.headers).toMatchObject({ ...settings, 'cache-control': 'private, max-age=600' });
    // tus's own objects (the backend probe's, also under .tus/, may still be running through the same proxy).
    const bookkeeping = proxy.requests.filter(
      (r) => r.method === 'PUT' && r.path.includes('/.tus/') && !r.path.includes('/.tus/probe-'),
    );
    // The upload lock of each request (POST, PATCH) too: a bucket policy that requires encryption accepts it.
    expect(bookkeeping.map((r) => r.path.split('?')[0].split('.').pop()).sort()).toEqual([
      'info',
      'lock',
      'lock',
      'part',
    ]);
    for (const put of bookkeeping) {
      expect(put.headers).toMatchObject(settings);
    }
    const reserved = await reservedObjects(suite.s3.s3, suite.s3.bucket);
    expect(reserved).toHaveLength(2);
    if (testBackend() === 'rgw') {
      for (const object of reserved) {
        expect(await head(object)).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKeyId });
      }
    }

    // The rest: the store reads the encrypted `.part` back and completes the upload.
    expect((await patch(suite.url, path, 6 * MiB, data.subarray(6 * MiB))).status).toBe(204);
    const stored = await head(key);
    expect(stored.CacheControl).toBe('private, max-age=600');
    if (testBackend() === 'rgw') {
      expect(stored).toMatchObject({ ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKeyId });
    }
    const file = await request(suite.url)
      .get(`/files/${encodeKey(key)}`)
      .set(auth())
      .buffer(true)
      .parse(binaryParser)
      .expect(200);
    expect(file.headers['cache-control']).toBe('private, max-age=600');
    expect(sha256(file.body as Buffer)).toBe(sha256(data));
  });
});

describe(`tus expiry (e2e against ${testBackend()})`, () => {
  const suite = serviceSuite({ env: KEYS, tuning: { tusExpirySeconds: 2 } });

  it('should expire an upload, and the cleanup the service runs should leave nothing behind', async () => {
    const unfinished = await create(suite.url, 20 * MiB);
    const res = await patch(suite.url, unfinished, 0, randomBytes(7 * MiB));
    expect(res.headers['upload-expires']).toBeDefined();
    const finished = await create(suite.url, 3);
    expect((await patch(suite.url, finished, 0, Buffer.from('abc'))).status).toBe(204);
    expect(await reservedObjects(suite.s3.s3, suite.s3.bucket)).toHaveLength(3);
    // Nothing is young enough to go yet.
    expect(await suite.app.get(TusUploads).removeExpired()).toBe(0);

    // The service's own cleanup (every second with this expiry) removes both uploads' objects once they expire.
    await eventually(async () => (await reservedObjects(suite.s3.s3, suite.s3.bucket)).length === 0, 15_000);
    expect(await listMultipartUploads(suite.s3.s3, suite.s3.bucket)).toEqual([]);
    // Gone: 410 while its bookkeeping is left, 404 once cleaned up.
    expect((await send(`${suite.url}${unfinished}`, { method: 'HEAD', headers: { ...auth(), ...TUS } })).status).toBe(
      404,
    );
    expect((await patch(suite.url, unfinished, 7 * MiB, randomBytes(10))).status).toBe(404);
    // The finished file stays.
    expect(await objectExists(suite.s3.s3, suite.s3.bucket, keyOf(`http://x${finished}`))).toBe(true);
  });
});

/** The bytes of the regular files in `dir` now (files that vanish while counted count 0). */
async function bytesIn(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    total += await stat(join(dir, name)).then(
      (s) => s.size,
      () => 0,
    );
  }
  return total;
}

/** Samples `dir` until the returned function is called; that resolves with the largest total seen. */
function watchPeak(dir: string): () => Promise<number> {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await bytesIn(dir));
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  return async () => {
    running = false;
    await loop;
    return peak;
  };
}

/**
 * A PATCH that declares `length` bytes and sends one every `everyMs`: resolves with the status the service answers
 * (0 if it only closed the connection), or `'still dripping'` when `stop` is called first.
 */
function drip(port: number, path: string, length: number, everyMs: number) {
  const socket = connect(port, '127.0.0.1');
  socket.write(
    `PATCH ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${RW}\r\nTus-Resumable: 1.0.0\r\n` +
      `Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: ${length}\r\n\r\n`,
  );
  const timer = setInterval(() => socket.write('x'), everyMs);
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  const done = new Promise<number | 'still dripping'>((resolve) => {
    socket.on('close', () => {
      clearInterval(timer);
      resolve(stopped ? 'still dripping' : Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0));
    });
  });
  let stopped = false;
  return {
    done,
    stop: () => {
      stopped = answer === '';
      socket.destroy();
    },
  };
}

describe(`tus on a built service: resuming, the temp dir, slow clients (e2e against ${testBackend()})`, () => {
  let s3: TestS3Server;
  let service: BuiltService;
  let proxy: FaultProxy;
  /** The service's TMPDIR: where @tus/s3-store writes its temporary files. */
  let tmp: string;

  beforeAll(async () => {
    s3 = await startS3Server();
    tmp = await mkdtemp(join(tmpdir(), 'tus-tmp-'));
    // As `npm run start:prod` runs it.
    const production = productionStart();
    service = await startBuiltService(
      {
        // 40 MiB of upload memory in 5 MiB parts: 4 tus writers at once (memory / part size / 2).
        ...s3Env(s3.endpoint, s3.bucket, {
          ...KEYS,
          MAX_UPLOAD_BYTES: String(100 * MiB),
          UPLOAD_MEMORY_BYTES: String(40 * MiB),
        }),
        LOG_LEVEL: 'warn',
        TMPDIR: tmp,
        ...production.env,
      },
      { nodeOptions: production.nodeOptions },
    );
    proxy = await FaultProxy.start(service.port);
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await service?.stop();
    await s3?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  // UPLOAD_MEMORY_BYTES 40 MiB and UPLOAD_PART_SIZE 5 MiB (s3Env): 4 tus writers at once.
  const partsInFlight = 4;
  const partSize = 5 * MiB;

  it('should keep the temp dir within tus writers × (part size + 5 MiB) under 20 concurrent PATCHes', async () => {
    // Twenty uploads, each with 4.5 MiB pending as its `.part` object (under S3's 5 MiB part minimum).
    const pending = 4.5 * MiB;
    const paths: string[] = [];
    for (let i = 0; i < 20; i++) {
      const path = await create(service.url, 10 * MiB);
      expect((await patch(service.url, path, 0, randomBytes(pending))).status).toBe(204);
      paths.push(path);
    }
    // The store removes a part's file just after it answers.
    await eventually(async () => (await bytesIn(tmp)) === 0);

    const peak = watchPeak(tmp);
    const busy: number[] = [];
    const answers = await Promise.all(
      paths.map(async (path) => {
        // A 503 is the service saying "busy, retry": tus clients do, after Retry-After.
        for (;;) {
          const res = await patch(service.url, path, pending, randomBytes(MiB));
          if (res.status !== 503) {
            return [res.status, res.headers['upload-offset']];
          }
          busy.push(Number(res.headers['retry-after']));
          await new Promise((r) => setTimeout(r, Number(res.headers['retry-after']) * 1000));
        }
      }),
    );
    const seen = await peak();
    console.log(
      `tus temp dir under 20 concurrent PATCHes on uploads with a 4.5 MiB .part: peak ${(seen / MiB).toFixed(1)} MiB, ` +
        `${busy.length} answers 503`,
    );
    expect(answers).toEqual(paths.map(() => [204, String(pending + MiB)]));
    expect(busy.every((seconds) => seconds === 1)).toBe(true);
    // The sampler saw the files (a pending part at least), and never more than the bound.
    expect(seen).toBeGreaterThanOrEqual(pending);
    expect(seen).toBeLessThanOrEqual(partsInFlight * (partSize + 5 * MiB));
    await eventually(async () => (await bytesIn(tmp)) === 0);
    for (const path of paths) {
      expect((await send(`${service.url}${path}`, { method: 'DELETE', headers: { ...auth(), ...TUS } })).status).toBe(
        204,
      );
    }
  }, 120_000);

  it('should finish a normal tus upload within seconds beside six dripping PATCHes', async () => {
    const drippers: ReturnType<typeof drip>[] = [];
    for (let i = 0; i < 6; i++) {
      drippers.push(drip(service.port, await create(service.url, MiB), MiB, 2000));
    }
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    const data = randomBytes(6 * MiB);
    const finished = await tusUpload(`${service.url}/uploads`, data).finally(() => drippers.forEach((d) => d.stop()));
    const seconds = (Date.now() - started) / 1000;
    const uploadUrl = finished.url;
    const ends = await Promise.all(drippers.map((d) => d.done));
    console.log(
      `tus 6 MiB upload beside 6 dripping PATCHes: ${seconds.toFixed(1)} s; drippers ended ${ends.join(', ')}`,
    );
    expect(seconds).toBeLessThan(12);
    const res = await request(service.url)
      .get(`/files/${encodeKey(keyOf(uploadUrl))}`)
      .set(auth())
      .buffer(true)
      .parse(binaryParser)
      .expect(200);
    expect(sha256(res.body as Buffer)).toBe(sha256(data));
    // A cut PATCH leaves no temporary file behind.
    await eventually(async () => (await bytesIn(tmp)) === 0);
  }, 60_000);

  const peakRss = async (): Promise<number> => {
    const status = await readFile(`/proc/${service.pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
  };

  it('should resume from the offset the service reports, byte-exact, with bounded memory', async () => {
    const data = randomBytes(64 * MiB);
    const before = { rss: await service.rss(), peak: await peakRss() };
    // The client's connection to the service is reset once, after 24 MiB of request bytes.
    await proxy.setMode({ kind: 'cut', direction: 'upstream', afterBytes: 24 * MiB, times: 1 });
    const started = Date.now();
    const { url: uploadUrl, exchanges } = await tusUpload(`${proxy.endpoint}/uploads`, data);
    const seconds = (Date.now() - started) / 1000;
    expect(proxy.stats.cuts).toBe(1);

    const patches = exchanges.filter((e) => e.method === 'PATCH');
    const resumedAt = exchanges.find((e) => e.method === 'HEAD')?.responseOffset;
    expect(Number(resumedAt)).toBeGreaterThan(0);
    expect(Number(resumedAt)).toBeLessThan(64 * MiB);
    expect(patches.at(-1)).toMatchObject({ status: 204, requestOffset: resumedAt, responseOffset: String(64 * MiB) });

    const key = keyOf(uploadUrl);
    const uploadPeak = await peakRss();
    const res = await request(service.url)
      .get(`/files/${encodeKey(key)}`)
      .set(auth())
      .buffer(true)
      .parse(binaryParser)
      .expect(200);
    expect(sha256(res.body as Buffer)).toBe(sha256(data));
    expect(await listMultipartUploads(s3.s3, s3.bucket, key)).toEqual([]);

    const peak = await peakRss();
    console.log(
      `tus 64 MiB upload, cut at 24 MiB and resumed at ${resumedAt} bytes: ${seconds.toFixed(1)} s; service RSS ` +
        `${(before.rss / MiB).toFixed(0)} MiB before, peak ${(peak / MiB).toFixed(0)} MiB ` +
        `(peak before the upload ${(before.peak / MiB).toFixed(0)} MiB, after the upload ${(uploadPeak / MiB).toFixed(0)} MiB)`,
    );
    // Parts go through temporary files: the peak does not grow with the upload (192 MiB measured the same, +70 MiB).
    expect(uploadPeak - before.peak).toBeLessThan(96 * MiB);
  }, 120_000);
});
