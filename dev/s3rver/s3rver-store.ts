/**
 * s3rver's FilesystemStore, made safe under concurrent requests. It keeps an object in three files (the bytes,
 * `<name>._S3rver_object.md5`, `<name>._S3rver_metadata.json`) and wrote each in place, one after the other: a GET
 * racing a PUT or DELETE could get one object's bytes under another's ETag, metadata or length, or a metadata file
 * cut short (a 500); a PUT cut short was kept; a copy overwrote its target in place. Here every write goes aside to
 * temporary files, which are renamed into place under a per-object lock that reads and deletes also take: a reader
 * gets the old object or the new one, whole (an open file keeps the bytes it was opened on). One process owns the
 * data directory, so an in-process lock is enough.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface WriteResult {
  size: number;
  md5: string;
}
export interface StoredObject {
  bucket: string;
  key: string;
  content: Readable | Buffer | null;
  metadata: Record<string, string>;
  range?: { start: number; end: number };
}
export interface Part {
  number: number;
  etag: string;
}
export interface Store {
  rootDirectory: string;
  getBucket(bucket: string): Promise<object | null>;
  existsObject(bucket: string, key: string): Promise<boolean>;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
  getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<StoredObject | null>;
  putObject(object: StoredObject): Promise<WriteResult>;
  copyObject(
    srcBucket: string,
    srcKey: string,
    destBucket: string,
    destKey: string,
    replacementMetadata: Record<string, string> | null,
  ): Promise<Record<string, string>>;
  deleteObject(bucket: string, key: string): Promise<void>;
  putPart(bucket: string, uploadId: string, partNumber: string, content: Readable): Promise<WriteResult>;
  putObjectMultipart(bucket: string, uploadId: string, parts: Part[]): Promise<WriteResult>;
}
type S3ErrorClass = new (code: string, message: string, detail?: Record<string, unknown>) => Error;
type S3ObjectClass = (new (bucket: string, key: string, content: unknown, metadata: object) => StoredObject) & {
  ALLOWED_METADATA: string[];
};

const require = createRequire(import.meta.url);
const S3Error = require('s3rver/lib/models/error.js') as S3ErrorClass;
const S3Object = require('s3rver/lib/models/object.js') as S3ObjectClass;

const MIN_PART_BYTES = 5 * 1024 * 1024;

/** Runs tasks with the same id one after another (a failed task does not stop the next). */
export function createKeyedLock() {
  const tails = new Map<string, Promise<unknown>>();
  return async function locked<T>(id: string, task: () => Promise<T>): Promise<T> {
    const run = (tails.get(id) ?? Promise.resolve()).catch(() => undefined).then(task);
    tails.set(id, run);
    try {
      return await run;
    } finally {
      if (tails.get(id) === run) {
        tails.delete(id);
      }
    }
  };
}

const ignoreMissing = (err: NodeJS.ErrnoException) => {
  if (err.code !== 'ENOENT') {
    throw err;
  }
};

/** The metadata s3rver keeps for an object (as its own putMetadata picks it). */
function storedMetadata(metadata: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(metadata).filter(
      ([name]) => S3Object.ALLOWED_METADATA.includes(name) || name.startsWith('x-amz-meta-'),
    ),
  );
}

