import { jest } from '@jest/globals';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@nestjs/common';
import { encodeKey, eventually, randomKey, s3Env, startApp, serviceSuite } from './support/app.js';
import { request } from './support/openapi.js';
import { describeOnS3rver, startS3Server, testBackend } from './support/s3-server.js';

interface Signed {
  url: string;
  method: 'PUT' | 'POST';
  headers?: Record<string, string>;
  fields?: Record<string, string>;
}

const PREFIX = 'tenant-a/';
const SECRET = 'the other tenant secret';

/** What the probe finds on each backend the suite runs (s3rver with its development gap fills). */
const EXPECTED = {
  s3rver: {
    presignedUnsignedHeaders: 'refused',
    conditionalWrites: { putIfNoneMatch: true, ifMatch: 'none', copyIfNoneMatch: true, completeIfNoneMatch: true },
  },
  rgw: {
    presignedUnsignedHeaders: 'accepted',
    conditionalWrites: {
      putIfNoneMatch: true,
      ifMatch: 'unquoted',
      copyIfNoneMatch: false,
      completeIfNoneMatch: false,
    },
  },
}[testBackend()];

/** Sends a signed upload as its answer says (PUT with its headers, or a POST form), plus what an attacker adds. */
async function sendSigned(
  signed: Signed,
  data: string,
  added: { headers?: Record<string, string>; fields?: Record<string, string> } = {},
): Promise<number> {
  if (signed.method === 'PUT') {
    const res = await fetch(signed.url, {
      method: 'PUT',
      headers: { ...signed.headers, ...added.headers },
      body: data,
    });
    await res.arrayBuffer();
    return res.status;
  }
  const form = new FormData();
  for (const [name, value] of Object.entries({ ...signed.fields, ...added.fields })) {
    form.append(name, value);
  }
  form.append('file', new Blob([data]), 'upload.bin');
  const res = await fetch(signed.url, { method: 'POST', headers: added.headers, body: form });
  await res.arrayBuffer();
  return res.status;
}

/** The object's bytes as S3 holds them, or undefined when there is none. */
async function stored(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    return await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') {
      return undefined;
    }
    throw error;
  }
}

/**
 * Presigned uploads an attacker holding one (a browser) tries to turn into a copy of another tenant's object or an
 * ACL change, on whatever the service hands out for this backend; and the write conditions the service detects.
 */
