/**
 * The browser side of the Uppy tests: stock `@uppy/core` + `@uppy/aws-s3` + `@uppy/xhr-upload`, bundled by esbuild
 * into one script for a page, as a web app would ship them. The page holds only a session URL or token, never an
 * API key. Each function makes a file of random bytes in the page, uploads it with Uppy and says what happened.
 */
import Uppy from '@uppy/core';
import AwsS3 from '@uppy/aws-s3';
import XHRUpload from '@uppy/xhr-upload';

export interface PageUpload {
  sha256: string;
  size: number;
  millis: number;
  paused: boolean;
  aborted: boolean;
  successful: { key?: string; uploadURL?: string; body?: unknown }[];
  failed: string[];
}

interface Options {
  size: number;
  name: string;
  type: string;
  /** Pause once this many bytes are up, resume after `pauseMillis`. */
  pauseAt?: number;
  pauseMillis?: number;
  /** Remove the file (Uppy aborts the upload) once this many bytes are up. */
  abortAt?: number;
}

function randomFile(size: number): Uint8Array<ArrayBuffer> {
  const data = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(data.subarray(offset, Math.min(size, offset + 65536)));
  }
  return data;
}

async function hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', data);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function run(uppy: Uppy, options: Options): Promise<PageUpload> {
  const data = randomFile(options.size);
  const sha256 = await hex(data);
  const id = uppy.addFile({ name: options.name, type: options.type, data: new Blob([data], { type: options.type }) });
  let paused = false;
  let aborted = false;
  uppy.on('upload-progress', (file, progress) => {
    const sent = progress.bytesUploaded || 0;
    if (options.pauseAt !== undefined && !paused && sent >= options.pauseAt) {
      paused = true;
      uppy.pauseResume(id);
      setTimeout(() => uppy.pauseResume(id), options.pauseMillis ?? 500);
    }
    if (options.abortAt !== undefined && !aborted && sent >= options.abortAt && file) {
      aborted = true;
      uppy.removeFile(id);
    }
  });
  const started = performance.now();
  const result = await uppy.upload();
  const millis = Math.round(performance.now() - started);
  return {
    sha256,
    size: options.size,
    millis,
    paused,
    aborted,
    successful: (result?.successful ?? []).map((file) => ({
      key: (file.response?.body as { key?: string } | undefined)?.key,
      uploadURL: file.response?.uploadURL,
      body: file.response?.body,
    })),
    failed: (result?.failed ?? []).map((file) => String(file.error)),
  };
}

declare global {
  interface Window {
    uploadToS3(sessionUrl: string, multipart: boolean, options: Options): Promise<PageUpload>;
    uploadToService(endpoint: string, token: string, options: Options): Promise<PageUpload>;
  }
}

window.uploadToS3 = (sessionUrl, multipart, options) =>
  run(new Uppy().use(AwsS3, { companionEndpoint: sessionUrl, shouldUseMultipart: multipart }), options);

window.uploadToService = (endpoint, token, options) =>
  run(
    new Uppy().use(XHRUpload, { endpoint, fieldName: 'file', headers: { Authorization: `Bearer ${token}` } }),
    options,
  );