export function makeStoreAtomic(store: Store): void {
  const locked = createKeyedLock();
  const files = (bucket: string, key: string) => {
    const object = store.getResourcePath(bucket, key, 'object');
    return { object, md5: `${object}.md5`, metadata: store.getResourcePath(bucket, key, 'metadata.json') };
  };
  const uploadsDir = (bucket: string) => store.getResourcePath(bucket, undefined, 'uploads');
  // In the root: s3rver only lists directories there as buckets.
  const tempFile = () => path.join(store.rootDirectory, `.incoming-${randomUUID()}`);

  /** Streams the content to a temporary file; nothing is kept when the body fails or is cut short. */
  async function writeAside(content: Readable | Buffer): Promise<WriteResult & { temp: string }> {
    const temp = tempFile();
    const source = Buffer.isBuffer(content) ? Readable.from([content]) : content;
    const md5 = createHash('md5');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      await pipeline(source, measure, createWriteStream(temp));
      if (source instanceof IncomingMessage && !source.complete) {
        throw new S3Error('IncompleteBody', 'You did not provide the number of bytes specified by Content-Length.');
      }
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return { temp, size, md5: md5.digest('hex') };
  }

  /**
   * Writes the small files aside, then renames everything into place under the target's lock (its directory is
   * made, again if a delete of a sibling removed it meanwhile).
   */
  async function commit(temp: string, target: string, extras: Record<string, string>): Promise<void> {
    const renames: [string, string][] = [[temp, target]];
    try {
      for (const [file, text] of Object.entries(extras)) {
        const extraTemp = tempFile();
        renames.push([extraTemp, file]);
        await writeFile(extraTemp, text);
      }
      await locked(target, async () => {
        for (let attempt = 1; ; attempt++) {
          await mkdir(path.dirname(target), { recursive: true });
          try {
            await rename(temp, target);
            break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) {
              throw err;
            }
          }
        }
        for (const [from, to] of renames.slice(1)) {
          await rename(from, to);
        }
      });
    } catch (err) {
      await Promise.all(renames.map(([from]) => rm(from, { force: true })));
      throw err;
    }
  }

  function commitObject(bucket: string, key: string, temp: string, metadata: Record<string, string>, md5: string) {
    const target = files(bucket, key);
    return commit(temp, target.object, {
      [target.md5]: md5,
      [target.metadata]: JSON.stringify(storedMetadata(metadata), null, 2),
    });
  }

  const getMetadata = store.getMetadata.bind(store);
  // Object lists read each object's metadata this way.
  store.getMetadata = (bucket, key) => locked(files(bucket, key).object, () => getMetadata(bucket, key));

  // As s3rver's, but the metadata and the open file come from one moment; and a range ending at byte 0
  // ("bytes=0-0"), which s3rver reads as "to the end", is the first byte.
  store.getObject = (bucket, key, options = {}) =>
    locked(files(bucket, key).object, async () => {
      try {
        const metadata = await getMetadata(bucket, key);
        const lastByte = Math.max(0, Number(metadata['content-length']) - 1);
        const range = { start: options.start ?? 0, end: Math.min(options.end ?? Infinity, lastByte) };
        let content: Readable | null = null;
        if (range.start >= 0 && range.end >= range.start) {
          const stream = createReadStream(files(bucket, key).object, range);
          await new Promise((resolve, reject) => stream.once('open', resolve).once('error', reject));
          content = stream;
        }
        const object = new S3Object(bucket, key, content, metadata);
        if (options.start !== undefined || options.end !== undefined) {
          object.range = range;
        }
        return object;
      } catch (err) {
        ignoreMissing(err as NodeJS.ErrnoException);
        return null;
      }
    });

  store.putObject = async (object) => {
    const { temp, size, md5 } = await writeAside(object.content ?? Buffer.alloc(0));
    await commitObject(object.bucket, object.key, temp, object.metadata, md5);
    return { size, md5 };
  };

  // s3rver copied in place, and with new metadata to another key kept the target's old ETag. The copy keeps the
  // source's ETag (a multipart one too), as s3rver did.
  store.copyObject = async (srcBucket, srcKey, destBucket, destKey, replacementMetadata) => {
    const source = await store.getObject(srcBucket, srcKey);
    if (!source?.content) {
      throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: srcKey });
    }
    const { temp } = await writeAside(source.content);
    const etag = JSON.parse(source.metadata.etag) as string;
    await commitObject(destBucket, destKey, temp, replacementMetadata ?? source.metadata, etag);
    return store.getMetadata(destBucket, destKey);
  };

  store.deleteObject = async (bucket, key) => {
    const target = files(bucket, key);
    await locked(target.object, () =>
      Promise.all([target.object, target.md5, target.metadata].map((file) => unlink(file).catch(ignoreMissing))),
    );
    // Empty folders go, up to the bucket; one that a write has filled meanwhile stays.
    const bucketPath = path.join(store.rootDirectory, bucket);
    for (let dir = path.dirname(target.object); dir.startsWith(`${bucketPath}${path.sep}`); dir = path.dirname(dir)) {
      const removed = await rmdir(dir).then(
        () => true,
        () => false,
      );
      if (!removed) {
        break;
      }
    }
  };

  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const partPath = path.join(uploadsDir(bucket), uploadId, partNumber);
    const { temp, size, md5 } = await writeAside(content);
    await commit(temp, partPath, { [`${partPath}.md5`]: md5 });
    return { size, md5 };
  };

  // s3rver's crashed on a missing part and gave the ETag of a single PUT; like S3, this checks the parts and
  // answers the multipart ETag "<md5 of the part md5s>-<part count>".
  store.putObjectMultipart = async (bucket, uploadId, parts) => {
    const dir = path.join(uploadsDir(bucket), uploadId);
    const digests: Buffer[] = [];
    for (const [index, part] of parts.entries()) {
      if (index > 0 && part.number <= parts[index - 1].number) {
        throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order.');
      }
      const partPath = path.join(dir, String(part.number));
      const [md5, size] = await Promise.all([
        readFile(`${partPath}.md5`, 'utf8').catch(() => undefined),
        stat(partPath).then(
          (info) => info.size,
          () => 0,
        ),
      ]);
      if (md5 !== part.etag) {
        throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found.', {
          PartNumber: part.number,
        });
      }
      if (index < parts.length - 1 && size < MIN_PART_BYTES) {
        throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', {
          PartNumber: part.number,
          ProposedSize: size,
          MinSizeAllowed: MIN_PART_BYTES,
        });
      }
      digests.push(Buffer.from(md5, 'hex'));
    }
    const [key, metadata] = await Promise.all([
      readFile(path.join(dir, 'key'), 'utf8'),
      readFile(path.join(dir, 'metadata'), 'utf8').then((json) => JSON.parse(json) as Record<string, string>),
    ]);
    const partFiles = parts.map((part) => path.join(dir, String(part.number)));
    const body = Readable.from(
      (async function* () {
        for (const file of partFiles) {
          yield* createReadStream(file);
        }
      })(),
    );
    const { temp, size } = await writeAside(body);
    const etag = `${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${parts.length}`;
    await commitObject(bucket, key, temp, metadata, etag);
    await rm(dir, { recursive: true, force: true });
    return { size, md5: etag };
  };
}
