import { randomUUID } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { ifMatchValue, type ConditionalWrites, type IfMatchForm } from './backend-capabilities.js';
import { abortMultipartUpload, type S3Gateway } from './s3-gateway.js';
import { presign, signedHeaders } from './signed-request.js';
import { sendSmallRequest, type SmallRequest } from './small-request.js';
import { conditionRefused, s3Status } from './storage.errors.js';

/** Where the probe writes, with the write settings (a bucket policy may refuse writes without them). */
export interface ProbeTarget {
  readonly s3: S3Gateway;
  readonly signer: S3Client;
  readonly keyPrefix: string;
  /** Bound on each presigned request the probe sends itself. */
  readonly timeoutMs: number;
}

/** Another answer than 403 shows the backend acted on the header (Ceph RGW's 501 to a copy of an SSE-KMS object). */
type HeaderOutcome = 'refused' | 'ignored' | 'applied' | `answered ${number}`;

export const headersEnforced = (probe: PresignedHeadersProbe): boolean =>
  [probe.copySource, probe.acl].every((outcome) => outcome === 'refused' || outcome === 'ignored');

export type PresignedHeadersProbe = Readonly<Record<'copySource' | 'acl', HeaderOutcome>>;

/** An answer that says nothing about the backend (5xx, no connection): probed again later. */
export class ProbeInconclusive extends Error {}

/** Presigned PUTs, after a plain one, with an unsigned `x-amz-copy-source` or `x-amz-acl: public-read`. */
export async function probePresignedHeaders(target: ProbeTarget): Promise<PresignedHeadersProbe> {
  const source = `${target.keyPrefix}source`;
  const sourceBody = `probe source ${randomUUID()}`;
  const control = await presignedPut(target, source, sourceBody, {});
  if (control.status < 200 || control.status > 299) {
    throw new ProbeInconclusive(`a presigned PUT without extra headers answered ${control.status} ${control.code}`);
  }
  const copySource = async (): Promise<HeaderOutcome> => {
    const key = `${target.keyPrefix}copy`;
    // Empty, as an attacker's copy would be: the signature does not cover the body (UNSIGNED-PAYLOAD).
    const answer = await presignedPut(target, key, '', { 'x-amz-copy-source': target.s3.copySource(source) });
    if (answer.status >= 300) {
      return answer.status === 403 ? 'refused' : `answered ${answer.status}`;
    }
    const stored = await target.s3.client.send(new GetObjectCommand(target.s3.at(key)));
    return (await stored.Body?.transformToString()) === sourceBody ? 'applied' : 'ignored';
  };
  const acl = async (): Promise<HeaderOutcome> => {
    const key = `${target.keyPrefix}acl`;
    const answer = await presignedPut(target, key, 'probe acl', { 'x-amz-acl': 'public-read' });
    if (answer.status >= 300) {
      return answer.status === 403 ? 'refused' : `answered ${answer.status}`;
    }
    const anonymous = await send(answer.url.split('?')[0], { method: 'GET' }, target.timeoutMs);
    return anonymous.status === 200 ? 'applied' : 'ignored';
  };
  const [copyOutcome, aclOutcome] = await Promise.all([copySource(), acl()]);
  return { copySource: copyOutcome, acl: aclOutcome };
}

/** A presigned PUT as `StorageService.signUpload` signs one, plus unsigned `extra` headers. */
async function presignedPut(target: ProbeTarget, key: string, body: string, extra: Record<string, string>) {
  const headers = { 'Content-Type': 'text/plain', ...target.s3.writeHeaders() };
  const params = { ...target.s3.at(key), ContentType: 'text/plain', ...target.s3.storageParameters() };
  const { url } = await presign(target.signer, new PutObjectCommand(params), 60, signedHeaders(headers));
  const answer = await send(url, { method: 'PUT', headers: { ...headers, ...extra }, body }, target.timeoutMs);
  return { url, ...answer };
}

async function send(url: string, init: SmallRequest, timeoutMs: number): Promise<{ status: number; code: string }> {
  const answer = await sendSmallRequest(url, { ...init, signal: AbortSignal.timeout(timeoutMs) }).catch((error) => {
    throw new ProbeInconclusive(`no answer (${error instanceof Error ? error.message : String(error)})`);
  });
  // S3 failing says nothing of the request; 501 Not Implemented does.
  if (answer.status >= 500 && answer.status !== 501) {
    throw new ProbeInconclusive(`S3 answered ${answer.status}`);
  }
  return { status: answer.status, code: /<Code>([^<]+)<\/Code>/.exec(answer.body)?.[1] ?? '' };
}

