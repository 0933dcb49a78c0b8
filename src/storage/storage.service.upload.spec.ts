import { PassThrough, Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { NO_CONDITIONAL_WRITES, type ConditionalWrites } from './backend-capabilities.js';
import { FixedCapabilities } from '../../test/support/fixed-capabilities.js';
import { S3Gateway } from './s3-gateway.js';
import { StorageService } from './storage.service.js';
import { fakeS3 } from '../../test/support/fake-s3.js';
import { testConfig } from '../../test/support/test-config.js';

const MiB = 1024 * 1024;

/** What the backend honours: every condition, with If-Match in this form; `none`: no condition at all. */
const honouring = (ifMatch: 'quoted' | 'unquoted' | 'none'): ConditionalWrites =>
  ifMatch === 'none'
    ? NO_CONDITIONAL_WRITES
    : { putIfNoneMatch: true, ifMatch, copyIfNoneMatch: true, completeIfNoneMatch: true };

function storage(client: S3Client, ifMatch: 'quoted' | 'unquoted' | 'none' = 'quoted'): StorageService {
  const config = testConfig({ S3_PREFIX: 'tenant/', UPLOAD_PART_SIZE: String(5 * MiB) });
  return new StorageService(new S3Gateway(client, config), config, client, new FixedCapabilities(honouring(ifMatch)));
}

/** HeadObject as S3 answers it for the object the upload just wrote (its marker in the metadata). */
const headOfWritten = (etag: string) => (sent: { command: string; input: Record<string, unknown> }[]) => () => {
  const write = sent.find((s) => s.command === 'CreateMultipartUploadCommand' || s.command === 'PutObjectCommand');
  return { ETag: etag, Metadata: write?.input.Metadata };
};

describe(`${StorageService.name} upload ETag`, () => {
  it.each([
    ['an empty ETag', ''],
    ['no ETag', undefined],
  ])('should answer the stored ETag when CompleteMultipartUpload gives %s (Ceph RGW)', async (_, completeEtag) => {
    let head: () => object = () => ({});
    const { client, sent } = fakeS3({
      CreateMultipartUploadCommand: () => ({ UploadId: 'upload-1' }),
      UploadPartCommand: (input) => ({ ETag: `"part-${String(input.PartNumber)}"` }),
      CompleteMultipartUploadCommand: () => ({ ETag: completeEtag, Key: 'tenant/big.bin' }),
      HeadObjectCommand: () => head(),
    });
    head = headOfWritten('"0123456789abcdef0123456789abcdef-2"')(sent);
    const result = await storage(client).upload({
      key: 'big.bin',
      body: Readable.from([Buffer.alloc(6 * MiB)]),
      contentType: 'application/octet-stream',
      maxBytes: 10 * MiB,
    });
    expect(result.etag).toBe('"0123456789abcdef0123456789abcdef-2"');
    expect(result.size).toBe(6 * MiB);
    expect(sent.filter((s) => s.command === 'HeadObjectCommand').map((s) => s.input)).toEqual([
      { Bucket: 'bucket', Key: 'tenant/big.bin' },
    ]);
  });

  it('should answer the stored ETag when a single PUT gives none', async () => {
    let head: () => object = () => ({});
    const { client, sent } = fakeS3({ PutObjectCommand: () => ({}), HeadObjectCommand: () => head() });
    head = headOfWritten('"d41d8cd98f00b204e9800998ecf8427e"')(sent);
    const result = await storage(client).upload({
      key: 'small.txt',
      body: Readable.from([Buffer.from('hello')]),
      contentType: 'text/plain',
      maxBytes: MiB,
    });
    expect(result.etag).toBe('"d41d8cd98f00b204e9800998ecf8427e"');
  });

  it('should not ask S3 again when the upload answered an ETag', async () => {
    const { client, sent } = fakeS3({ PutObjectCommand: () => ({ ETag: '"abc"' }) });
    const result = await storage(client).upload({
      key: 'small.txt',
      body: Readable.from([Buffer.from('hello')]),
      contentType: 'text/plain',
      maxBytes: MiB,
    });
    expect(result.etag).toBe('"abc"');
    expect(sent.map((s) => s.command)).toEqual(['PutObjectCommand']);
  });
});

describe(`${StorageService.name} preconditions`, () => {
  const lastModified = new Date('2026-01-02T03:04:05Z');
  const head = () => ({ ETag: '"abc"', LastModified: lastModified });
  const notFound = () => {
    throw Object.assign(new Error('not found'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
  };
  const body = (bytes: number) => Readable.from([Buffer.alloc(bytes)]);
  const conditionsSent = (sent: { command: string; input: Record<string, unknown> }[], command: string) =>
    sent
      .filter((s) => s.command === command)
      .map(({ input }) => ({ IfMatch: input.IfMatch, IfNoneMatch: input.IfNoneMatch }));

  it.each([
    ['quoted', '"abc"'],
    ['unquoted', 'abc'],
    ['none', undefined],
  ] as const)(
    'should make a write that passed the check conditional on the ETag checked (If-Match honoured: %s)',
    async (mode, sentTag) => {
      const { client, sent } = fakeS3({ HeadObjectCommand: head, PutObjectCommand: () => ({ ETag: '"new"' }) });
      const checked: unknown[] = [];
      await storage(client, mode).upload({
        key: 'a.txt',
        body: body(5),
        contentType: 'text/plain',
        maxBytes: MiB,
        precondition: (current) => checked.push(current) > 0,
      });
      expect(checked).toEqual([{ etag: '"abc"', lastModified }]);
      expect(conditionsSent(sent, 'PutObjectCommand')).toEqual([{ IfMatch: sentTag, IfNoneMatch: undefined }]);
    },
  );

  it('should make the multipart upload conditional when it completes', async () => {
    const { client, sent } = fakeS3({
      HeadObjectCommand: head,
      CreateMultipartUploadCommand: () => ({ UploadId: 'u' }),
      UploadPartCommand: (input) => ({ ETag: `"part-${String(input.PartNumber)}"` }),
      CompleteMultipartUploadCommand: () => ({ ETag: '"new-2"' }),
    });
    await storage(client).upload({
      key: 'big.bin',
      body: body(6 * MiB),
      contentType: 'application/octet-stream',
      maxBytes: 10 * MiB,
      precondition: () => true,
    });
    expect(conditionsSent(sent, 'CompleteMultipartUploadCommand')).toEqual([
      { IfMatch: '"abc"', IfNoneMatch: undefined },
    ]);
  });

  it('should write only if the key is still free when the check passed on no object', async () => {
    const { client, sent } = fakeS3({ HeadObjectCommand: notFound, PutObjectCommand: () => ({ ETag: '"new"' }) });
    await storage(client).upload({
      key: 'a.txt',
      body: body(5),
      contentType: 'text/plain',
      maxBytes: MiB,
      precondition: () => true,
    });
    expect(conditionsSent(sent, 'PutObjectCommand')).toEqual([{ IfMatch: undefined, IfNoneMatch: '*' }]);
  });

  it('should refuse a write whose check fails without writing', async () => {
    const { client, sent } = fakeS3({ HeadObjectCommand: head });
    const upload = storage(client).upload({
      key: 'a.txt',
      body: body(5),
      contentType: 'text/plain',
      maxBytes: MiB,
      precondition: () => false,
    });
    await expect(upload).rejects.toEqual(expect.objectContaining({ code: 'PreconditionFailed' }));
    expect(sent.map((s) => s.command)).toEqual(['HeadObjectCommand']);
  });

  it('should delete conditionally on the ETag checked, and not at all when the check fails', async () => {
    const { client, sent } = fakeS3({ HeadObjectCommand: head, DeleteObjectCommand: () => ({}) });
    await storage(client, 'unquoted').remove('a.txt', () => true);
    expect(conditionsSent(sent, 'DeleteObjectCommand')).toEqual([{ IfMatch: 'abc', IfNoneMatch: undefined }]);
    await expect(storage(client).remove('a.txt', () => false)).rejects.toEqual(
      expect.objectContaining({ code: 'PreconditionFailed' }),
    );
    expect(sent.filter((s) => s.command === 'DeleteObjectCommand')).toHaveLength(1);
  });

  it('should answer a conditional delete of no object without asking S3 to delete', async () => {
    const { client, sent } = fakeS3({ HeadObjectCommand: notFound });
    await storage(client).remove('a.txt', () => true);
    expect(sent.map((s) => s.command)).toEqual(['HeadObjectCommand']);
  });
});

describe(`${StorageService.name} created or replaced`, () => {
  const rejected = (status: number) => () => {
    throw Object.assign(new Error(`status ${status}`), {
      name: 'PreconditionFailed',
      $metadata: { httpStatusCode: status },
    });
  };
  const small = (text: string) => ({
    key: 'small.txt',
    body: Readable.from([Buffer.from(text)]),
    contentType: 'text/plain',
    maxBytes: MiB,
    size: text.length,
    reportCreated: true,
  });
  const bodyText = (input: Record<string, unknown>) => Buffer.from(input.Body as Uint8Array).toString();

  it('should tell a new key from S3 conditional write, without a HEAD', async () => {
    const { client, sent } = fakeS3({ PutObjectCommand: () => ({ ETag: '"new"' }) });
    const result = await storage(client).upload(small('hello'));
    expect(result).toMatchObject({ created: true, etag: '"new"', size: 5 });
    expect(sent.map((s) => [s.command, s.input.IfNoneMatch, bodyText(s.input)])).toEqual([
      ['PutObjectCommand', '*', 'hello'],
    ]);
  });

  it.each([412, 409])(
    'should write again without the condition when S3 answers %d, and report a replacement',
    async (status) => {
      let calls = 0;
      const { client, sent } = fakeS3({
        PutObjectCommand: () => (calls++ === 0 ? rejected(status)() : { ETag: '"replaced"' }),
      });
      const result = await storage(client).upload(small('hello'));
      expect(result).toMatchObject({ created: false, etag: '"replaced"' });
      expect(sent.map((s) => [s.command, s.input.IfNoneMatch, bodyText(s.input)])).toEqual([
        ['PutObjectCommand', '*', 'hello'],
        ['PutObjectCommand', undefined, 'hello'],
      ]);
    },
  );

  it('should report a new key when a retried conditional write is refused because its lost first attempt wrote it', async () => {
    let head: () => object = () => ({});
    const { client, sent } = fakeS3({
      PutObjectCommand: () => {
        throw Object.assign(new Error('412'), { $metadata: { httpStatusCode: 412, attempts: 2 } });
      },
      HeadObjectCommand: () => head(),
    });
    head = headOfWritten('"mine"')(sent);
    const result = await storage(client).upload(small('hello'));
    expect(result).toMatchObject({ created: true, etag: '"mine"' });
    expect(sent.map((s) => s.command)).toEqual(['PutObjectCommand', 'HeadObjectCommand']);
  });

  it('should refuse an existing key with overwrite off from the conditional write alone', async () => {
    const { client, sent } = fakeS3({ PutObjectCommand: rejected(412), HeadObjectCommand: () => ({}) });
    await expect(
      storage(client).upload({ ...small('hello'), reportCreated: false, ifNoneMatch: true }),
    ).rejects.toMatchObject({ code: 'PreconditionFailed' });
    expect(sent.map((s) => s.command)).toEqual(['PutObjectCommand', 'HeadObjectCommand']); // the marker check
  });

  it.each([
    ['a body larger than a part', { size: 6 * MiB }, 'quoted'],
    ['a body of unknown size', { size: undefined }, 'quoted'],
    ['an S3 that honours no condition', {}, 'none'],
  ] as const)('should ask with a HEAD first for %s', async (_, change, ifMatch) => {
    const { client, sent } = fakeS3({
      HeadObjectCommand: () => ({ ETag: '"old"' }),
      PutObjectCommand: () => ({ ETag: '"new"' }),
    });
    const result = await storage(client, ifMatch).upload({ ...small('hello'), ...change });
    expect(result.created).toBe(false);
    expect(sent.map((s) => [s.command, s.input.IfNoneMatch])).toEqual([
      ['HeadObjectCommand', undefined],
      ['PutObjectCommand', undefined],
    ]);
  });
});

describe(`${StorageService.name} multipart parts`, () => {
  it('should send every part from pooled buffers, and give all of them back', async () => {
    const body = Buffer.alloc(12 * MiB + 3);
    for (let i = 0; i < body.length; i += 4096) {
      body[i] = i % 251;
    }
    const received: Buffer[] = [];
    const { client } = fakeS3({
      CreateMultipartUploadCommand: () => ({ UploadId: 'upload-1' }),
      UploadPartCommand: (input) => {
        received[Number(input.PartNumber) - 1] = Buffer.from(input.Body as Uint8Array);
        return { ETag: `"part-${String(input.PartNumber)}"` };
      },
      CompleteMultipartUploadCommand: (input) => {
        expect(input.MultipartUpload).toEqual({
          Parts: [1, 2, 3].map((n) => ({ PartNumber: n, ETag: `"part-${n}"` })),
        });
        return { ETag: '"all-3"' };
      },
    });
    const service = storage(client);
    const chunks = Array.from({ length: Math.ceil(body.length / 65536) }, (_, i) =>
      body.subarray(i * 65536, (i + 1) * 65536),
    );
    const result = await service.upload({
      key: 'big.bin',
      body: Readable.from(chunks),
      contentType: 'a/b',
      maxBytes: 20 * MiB,
    });
    expect(result).toMatchObject({ etag: '"all-3"', size: body.length });
    expect(received.map((part) => part.length)).toEqual([5 * MiB, 5 * MiB, 2 * MiB + 3]);
    expect(Buffer.concat(received).equals(body)).toBe(true);
    expect(service.uploadMemory.inUse).toBe(0);
  });

  it('should take a part buffer only once a body has sent 64 KiB of the part, or ended', async () => {
    const { client } = fakeS3({
      CreateMultipartUploadCommand: () => ({ UploadId: 'upload-1' }),
      UploadPartCommand: (input) => ({ ETag: `"part-${String(input.PartNumber)}"` }),
      CompleteMultipartUploadCommand: () => ({ ETag: '"all-2"' }),
    });
    const service = storage(client);
    const body = new PassThrough();
    const upload = service.upload({ key: 'slow.bin', body, contentType: 'a/b', maxBytes: 20 * MiB });
    const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

    body.write(Buffer.alloc(1024)); // a client dripping its first bytes holds no pooled memory
    await settle();
    expect(service.uploadMemory.inUse).toBe(0);
    body.write(Buffer.alloc(64 * 1024));
    await settle();
    expect(service.uploadMemory.inUse).toBe(5 * MiB);

    body.write(Buffer.alloc(5 * MiB - 65 * 1024 + 1024)); // the first part, and 1 KiB of the next
    await settle();
    expect(service.uploadMemory.inUse).toBe(0); // part 1 is with S3; the next is not taken for 1 KiB
    body.end(Buffer.alloc(64 * 1024));
    await expect(upload).resolves.toMatchObject({ etag: '"all-2"', size: 5 * MiB + 65 * 1024 });
    expect(service.uploadMemory.inUse).toBe(0);
  });

  it('should abort the multipart upload when a part fails, once no part is in flight', async () => {
    const { client, sent } = fakeS3({
      CreateMultipartUploadCommand: () => ({ UploadId: 'upload-1' }),
      UploadPartCommand: (input) => {
        if (input.PartNumber === 2) {
          throw Object.assign(new Error('boom'), { $metadata: { httpStatusCode: 500 } });
        }
        return { ETag: '"p"' };
      },
      AbortMultipartUploadCommand: () => ({}),
      ListPartsCommand: () => {
        throw Object.assign(new Error('gone'), { name: 'NoSuchUpload', $metadata: { httpStatusCode: 404 } });
      },
      HeadObjectCommand: () => {
        throw Object.assign(new Error('not found'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
      },
    });
    const service = storage(client);
    await expect(
      service.upload({
        key: 'big.bin',
        body: Readable.from([Buffer.alloc(16 * MiB)]),
        contentType: 'a/b',
        maxBytes: 20 * MiB,
      }),
    ).rejects.toBeDefined();
    expect(sent.map((s) => s.command).filter((c) => c !== 'UploadPartCommand')).toEqual([
      'CreateMultipartUploadCommand',
      'AbortMultipartUploadCommand',
      'ListPartsCommand',
      'HeadObjectCommand',
    ]);
    expect(service.uploadMemory.inUse).toBe(0);
  });

  it('should abort again while S3 still has the upload (a part it was receiving brought it back)', async () => {
    let listed = 0;
    const { client, sent } = fakeS3({
      CreateMultipartUploadCommand: () => ({ UploadId: 'upload-1' }),
      UploadPartCommand: () => {
        throw Object.assign(new Error('boom'), { $metadata: { httpStatusCode: 500 } });
      },
      AbortMultipartUploadCommand: () => ({}),
      ListPartsCommand: () => {
        if (listed++ === 0) {
          return { Parts: [{ PartNumber: 2 }] };
        }
        throw Object.assign(new Error('gone'), { name: 'NoSuchUpload', $metadata: { httpStatusCode: 404 } });
      },
      HeadObjectCommand: () => ({}),
    });
    await expect(
      storage(client).upload({
        key: 'big.bin',
        body: Readable.from([Buffer.alloc(12 * MiB)]),
        contentType: 'a/b',
        maxBytes: 20 * MiB,
      }),
    ).rejects.toBeDefined();
    expect(
      sent.map((s) => s.command).filter((c) => c === 'AbortMultipartUploadCommand' || c === 'ListPartsCommand'),
    ).toEqual(['AbortMultipartUploadCommand', 'ListPartsCommand', 'AbortMultipartUploadCommand', 'ListPartsCommand']);
  });

  it('should grow the first part to a whole one when the body outruns the size it was declared with', async () => {
    const body = Buffer.alloc(6 * MiB, 7);
    const received: number[] = [];
    const { client } = fakeS3({
      CreateMultipartUploadCommand: () => ({ UploadId: 'upload-1' }),
      UploadPartCommand: (input) => {
        received.push((input.Body as Uint8Array).length);
        return { ETag: `"p${String(input.PartNumber)}"` };
      },
      CompleteMultipartUploadCommand: () => ({ ETag: '"all-2"' }),
    });
    const service = storage(client);
    const result = await service.upload({
      key: 'big.bin',
      body: Readable.from([body.subarray(0, 1000), body.subarray(1000)]),
      contentType: 'a/b',
      maxBytes: 20 * MiB,
      size: 1000,
    });
    expect(result).toMatchObject({ etag: '"all-2"', size: 6 * MiB });
    expect(received).toEqual([5 * MiB, MiB]);
    expect(service.uploadMemory.inUse).toBe(0);
  });
});
