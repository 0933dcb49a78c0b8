import { PassThrough, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BadRequestException } from '@nestjs/common';
import busboy from 'busboy';
import type { Request } from 'express';
import { isParameterField } from '../http/object-parameters.js';
import { HttpProblem } from '../http/problem.js';

export interface FilePart {
  readonly stream: Readable;
  readonly fileName: string | undefined;
  /** The part's `Content-Type` as sent (several headers joined by `, `), or busboy's default when it had none. */
  readonly mimeType: string;
  /** Text fields sent before the file part. */
  readonly fields: Readonly<Record<string, string>>;
}

/**
 * Streams the one file part `file` of a multipart/form-data request into `onFile`; fields that shape the upload come
 * before it. Any problem (bad body, client gone, a second file, over `maxBytes`) destroys the stream: the upload aborts.
 */
export function receiveMultipart<T>(
  req: Request,
  maxBytes: number,
  onFile: (part: FilePart) => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        // Browsers and curl send file names as raw UTF-8 bytes; busboy would read them as latin1.
        defParamCharset: 'utf8',
        limits: { files: 1, fields: 20, parts: 21, fieldSize: 16 * 1024, fieldNameSize: 100, headerPairs: 100 },
      });
    } catch {
      reject(new BadRequestException('expected a multipart/form-data body with a boundary'));
      return;
    }
    const fields: Record<string, string> = {};
    // The bytes received last: those before the chunk busboy is parsing, capped, and that chunk whole.
    const recent: Buffer[] = [];
    let recentBytes = 0;
    const boundary = /;\s*boundary="?([^";]+)"?/i.exec(req.headers['content-type'] ?? '')?.[1] ?? '';
    let file: PassThrough | undefined;
    let fileRead: Promise<void> | undefined;
    let upload: Promise<T> | undefined;
    let settled = false;

    const fail = (error: Error): void => {
      if (settled) {
        return;
      }
      settled = true;
      req.unpipe(parser);
      req.off('data', count);
      file?.destroy(error);
      // Let the upload finish aborting (no orphaned parts) before answering.
      void (upload ?? Promise.resolve()).catch(() => undefined).then(() => reject(error));
    };

    parser.on('field', (name, value, info) => {
      if (info.nameTruncated || info.valueTruncated) {
        fail(new BadRequestException(`form field "${name.slice(0, 100)}" is too long`));
      } else if (upload && (name === 'key' || name === 'overwrite' || isParameterField(name))) {
        fail(new BadRequestException(`form field "${name}" must come before the file part, or go in the query`));
      } else {
        fields[name] = value;
      }
    });
    parser.on('file', (name, stream, info) => {
      if (name !== 'file') {
        stream.resume();
        fail(
          new BadRequestException(`unexpected file part "${name.slice(0, 100)}": send the file in a part named "file"`),
        );
        return;
      }
      // The file ends only once the whole form parsed cleanly ('close'): a bad rest must abort, not leave an object.
      const held = new PassThrough();
      file = held;
      stream.pipe(held, { end: false });
      fileRead = finished(stream);
      fileRead.catch((error: Error) => held.destroy(error));
      // Errors reach the upload through its own pipeline; this keeps an error before that from crashing the process.
      held.on('error', () => undefined);
      const mimeType = fileContentType(Buffer.concat(recent).toString('latin1'), boundary) ?? info.mimeType;
      upload = onFile({ stream: held, fileName: info.filename, mimeType, fields: { ...fields } });
      upload.catch((error: Error) => fail(error));
    });
    parser.on('filesLimit', () => fail(new BadRequestException('only one file part is allowed')));
    parser.on('fieldsLimit', () => fail(new BadRequestException('too many form fields')));
    parser.on('partsLimit', () => fail(new BadRequestException('too many form parts')));
    parser.on('error', (error: Error) => fail(new BadRequestException(`malformed multipart body: ${error.message}`)));
    parser.on('close', () => {
      if (settled) {
        return;
      }
      if (!upload) {
        fail(new BadRequestException('no file part: send the file in a multipart part named "file"'));
        return;
      }
      void fileRead?.then(() => file?.end()).catch(() => undefined);
      upload.then(
        (result) => {
          if (!settled) {
            settled = true;
            resolve(result);
          }
        },
        (error: Error) => fail(error),
      );
    });
    req.on('close', () => {
      if (!req.complete) {
        fail(new HttpProblem(400, 'the client closed the connection before the upload finished'));
      }
    });
    // Every byte counts toward the limit, not only the file's: preamble, fields, part headers and epilogue too.
    let received = 0;
    const count = (chunk: Buffer): void => {
      received += chunk.length;
      recent.push(chunk);
      recentBytes += chunk.length;
      while (recent.length > 1 && recentBytes - recent[0].length >= 2 * MAX_PART_HEADER_BYTES) {
        recentBytes -= recent.shift()!.length;
      }
      if (received > maxBytes) {
        fail(new HttpProblem(413, `the upload is larger than the limit of ${maxBytes} bytes`));
      }
    };
    req.on('data', count);
    req.pipe(parser);
  });
}

/** Busboy's cap on one part's header block: the file part's headers always lie within this many bytes before it. */
const MAX_PART_HEADER_BYTES = 16 * 1024;

/** The raw `Content-Type` of the last `file` part in `raw` (latin1): busboy gives only `type/subtype`, or `text/plain`. */
export function fileContentType(raw: string, boundary: string): string | undefined {
  let found: string | undefined;
  for (const block of raw.split(`--${boundary}\r\n`).slice(1)) {
    const lines = block.split('\r\n\r\n', 1)[0].split('\r\n');
    const header = (name: string) =>
      lines
        .filter((line) => line.slice(0, name.length + 1).toLowerCase() === `${name}:`)
        .map((line) => line.slice(name.length + 1).trim());
    const disposition = header('content-disposition')[0] ?? '';
    if (/;\s*name="?file"?\s*(;|$)/i.test(disposition)) {
      const types = header('content-type');
      found = types.length > 0 ? types.join(', ') : undefined;
    }
  }
  return found;
}