describe(`Backend capabilities (e2e against ${testBackend()})`, () => {
  const logged: string[] = [];
  let bootFetches: number;

  let fetchSpy: jest.SpiedFunction<typeof fetch>;
  const suite = serviceSuite({
    env: async (s3) => {
      await s3.s3.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'tenant-b/secret.txt', Body: SECRET }));
      for (const level of ['log', 'warn'] as const) {
        jest.spyOn(Logger.prototype, level).mockImplementation((message: unknown) => {
          logged.push(String(message));
        });
      }
      // Counted from here to the end of the app's start (the next beforeAll).
      fetchSpy = jest.spyOn(globalThis, 'fetch');
      return s3Env(s3.endpoint, s3.bucket, { S3_PREFIX: PREFIX });
    },
  });

  beforeAll(() => {
    bootFetches = fetchSpy.mock.calls.length;
    fetchSpy.mockRestore();
  });

  afterAll(() => jest.restoreAllMocks());

  const sign = (base: string, body: Record<string, unknown>) => request(base).post('/signed-urls').send(body);

  it('should probe without fetch, whose undici stays resident (about 12 MiB) once loaded', () => {
    expect(bootFetches).toBe(0);
  });

  it('should say what it learned of the backend in the boot log and in /health/', async () => {
    const health = await request(suite.url).get('/health/').expect(200);
    expect(health.body.details.storage).toEqual({ status: 'up', responseTime: expect.any(Number), ...EXPECTED });
    const presigned = logged.find((line) => line.startsWith('S3 presigned requests: '));
    expect(presigned).toMatch(
      EXPECTED.presignedUnsignedHeaders === 'refused' ? /signed uploads are presigned PUTs$/ : /are POST forms/,
    );
    expect(logged.find((line) => line.startsWith('S3 conditional writes: '))).toContain(
      `PutObject If-None-Match honoured, If-Match ${EXPECTED.conditionalWrites.ifMatch === 'none' ? 'not used' : `honoured (${EXPECTED.conditionalWrites.ifMatch} ETag)`}`,
    );
  });

  it('should hand out an upload that works, and that no unsigned header or extra field turns into a copy', async () => {
    const key = randomKey('loot.bin');
    const signed = (await sign(suite.url, { key, operation: 'upload' }).expect(201)).body as Signed;
    const copySource = `${suite.s3.bucket}/tenant-b/secret.txt`;
    await sendSigned(signed, 'mine', {
      headers: { 'x-amz-copy-source': copySource },
      fields: { 'x-amz-copy-source': copySource },
    });
    expect(await stored(suite.s3.s3, suite.s3.bucket, PREFIX + key)).not.toBe(SECRET);
    const res = await request(suite.url)
      .get(`/files/${encodeKey(key)}`)
      .buffer(true);
    expect(String(res.text ?? res.body)).not.toContain(SECRET);
    expect(signed.method).toBe(EXPECTED.presignedUnsignedHeaders === 'refused' ? 'PUT' : 'POST');

    // The same answer, used as intended, uploads.
    const plain = randomKey('plain.bin');
    const good = (await sign(suite.url, { key: plain, operation: 'upload' }).expect(201)).body as Signed;
    expect(await sendSigned(good, 'mine')).toBeLessThan(300);
    expect(await stored(suite.s3.s3, suite.s3.bucket, PREFIX + plain)).toBe('mine');
  });

  it('should hand out no upload that an unsigned x-amz-acl or an acl field makes readable by anyone', async () => {
    const plain = randomKey('private.bin');
    await request(suite.url)
      .put(`/files/${encodeKey(plain)}`)
      .send('private')
      .expect(201);
    // s3rver has no access control at all: anonymous reads of anything work there, so there is nothing to change.
    const anonymousRefused =
      (await fetch(`${suite.s3.endpoint}/${suite.s3.bucket}/${PREFIX}${encodeKey(plain)}`)).status === 403;
    const key = randomKey('open.bin');
    const signed = (await sign(suite.url, { key, operation: 'upload' }).expect(201)).body as Signed;
    await sendSigned(signed, 'mine', { headers: { 'x-amz-acl': 'public-read' }, fields: { acl: 'public-read' } });
    const anonymous = await fetch(`${suite.s3.endpoint}/${suite.s3.bucket}/${PREFIX}${encodeKey(key)}`);
    await anonymous.arrayBuffer();
    if (anonymousRefused) {
      expect(anonymous.status).not.toBe(200);
    }
    expect(testBackend() === 's3rver' || anonymousRefused).toBe(true);
  });

  it('should accept a PUT whose If-Match is the current ETag, and refuse another, with no setting', async () => {
    const key = randomKey('guarded.txt');
    const { etag } = (
      await request(suite.url)
        .put(`/files/${encodeKey(key)}`)
        .send('one')
        .expect(201)
    ).body as {
      etag: string;
    };
    await request(suite.url)
      .put(`/files/${encodeKey(key)}`)
      .set('If-Match', etag)
      .send('two')
      .expect(200);
    await request(suite.url)
      .put(`/files/${encodeKey(key)}`)
      .set('If-Match', etag)
      .send('three')
      .expect(412);
    expect(await stored(suite.s3.s3, suite.s3.bucket, PREFIX + key)).toBe('two');
  });

  it('should let at most one of many concurrent copies with overwrite false create a new key', async () => {
    const from = randomKey('source.txt');
    await request(suite.url)
      .put(`/files/${encodeKey(from)}`)
      .send('source')
      .expect(201);
    for (let round = 0; round < 5; round++) {
      const to = randomKey('target.txt');
      const statuses = await Promise.all(
        Array.from({ length: 8 }, () =>
          request(suite.url)
            .post(`/files/${encodeKey(from)}/copy`)
            .send({ to, overwrite: false })
            .then((res) => res.status),
        ),
      );
      expect(statuses.filter((status) => status === 201)).toHaveLength(1);
      expect(statuses.filter((status) => status !== 201)).toEqual(Array(7).fill(409));
      expect(await stored(suite.s3.s3, suite.s3.bucket, PREFIX + to)).toBe('source');
    }
  });

  it('should sign no upload until it knows whether S3 applies unsigned headers, then without a restart', async () => {
    const down = await startS3Server();
    await down.halt();
    const late = await startApp(s3Env(down.endpoint, down.bucket));
    try {
      const refused = await sign(late.url, { key: randomKey(), operation: 'upload' }).expect(503);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(refused.body.message).toMatch(/^signed upload URLs are not available yet/);
      // A POST form with maxBytes does not depend on it.
      await sign(late.url, { key: randomKey(), operation: 'upload', maxBytes: 10 }).expect(201);
      await down.restart();
      await eventually(async () => (await sign(late.url, { key: randomKey(), operation: 'upload' })).status === 201);
      const signed = (await sign(late.url, { key: randomKey(), operation: 'upload' }).expect(201)).body as Signed;
      expect(signed.method).toBe(EXPECTED.presignedUnsignedHeaders === 'refused' ? 'PUT' : 'POST');
    } finally {
      await late.app.close();
      await down.stop();
    }
  });
});

