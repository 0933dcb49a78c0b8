/**
 * S3's browser upload (POST Object with a form), replacing s3rver's, which ignores the policy: a signed policy is
 * verified (signature, expiry, conditions, every field covered) and `content-length-range` is enforced while the
 * file streams, so nothing outside the range is stored. A form without a policy is accepted, as s3rver accepts
 * unsigned requests. Self-contained like s3rver-main.ts, which loads it and hands it s3rver's classes.
 */
import { Transform, type Readable } from 'node:stream';
import busboy from 'busboy';
import type { PostPolicyLimits } from './s3rver-sigv4.ts';

export interface PostContext {
  readonly headers: Record<string, string | string[] | undefined>;
  readonly origin: string;
  req: Readable;
  status: number;
  body: unknown;
  set(field: string, value: string): void;
}

interface StoredResult {
  size: number;
  md5: string;
}

export interface PostObjectDependencies {
  /** s3rver's store (with our atomic writes): a failed body stores nothing. */
  readonly store: { putObject(object: unknown): Promise<StoredResult> };
  readonly S3Error: new (code: string, message: string, detail?: Record<string, unknown>) => Error;
  readonly S3Object: new (bucket: string, key: string, content: Readable, metadata: Record<string, string>) => unknown;
  /** Throws an S3 error when the policy is not valid for these fields. */
  readonly verifyPolicy: (fields: ReadonlyMap<string, string>, bucket: string) => PostPolicyLimits;
}

/** S3 caps a POST policy document at 20 KB; other fields are small. */
const FIELD_LIMIT_BYTES = 20 * 1024;

export function createPostObjectHandler(deps: PostObjectDependencies) {
  const { S3Error } = deps;

  /** Passes the file through, counting; fails at the end (after draining the file) when outside the range. */
  function sizeGate(limits: PostPolicyLimits): Transform & { bytes: number } {
    let bytes = 0;
    const gate = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        gate.bytes = bytes;
        callback(null, bytes > limits.maxBytes ? undefined : chunk);
      },
      flush(callback) {
        if (bytes > limits.maxBytes) {
          return callback(
            new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', {
              ProposedSize: bytes,
              MaxSizeAllowed: limits.maxBytes,
            }),
          );
        }
        if (bytes < limits.minBytes) {
          return callback(
            new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', {
              ProposedSize: bytes,
              MinSizeAllowed: limits.minBytes,
            }),
          );
        }
        callback();
      },
    }) as Transform & { bytes: number };
    gate.bytes = 0;
    return gate;
  }

  async function store(
    bucket: string,
    fields: Map<string, string>,
    file: Readable,
    fileName: string,
  ): Promise<{ key: string; result: StoredResult }> {
    const signed = fields.has('policy') || fields.has('x-amz-signature');
    const limits = signed ? deps.verifyPolicy(fields, bucket) : { minBytes: 0, maxBytes: Number.MAX_SAFE_INTEGER };
    const key = (fields.get('key') ?? '').replaceAll('${filename}', fileName);
    if (!key) {
      throw new S3Error('InvalidArgument', "Bucket POST must contain a field named 'key'.", { ArgumentName: 'key' });
    }
    const metadata: Record<string, string> = {};
    for (const [name, value] of fields) {
      if (['cache-control', 'content-disposition', 'content-encoding', 'content-type', 'expires'].includes(name)) {
        metadata[name] = value;
      } else if (name.startsWith('x-amz-meta-')) {
        metadata[name] = value;
      }
    }
    const gate = sizeGate(limits);
    file.on('error', (error) => gate.destroy(error)); // a truncated form must not leave the write waiting
    file.pipe(gate);
    const result = await deps.store.putObject(new deps.S3Object(bucket, key, gate, metadata));
    return { key, result };
  }

  return async function postObject(ctx: PostContext, bucket: string): Promise<void> {
    const form = busboy({
      headers: ctx.headers,
      limits: { fieldSize: FIELD_LIMIT_BYTES, fields: 100, files: 1 },
    });
    const fields = new Map<string, string>();
    let fileSeen = false;
    const stored = new Promise<{ key: string; result: StoredResult }>((resolve, reject) => {
      form.on('field', (name, value) => {
        if (!fileSeen) {
          fields.set(name.toLowerCase(), value);
        }
      });
      form.on('file', (name, file, info) => {
        if (fileSeen || name.toLowerCase() !== 'file') {
          file.resume();
          return;
        }
        fileSeen = true;
        store(bucket, fields, file, info.filename ?? '').then(resolve, (error: Error) => {
          file.resume(); // keep reading the form, so the client gets the answer instead of a reset
          reject(error);
        });
      });
      form.on('close', () => {
        if (!fileSeen) {
          reject(
            new S3Error('InvalidArgument', 'POST requires exactly one file upload per request.', {
              ArgumentName: 'file',
              ArgumentValue: 0,
            }),
          );
        }
      });
      form.on('error', (error: Error) =>
        reject(
          new S3Error('MalformedPOSTRequest', `The body of your POST request is not well-formed: ${error.message}`),
        ),
      );
    });
    ctx.req.pipe(form);
    const { key, result } = await stored;

    const location = new URL(`/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`, ctx.origin).href;
    const etag = JSON.stringify(result.md5);
    ctx.set('ETag', etag);
    const redirect = fields.get('success_action_redirect') ?? fields.get('redirect');
    if (redirect) {
      const target = new URL(redirect);
      target.searchParams.append('bucket', bucket);
      target.searchParams.append('key', key);
      target.searchParams.append('etag', etag);
      ctx.set('Location', target.href);
      ctx.status = 303;
      return;
    }
    ctx.set('Location', location);
    const status = Number(fields.get('success_action_status'));
    ctx.status = status === 200 || status === 201 ? status : 204;
    ctx.body = ctx.status === 201 ? { PostResponse: { Location: location, Bucket: bucket, Key: key, ETag: etag } } : '';
  };
}
