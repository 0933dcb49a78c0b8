import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

const CHUNK = 64 * 1024;
const POOL = randomBytes(1024 * 1024);

/** Chunk `index` of every payload: a slice of random bytes stamped with its index, so no two chunks are equal. */
function chunkAt(index: number, length: number): Buffer {
  const offset = (index * 7919 * 8) % (POOL.length - CHUNK);
  const chunk = Buffer.allocUnsafe(length);
  POOL.copy(chunk, 0, offset, offset + length);
  if (length >= 8) {
    chunk.writeBigUInt64BE(BigInt(index), 0);
  }
  return chunk;
}

function* chunks(size: number): Generator<Buffer> {
  for (let index = 0, sent = 0; sent < size; index++) {
    const length = Math.min(CHUNK, size - sent);
    sent += length;
    yield chunkAt(index, length);
  }
}

/** A generated payload of `size` bytes, made on the fly (never held in memory); the same bytes on every call. */
export const payloadStream = (size: number): Readable => Readable.from(chunks(size), { objectMode: false });

const digests = new Map<number, string>();

/** SHA-256 (hex) of the payload of `size` bytes. */
export function payloadSha256(size: number): string {
  let digest = digests.get(size);
  if (digest === undefined) {
    const hash = createHash('sha256');
    for (const chunk of chunks(size)) {
      hash.update(chunk);
    }
    digest = hash.digest('hex');
    digests.set(size, digest);
  }
  return digest;
}

/** Reads a stream to its end, returning its length and SHA-256 (hex). */
export async function digestStream(stream: AsyncIterable<Uint8Array>): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Fails loudly when a transfer did not round-trip exactly. */
export function checkDigest(what: string, actual: { bytes: number; sha256: string }, size: number): void {
  const expected = payloadSha256(size);
  if (actual.bytes !== size || actual.sha256 !== expected) {
    throw new Error(
      `${what}: checksum mismatch (got ${actual.bytes} bytes, sha256 ${actual.sha256.slice(0, 16)}…; ` +
        `expected ${size} bytes, sha256 ${expected.slice(0, 16)}…)`,
    );
  }
}

export const MiB = 1024 * 1024;