/** Each condition on an object of its own: refused when it fails; for `If-Match`, also passed when it holds. */
export async function probeConditionalWrites(target: ProbeTarget): Promise<ConditionalWrites> {
  const { s3, keyPrefix } = target;
  const params = (key: string) => ({ ...s3.at(keyPrefix + key), ContentType: 'text/plain', ...s3.storageParameters() });
  const put = (key: string, conditions: { IfNoneMatch?: string; IfMatch?: string } = {}) =>
    s3.client.send(new PutObjectCommand({ ...params(key), Body: 'probe', ...conditions }));

  const putIfNoneMatch = async (): Promise<boolean> => {
    await put('none-match');
    return refused(() => put('none-match', { IfNoneMatch: '*' }));
  };
  const ifMatch = async (): Promise<IfMatchForm | undefined> => {
    let etag = (await put('match')).ETag ?? '';
    const attempt = async (tag: string): Promise<boolean> => {
      try {
        etag = (await put('match', { IfMatch: tag })).ETag ?? etag;
        return true;
      } catch (error) {
        if (isRefusal(s3Status(error))) {
          return false;
        }
        throw error;
      }
    };
    const wrong = `"${'0'.repeat(32)}"`;
    for (const form of ['quoted', 'unquoted'] as const) {
      const wrongRefused = !(await attempt(ifMatchValue(wrong, form)));
      const rightPasses = await attempt(ifMatchValue(etag, form));
      if (wrongRefused && rightPasses) {
        return form;
      }
    }
    return undefined;
  };
  const copyIfNoneMatch = async (): Promise<boolean> => {
    await Promise.all([put('copy-source'), put('copy-target')]);
    const copy = { ...params('copy-target'), CopySource: s3.copySource(`${keyPrefix}copy-source`), IfNoneMatch: '*' };
    return refused(() => s3.client.send(new CopyObjectCommand(copy)));
  };
  const completeIfNoneMatch = async (): Promise<boolean> => {
    await put('complete');
    const { UploadId } = await s3.client.send(new CreateMultipartUploadCommand(params('complete')));
    const upload = { ...s3.at(`${keyPrefix}complete`), UploadId };
    try {
      const part = await s3.client.send(new UploadPartCommand({ ...upload, PartNumber: 1, Body: 'p' }));
      const Parts = [{ PartNumber: 1, ETag: part.ETag }];
      const complete = { ...upload, MultipartUpload: { Parts }, IfNoneMatch: '*' };
      return await refused(() => s3.client.send(new CompleteMultipartUploadCommand(complete)));
    } finally {
      // Nothing to abort once completed; refused, the upload is still there.
      await abortMultipartUpload(s3.client, upload).catch(() => undefined);
    }
  };
  const [a, b, c, d] = await Promise.all([putIfNoneMatch(), ifMatch(), copyIfNoneMatch(), completeIfNoneMatch()]);
  return { putIfNoneMatch: a, ifMatch: b, copyIfNoneMatch: c, completeIfNoneMatch: d };
}

/** Whether a write whose condition does not hold was refused (412, or AWS's 409). */
async function refused(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return false;
  } catch (error) {
    if (conditionRefused(error)) {
      return true;
    }
    // Another 4xx, or 501 Not Implemented: not a condition this backend checks (the service will not send it).
    if (isRefusal(s3Status(error))) {
      return false;
    }
    throw error;
  }
}

const isRefusal = (status = 0): boolean => (status >= 400 && status < 500) || status === 501;

/** Deletes every probe object (best effort: they are under the reserved prefix, invisible to the Files API). */
export async function removeProbeObjects(target: ProbeTarget): Promise<void> {
  const names = ['source', 'copy', 'acl', 'none-match', 'match', 'copy-source', 'copy-target', 'complete'];
  const Objects = names.map((name) => ({ Key: target.s3.objectKey(target.keyPrefix + name) }));
  const deletion = { Bucket: target.s3.bucket, Delete: { Objects, Quiet: true } };
  await target.s3.client.send(new DeleteObjectsCommand(deletion)).catch(() => undefined);
}
