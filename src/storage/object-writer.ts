import {
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  type CreateMultipartUploadCommandInput,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE } from '../config/s3-options.js';
import { abortMultipartUpload } from './s3-gateway.js';
import { conditionRefused } from './storage.errors.js';
import { streamedChunks } from './streamed-chunks.js';
import type { UploadMemory } from './upload-memory.js';

/**
 * A body takes a pooled part buffer only once it has sent this much of the part (or ended): a client that drips its
 * body holds no pooled memory. Node reads sockets in chunks of up to 64 KiB: a usual client passes this at once.
 */
const STAGED_BYTES = 64 * 1024;
const MiB = 1024 * 1024;

type WriteConditions = Pick<PutObjectCommandInput, 'IfNoneMatch' | 'IfMatch'>;

export interface WriteInput {
  readonly client: S3Client;
  /** What PutObject and CreateMultipartUpload share (bucket, key, type, write settings, metadata). */
  readonly params: CreateMultipartUploadCommandInput;
  /** Checked by PutObject; `multipartConditions` by CompleteMultipartUpload (a backend may honour fewer there). */
  readonly conditions: WriteConditions;
  readonly multipartConditions: WriteConditions;
  /** The body; its iterator is not resumed once the write has failed. */
  readonly body: AsyncIterable<Buffer>;
  readonly partSize: number;
  /** The body's length or an upper bound: a smaller body takes a buffer of just that size. */
  readonly size?: number;
  /** Parts sent to S3 at once. */
  readonly queueSize: number;
  readonly memory: UploadMemory;
  /** True once the body has failed: a wait for memory then ends. */
  readonly cancelled: () => boolean;
  /** Send a single PutObject with `If-None-Match: *`, again without it on a 412: `created` says if the key was new. */
  readonly detectCreated?: boolean;
  /** The ETag of the object if this write stored it (its marker), else undefined. */
  readonly writtenHere?: () => Promise<string | undefined>;
}

export interface WriteResult {
  readonly etag?: string;
  /** Set when `detectCreated` could tell (the body fitted one PutObject). */
  readonly created?: boolean;
}

/**
 * Streams a body to S3: one PutObject when it fits a part, else a multipart upload with `queueSize` parts in flight,
 * aborted on any failure, each part in a pooled buffer (lib-storage's `Upload` copies every part into a fresh one).
 */
export async function writeObject(input: WriteInput): Promise<WriteResult> {
  const { client, memory } = input;
  const { Bucket, Key } = input.params;
  const chunks = input.body[Symbol.asyncIterator]();
  const reader = new BodyReader(chunks);
  const acquire = async (bytes: number) => (await memory.acquire(bytes, input.cancelled)) ?? reader.failed();
  const firstSize = Math.min(input.partSize, input.size ?? Infinity);
  let buffer: Buffer | undefined;
  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  try {
    // No pooled memory before the body has shown it is arriving.
    if ((await reader.stage(Math.min(firstSize, STAGED_BYTES))) === 0) {
      return await putObject(input, Buffer.alloc(0));
    }
    buffer = await acquire(firstSize);
    let filled = await reader.fill(buffer);
    if (filled < buffer.length || (await reader.stage(1)) === 0) {
      return await putObject(input, buffer.subarray(0, filled));
    }
    if (buffer.length < input.partSize) {
      // The body is longer than its declared bound: grow the first part to a whole one.
      const whole = await acquire(input.partSize);
      buffer.copy(whole);
      memory.release(buffer);
      buffer = whole;
      filled += await reader.fill(buffer.subarray(filled));
    }
    ({ UploadId: uploadId } = await client.send(new CreateMultipartUploadCommand(input.params)));
    for (let partNumber = 1; buffer; partNumber++) {
      if (partNumber > MAX_PARTS) {
        throw new Error(`the body needs more than ${MAX_PARTS} parts of ${input.partSize} bytes`);
      }
      const held: Buffer = buffer;
      const command = new UploadPartCommand({
        Bucket,
        Key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: held.subarray(0, filled),
        ContentLength: filled,
      });
      const sent: Promise<void> = client
        .send(command)
        .then(
          (out) => void (parts[partNumber - 1] = { PartNumber: partNumber, ETag: out.ETag }),
          (error: unknown) => void (failure ??= { error }),
        )
        .finally(() => {
          memory.release(held);
          inFlight.delete(sent);
        });
      inFlight.add(sent);
      buffer = undefined;
      while (inFlight.size >= input.queueSize && !failure) {
        await Promise.race(inFlight);
      }
      if (failure) {
        throw failure.error;
      }
      if (filled < held.length || (await reader.stage(Math.min(input.partSize, STAGED_BYTES))) === 0) {
        break;
      }
      buffer = await acquire(input.partSize);
      filled = await reader.fill(buffer);
    }
    await Promise.all(inFlight);
    if (failure) {
      throw failure.error;
    }
    const out = await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        ...input.multipartConditions,
      }),
    );
    uploadId = undefined;
    return { etag: out.ETag };
  } catch (error) {
    // Stops reading: the body stream is destroyed (not the request it is piped from).
    void chunks.return?.().catch(() => undefined);
    throw error;
  } finally {
    if (buffer) {
      memory.release(buffer);
    }
    // Every part buffer goes back to the pool before the upload ends, and no part outlives the abort.
    await Promise.all(inFlight);
    if (uploadId) {
      await abortMultipartUpload(client, { Bucket, Key, UploadId: uploadId }).catch(() => undefined);
    }
  }
}

