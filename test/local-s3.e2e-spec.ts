import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LocalS3Server } from '../dev/s3rver/local-s3.server.ts';
import { s3Suite } from './support/app.js';
import { describeOnS3rver, listMultipartUploads, startS3Server } from './support/s3-server.js';

describeOnS3rver(LocalS3Server.name, () => {
  const suite = s3Suite();
  let s3: S3Client;
  let bucket: string;

  beforeAll(() => {
    ({ s3, bucket } = suite.s3);
  });

  const newKey = (prefix = 'k') => `${prefix}/${randomUUID()}`;

  async function put(key: string, body: string | Uint8Array): Promise<void> {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  }

  async function read(key: string, range?: string) {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
    return { ...response, bytes: Buffer.from(await response.Body!.transformToByteArray()) };
  }

  async function startUpload(key: string, partBody: Uint8Array) {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const { ETag } = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 1, Body: partBody }),
    );
    return { UploadId: UploadId!, parts: [{ PartNumber: 1, ETag: ETag! }] };
  }

  /** Sends 100 of the 1000 bytes announced, then drops the connection. */
  async function cutShortPut(path: string): Promise<void> {
    const socket = connect(suite.s3.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1:${suite.s3.port}\r\nContent-Length: 1000\r\n\r\n`);
    socket.write(Buffer.alloc(100, 'x'));
    await delay(100);
    socket.destroy();
    await delay(300);
  }

  it('should paginate object lists with continuation tokens', async () => {
    const prefix = newKey('page');
    const keys = Array.from({ length: 25 }, (_, i) => `${prefix}/${String(i).padStart(2, '0')}`);
    await Promise.all(keys.map((key) => put(key, key)));

    const pages = [];
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix, MaxKeys: 10 })) {
      pages.push(page);
    }

    expect(pages.map((page) => page.KeyCount)).toEqual([10, 10, 5]);
    expect(pages.flatMap((page) => page.Contents!.map((object) => object.Key))).toEqual(keys);
  });

  it('should list multipart uploads in progress, honouring the prefix', async () => {
    const key = newKey('uploads-a');
    const other = newKey('uploads-b');
    const { UploadId } = await startUpload(key, randomBytes(10));
    await startUpload(other, randomBytes(10));

    const listed = await listMultipartUploads(s3, bucket, key.split('/')[0]);

    expect(listed).toEqual([{ Key: key, UploadId, StorageClass: 'STANDARD', Initiated: expect.any(Date) }]);
  });

  it('should abort a multipart upload and answer NoSuchUpload for an unknown one', async () => {
    const key = newKey();
    const { UploadId } = await startUpload(key, randomBytes(10));

    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }));

    expect(await listMultipartUploads(s3, bucket, key)).toEqual([]);
    await expect(
      s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })),
    ).rejects.toMatchObject({ name: 'NoSuchUpload', $metadata: { httpStatusCode: 404 } });
    await expect(
      s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: 'late' })),
    ).rejects.toMatchObject({ name: 'NoSuchUpload' });
  });

  it('should round-trip a multipart upload byte for byte and not list it once completed', async () => {
    const key = newKey();
    const body = randomBytes(12 * 1024 * 1024 + 123);

    const { ETag } = await new Upload({
      client: s3,
      params: { Bucket: bucket, Key: key, Body: body },
      partSize: 5 * 1024 * 1024,
    }).done();

    const { bytes, ContentLength, ETag: storedETag } = await read(key);
    expect(ETag).toMatch(/^"[0-9a-f]{32}-3"$/);
    expect(storedETag).toBe(ETag);
    expect(ContentLength).toBe(body.length);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    expect(await listMultipartUploads(s3, bucket, key)).toEqual([]);
  });

  it('should refuse to complete an upload with a part under 5 MiB before the last, or an unknown part', async () => {
    const key = newKey();
    const { UploadId, parts } = await startUpload(key, Buffer.from('small'));
    const complete = (Parts: { PartNumber: number; ETag: string }[]) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts } }));

    await expect(complete([{ ...parts[0], PartNumber: 2 }])).rejects.toMatchObject({ name: 'InvalidPart' });
    const { ETag } = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: 2, Body: 'last' }),
    );
    await expect(complete([...parts, { PartNumber: 2, ETag: ETag! }])).rejects.toMatchObject({
      name: 'EntityTooSmall',
      $metadata: { httpStatusCode: 400 },
    });
    expect(await listMultipartUploads(s3, bucket, key)).toHaveLength(1);
  });

  const copySource = (key: string) => `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;

  it('should copy an object whose key has characters decodeURI leaves encoded (? # + & =)', async () => {
    const from = newKey('src ?#+&=%é');
    await put(from, 'copied');
    const to = newKey('dst');
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: copySource(from) }));
    expect((await read(to)).bytes.toString()).toBe('copied');
  });

  it('should give a copy with new metadata over an existing object the ETag of its new bytes', async () => {
    const from = newKey();
    const to = newKey();
    await put(from, 'new bytes');
    await put(to, 'old bytes');

    await s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: to,
        CopySource: copySource(from),
        MetadataDirective: 'REPLACE',
        Metadata: { copied: 'yes' },
      }),
    );

    const copy = await read(to);
    expect([copy.bytes.toString(), copy.ETag, copy.Metadata]).toEqual([
      'new bytes',
      `"${createHash('md5').update('new bytes').digest('hex')}"`,
      { copied: 'yes' },
    ]);
  });

  it('should copy ranges of an object into parts (UploadPartCopy) and complete them byte for byte', async () => {
    const from = newKey('big ?#');
    const data = randomBytes(5 * 1024 * 1024 + 10);
    await put(from, data);
    const to = newKey();
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: to }));
    const ranges = ['bytes=0-5242879', `bytes=5242880-${data.length - 1}`];
    const parts = [];
    for (const [i, range] of ranges.entries()) {
      const out = await s3.send(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: to,
          UploadId,
          PartNumber: i + 1,
          CopySource: copySource(from),
          CopySourceRange: range,
        }),
      );
      parts.push({ PartNumber: i + 1, ETag: out.CopyPartResult!.ETag });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId, MultipartUpload: { Parts: parts } }),
    );
    const got = await read(to);
    expect(createHash('sha256').update(got.bytes).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(got.ETag).toMatch(/-2"$/);
    await expect(
      s3.send(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: to,
          UploadId: 'abc',
          PartNumber: 1,
          CopySource: copySource(from),
        }),
      ),
    ).rejects.toMatchObject({ name: 'NoSuchUpload' });
  });

  it('should delete keys whose UTF-8 characters straddle a chunk of the DeleteObjects request', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `${String(i).padStart(3, '0')}${'é'.repeat(100)}`);
    await put(keys[0], 'x');
    await put(keys[299], 'x');
    const out = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: false } }),
    );
    expect(new Set(out.Deleted!.map((d) => d.Key))).toEqual(new Set(keys));
    await expect(read(keys[299])).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it('should refuse a PutObject with If-None-Match: * when the object exists', async () => {
    const key = newKey();

    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'first', IfNoneMatch: '*' }));

    await expect(
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'second', IfNoneMatch: '*' })),
    ).rejects.toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
    expect((await read(key)).bytes.toString()).toBe('first');
  });

  it('should let exactly one of two racing conditional creates win', async () => {
    const key = newKey();
    const create = (body: string) =>
      s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, IfNoneMatch: '*' }));

    const results = await Promise.allSettled([create('a'), create('b')]);

    expect(results.map((result) => result.status).sort()).toEqual(['fulfilled', 'rejected']);
  });

  it('should refuse a CompleteMultipartUpload with If-None-Match: * when the object exists', async () => {
    const existing = newKey();
    await put(existing, 'existing');
    const refused = await startUpload(existing, Buffer.from('new'));
    const fresh = newKey();
    const accepted = await startUpload(fresh, Buffer.from('new'));
    const complete = (key: string, upload: typeof accepted) =>
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: upload.UploadId,
          MultipartUpload: { Parts: upload.parts },
          IfNoneMatch: '*',
        }),
      );

    await expect(complete(existing, refused)).rejects.toMatchObject({
      name: 'PreconditionFailed',
      $metadata: { httpStatusCode: 412 },
    });
    await complete(fresh, accepted);

    expect((await read(existing)).bytes.toString()).toBe('existing');
    expect((await read(fresh)).bytes.toString()).toBe('new');
  });

  it('should serve suffix, open-ended and single-byte ranges', async () => {
    const key = newKey();
    const body = randomBytes(100);
    await put(key, body);

    const suffix = await read(key, 'bytes=-10');
    expect(suffix.bytes).toEqual(body.subarray(90));
    expect(suffix.ContentRange).toBe('bytes 90-99/100');
    expect(suffix.$metadata.httpStatusCode).toBe(206);
    expect((await read(key, 'bytes=-1000')).ContentRange).toBe('bytes 0-99/100');
    const openEnded = await read(key, 'bytes=95-');
    expect(openEnded.bytes).toEqual(body.subarray(95));
    expect(openEnded.ContentRange).toBe('bytes 95-99/100');
    const first = await read(key, 'bytes=0-0');
    expect(first.bytes).toEqual(body.subarray(0, 1));
    expect(first.ContentRange).toBe('bytes 0-0/100');
    await expect(read(key, 'bytes=100-')).rejects.toMatchObject({ $metadata: { httpStatusCode: 416 } });
  });

  it('should answer a clean error for a key segment over 255 bytes and keep serving', async () => {
    const key = `long/${'a'.repeat(300)}`;

    await expect(put(key, 'x')).rejects.toMatchObject({ name: 'KeyTooLongError', $metadata: { httpStatusCode: 400 } });
    await expect(read(key)).rejects.toMatchObject({ name: 'NoSuchKey' });

    const ok = newKey();
    await put(ok, 'still serving');
    expect((await read(ok)).bytes.toString()).toBe('still serving');
  });

  it('should store nothing from a PutObject cut short and keep the previous object', async () => {
    const key = newKey();
    const existing = newKey();
    await put(existing, 'intact');

    await cutShortPut(`/${bucket}/${key}`);
    await cutShortPut(`/${bucket}/${existing}`);

    await expect(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).rejects.toMatchObject({
      name: 'NotFound',
    });
    expect((await read(existing)).bytes.toString()).toBe('intact');
    expect((await readdir(suite.s3.directory)).filter((name) => name.startsWith('.incoming-'))).toEqual([]);
  });

  it('should not store a part cut short', async () => {
    const key = newKey();
    const part = randomBytes(1000);
    const { UploadId, parts } = await startUpload(key, part);

    await cutShortPut(`/${bucket}/${key}?partNumber=1&uploadId=${UploadId}`);
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }),
    );

    expect((await read(key)).bytes).toEqual(part);
  });

  it('should keep its data and port across a restart', async () => {
    const own = await startS3Server();
    try {
      await own.s3.send(new PutObjectCommand({ Bucket: own.bucket, Key: 'kept', Body: 'kept' }));
      const { port } = own;

      await own.halt();
      await expect(own.s3.send(new HeadObjectCommand({ Bucket: own.bucket, Key: 'kept' }))).rejects.toThrow(
        /ECONNREFUSED/,
      );
      await own.restart();

      const response = await own.s3.send(new GetObjectCommand({ Bucket: own.bucket, Key: 'kept' }));
      expect(await response.Body!.transformToString()).toBe('kept');
      expect(own.port).toBe(port);
    } finally {
      await own.stop();
    }
  });

  it('should fail to start with a clear error when the port is taken', async () => {
    const taken = new LocalS3Server({ directory: suite.s3.directory, port: suite.s3.port });

    await expect(taken.start()).rejects.toThrow(/exited with code 1 before listening: .*EADDRINUSE/s);
  });

  it('should exit when its parent goes away (stdin closed)', async () => {
    const script = fileURLToPath(new URL('../dev/s3rver/s3rver-main.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--openssl-legacy-provider', script, `--directory=${suite.s3.directory}`, '--silent', '--exit-with-parent'],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = once(child, 'exit');
    await once(child.stdout, 'data');

    child.stdin.end();

    expect(await exited).toEqual([0, null]);
  });
});
