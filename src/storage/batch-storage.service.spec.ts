import { S3Client } from '@aws-sdk/client-s3';
import { FixedCapabilities } from '../../test/support/fixed-capabilities.js';
import { S3Gateway } from './s3-gateway.js';
import { BatchStorageService } from './batch-storage.service.js';
import { fakeS3 } from '../../test/support/fake-s3.js';
import { testConfig } from '../../test/support/test-config.js';

const MiB = 1024 * 1024;

function batch(client: S3Client): BatchStorageService {
  const config = testConfig(
    { S3_PREFIX: 'tenant/', UPLOAD_PART_SIZE: String(5 * MiB) },
    { copyMultipartThreshold: 5 * MiB },
  );
  const writes = { putIfNoneMatch: true, ifMatch: 'quoted', copyIfNoneMatch: true, completeIfNoneMatch: true } as const;
  return new BatchStorageService(new S3Gateway(client, config), config, new FixedCapabilities(writes));
}

const s3Error = (name: string, status: number): Error =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
const notFound = () => s3Error('NotFound', 404);
const source =
  (size: number, etag = '"src"') =>
  () => ({ ETag: etag, ContentLength: size, ContentType: 'text/x-a' });

describe(`${BatchStorageService.name}.removeMany`, () => {
  it('should give each key its own outcome, and never count a key S3 did not report as deleted', async () => {
    const { client, sent } = fakeS3({
      DeleteObjectsCommand: () => ({
        Deleted: [{ Key: 'tenant/a' }],
        Errors: [{ Key: 'tenant/b', Code: 'AccessDenied', Message: 'Access Denied' }],
      }),
    });
    const results = await batch(client).removeMany(['a', 'b', 'c']);
    expect(sent[0].input).toEqual({
      Bucket: 'bucket',
      Delete: { Objects: [{ Key: 'tenant/a' }, { Key: 'tenant/b' }, { Key: 'tenant/c' }], Quiet: false },
    });
    expect(results.map((r) => [r.key, r.error?.code])).toEqual([
      ['a', undefined],
      ['b', 'AccessDenied'],
      ['c', 'BadGateway'],
    ]);
    expect(results[2].error?.message).toBe('storage did not report on this key');
  });
});

describe(`${BatchStorageService.name}.copy`, () => {
  it('should abort the multipart copy when a part fails, and report the error', async () => {
    const { client, sent } = fakeS3({
      HeadObjectCommand: source(12 * MiB),
      CreateMultipartUploadCommand: () => ({ UploadId: 'u1' }),
      UploadPartCopyCommand: [
        () => ({ CopyPartResult: { ETag: '"p1"' } }),
        () => s3Error('InternalError', 500),
        () => ({ CopyPartResult: { ETag: '"p3"' } }),
      ],
      AbortMultipartUploadCommand: () => ({}),
      // The abort is checked: the upload is gone.
      ListPartsCommand: () => s3Error('NoSuchUpload', 404),
    });
    await expect(batch(client).copy({ from: 'a', to: 'b', overwrite: true })).rejects.toMatchObject({
      code: 'BadGateway',
    });
    expect(sent.filter((s) => s.command === 'AbortMultipartUploadCommand').map((s) => s.input)).toEqual([
      { Bucket: 'bucket', Key: 'tenant/b', UploadId: 'u1' },
    ]);
    expect(sent.some((s) => s.command === 'CompleteMultipartUploadCommand')).toBe(false);
  });

  it('should copy in parts of the part size, each guarded by the source ETag, with its headers and metadata', async () => {
    const { client, sent } = fakeS3({
      HeadObjectCommand: [
        () => ({ ETag: '"src"', ContentLength: 11 * MiB, ContentType: 'text/x-a', Metadata: { m: '1' } }),
        notFound,
      ],
      CreateMultipartUploadCommand: () => ({ UploadId: 'u1' }),
      UploadPartCopyCommand: (input) => ({ CopyPartResult: { ETag: `"p${String(input.PartNumber)}"` } }),
      CompleteMultipartUploadCommand: () => ({ ETag: 'abc-3' }),
    });
    const result = await batch(client).copy({ from: 'a b', to: 'c', overwrite: false });
    expect(result).toEqual({ key: 'c', size: 11 * MiB, contentType: 'text/x-a', etag: '"abc-3"', sourceEtag: '"src"' });
    const create = sent.find((s) => s.command === 'CreateMultipartUploadCommand')!;
    expect(create.input).toMatchObject({ ContentType: 'text/x-a', Metadata: { m: '1' } });
    const parts = sent.filter((s) => s.command === 'UploadPartCopyCommand').map((s) => s.input);
    expect(parts.map((p) => [p.PartNumber, p.CopySourceRange, p.CopySource, p.CopySourceIfMatch]).sort()).toEqual([
      [1, `bytes=0-${5 * MiB - 1}`, 'bucket/tenant/a%20b', '"src"'],
      [2, `bytes=${5 * MiB}-${10 * MiB - 1}`, 'bucket/tenant/a%20b', '"src"'],
      [3, `bytes=${10 * MiB}-${11 * MiB - 1}`, 'bucket/tenant/a%20b', '"src"'],
    ]);
    const complete = sent.find((s) => s.command === 'CompleteMultipartUploadCommand')!;
    expect(complete.input).toMatchObject({
      IfNoneMatch: '*',
      MultipartUpload: { Parts: [1, 2, 3].map((n) => ({ PartNumber: n, ETag: `"p${n}"` })) },
    });
  });

  it('should answer a 412 from S3 as the target existing when the source is unchanged (overwrite false)', async () => {
    const { client } = fakeS3({
      HeadObjectCommand: [source(10), notFound, source(10)],
      CopyObjectCommand: () => s3Error('PreconditionFailed', 412),
    });
    await expect(batch(client).copy({ from: 'a', to: 'b', overwrite: false })).rejects.toMatchObject({
      code: 'AlreadyExists',
    });
  });

  it('should answer a 412 from S3 as the source having changed during the copy', async () => {
    const { client } = fakeS3({
      HeadObjectCommand: [source(10), source(10, '"newer"')],
      CopyObjectCommand: () => s3Error('PreconditionFailed', 412),
    });
    await expect(batch(client).copy({ from: 'a', to: 'b', overwrite: true })).rejects.toMatchObject({
      code: 'PreconditionFailed',
      message: 'the source changed while it was being copied; nothing was copied',
    });
  });
});