describeOnS3rver('Backend capabilities on s3rver without its gap fills (e2e)', () => {
  const suite = serviceSuite({ s3: { without: ['unsigned-headers', 'conditions'] } });

  const put = (key: string, body: string) =>
    request(suite.url)
      .put(`/files/${encodeKey(key)}`)
      .send(body);

  it('should find that presigned requests take unsigned headers and conditions are ignored', async () => {
    const health = await request(suite.url).get('/health/').expect(200);
    expect(health.body.details.storage).toEqual({
      status: 'up',
      responseTime: expect.any(Number),
      presignedUnsignedHeaders: 'accepted',
      conditionalWrites: { putIfNoneMatch: false, ifMatch: 'none', copyIfNoneMatch: false, completeIfNoneMatch: false },
    });
  });

  it('should sign uploads as POST forms, which refuse a copy', async () => {
    const secret = randomKey('secret.txt');
    await put(secret, SECRET).expect(201);
    const key = randomKey('loot.bin');
    const signed = (await request(suite.url).post('/signed-urls').send({ key, operation: 'upload' }).expect(201))
      .body as Signed;
    await sendSigned(signed, 'mine', { headers: { 'x-amz-copy-source': `${suite.s3.bucket}/${secret}` } });
    expect(await stored(suite.s3.s3, suite.s3.bucket, key)).toBe('mine');
    expect(signed.method).toBe('POST');
  });

  it('should replace nothing an overwrite refusal covers, and answer 200 to a replace', async () => {
    const key = randomKey('kept.txt');
    await put(key, 'one').expect(201);
    await put(key, 'two').expect(200);
    await put(key, 'three').set('If-None-Match', '*').expect(412);
    await request(suite.url)
      .post('/files')
      .query({ key, overwrite: 'false' })
      .attach('file', Buffer.from('four'), 'four.txt')
      .expect(409);
    const from = randomKey('source.txt');
    await put(from, 'five').expect(201);
    await request(suite.url)
      .post(`/files/${encodeKey(from)}/copy`)
      .send({ to: key, overwrite: false })
      .expect(409);
    expect(await stored(suite.s3.s3, suite.s3.bucket, key)).toBe('two');
  });
});