async function putObject(input: WriteInput, body: Buffer): Promise<WriteResult> {
  const send = (conditions: WriteConditions) =>
    input.client.send(new PutObjectCommand({ ...input.params, ...conditions, Body: body, ContentLength: body.length }));
  if (!input.detectCreated) {
    return { etag: (await send(input.conditions)).ETag };
  }
  try {
    return { etag: (await send({ IfNoneMatch: '*' })).ETag, created: true };
  } catch (error) {
    // The key exists, or (409) another conditional write to it is in progress: this one then replaces.
    if (!conditionRefused(error)) {
      throw error;
    }
    // A retried request may have been refused because its first attempt, whose answer was lost, wrote the object.
    const attempts = (error as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1;
    const etag = attempts > 1 ? await input.writtenHere?.() : undefined;
    if (etag !== undefined) {
      return { etag, created: true };
    }
    return { etag: (await send({})).ETag, created: false };
  }
}

/** The configured part size, or if `size` bytes need more than 10,000 of them, the smallest in whole MiB that fits. */
export function partSizeFor(size: number | undefined, configured: number): number {
  if (size === undefined || size <= configured * MAX_PARTS) {
    return configured;
  }
  const needed = Math.ceil(Math.ceil(size / MAX_PARTS) / MiB) * MiB;
  return Math.min(Math.max(needed, MIN_PART_SIZE), MAX_PART_SIZE);
}

/** Copies the body's chunks into part buffers; a chunk that spans two parts is split. */
class BodyReader {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private done = false;

  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  /** Fills `target` from the body; fewer bytes than its length means the body has ended. */
  async fill(target: Buffer): Promise<number> {
    let filled = 0;
    while (filled < target.length && (await this.stage(1)) > 0) {
      const chunk = this.pending.shift()!;
      const copied = chunk.copy(target, filled);
      filled += copied;
      this.pendingBytes -= copied;
      if (copied < chunk.length) {
        this.pending.unshift(chunk.subarray(copied));
      }
    }
    return filled;
  }

  /** Reads ahead until `bytes` are waiting or the body has ended; resolves with the bytes waiting. */
  async stage(bytes: number): Promise<number> {
    while (this.pendingBytes < bytes && !this.done) {
      const next = await this.chunks.next();
      if (next.done) {
        this.done = true;
      } else if (next.value.length > 0) {
        this.pending.push(next.value);
        this.pendingBytes += next.value.length;
        streamedChunks.count(next.value.length);
      }
    }
    return this.pendingBytes;
  }

  /** A wait for memory ended because the body failed: that failure is the answer. */
  async failed(): Promise<never> {
    await this.chunks.next();
    throw new Error('the upload ended while it waited for memory');
  }
}
