import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { HttpException, Logger } from '@nestjs/common';
import { Server } from '@tus/server';
import { statusOf } from '../http/http-error.filter.js';
import { s3ClientConfig } from '../storage/s3-client.factory.js';
import { toStorageError } from '../storage/storage.errors.js';
import { TusError } from './tus-error.js';
import { S3Locker } from './tus-lock.js';
import { ServiceS3Store } from './tus-store.js';
import { UPLOADS_PATH, type TusUploads } from './tus-uploads.service.js';

const logger = new Logger('Uploads');

const nodeRequest = (req: Request): IncomingMessage =>
  (req as unknown as { runtime: { node: { req: IncomingMessage } } }).runtime.node.req;

/** The tus server and its S3 store; loaded on the first /uploads request or cleanup that needs it (import cost). */
export function createTusServer(policy: TusUploads): Server {
  const { config, credentials, capabilities, s3 } = policy;
  const datastore = new ServiceS3Store(s3, {
    partSize: config.uploads.partSize,
    // One permit per part being written to a temporary file and sent to S3, shared by all uploads of this process.
    maxConcurrentPartUploads: config.tus.partsInFlight,
    expirationPeriodInMilliseconds: config.tus.expirySeconds * 1000,
    // Expiry is the service's own cleanup, not an S3 lifecycle rule on tags.
    useTags: false,
    // As the presigning client: the store's part bodies are temporary files, checksummed by S3 where it must.
    client: s3ClientConfig(config.s3, credentials, 'WHEN_REQUIRED'),
  });
  return new Server({
    path: UPLOADS_PATH,
    datastore,
    // Locks on S3, so requests for one upload are serialised across every instance on the bucket (no sticky sessions).
    locker: new S3Locker(datastore.lockStore(async () => (await capabilities.conditionalWrites()).ifMatch)),
    // Only a lock lost to a takeover cancels a request (S3Locker never asks a live holder to let go): stop it at once.
    lockDrainTimeout: 1,
    maxSize: (req) => policy.maxSize(nodeRequest(req)),
    namingFunction: (req, metadata) => policy.name(nodeRequest(req), metadata),
    generateUrl: (_req, { id }) => policy.urlOf(id),
    getFileIdFromRequest: (req) => policy.idOf(nodeRequest(req)),
    onUploadCreate: (req, upload) => Promise.resolve({ metadata: policy.metadata(nodeRequest(req), upload.metadata) }),
    onUploadFinish: async (_req, upload) => {
      // S3 completes a multipart upload only with a part; tus never writes to an empty upload, so this does.
      if (upload.size === 0) {
        await datastore.write(Readable.from([]), upload.id, 0);
      }
      return {};
    },
    // Termination would otherwise delete the finished object (only the Files API deletes files).
    disableTerminationForFinishedUploads: true,
    // CORS headers come from the app's own CORS middleware; tus would answer `*` to any origin.
    allowedOrigins: () => false,
    // Besides tus's own list, for browsers to read.
    exposedHeaders: ['Upload-Expires', 'X-Request-Id'],
    onResponseError: (_req, error) => answerFor(error),
  });
}

type TusAnswer = { status_code: number; body: string };

/**
 * tus errors and the upload sessions' 4xx keep text bodies, as tus clients expect; a 5xx tus gives for the client's
 * doing is a 4xx; S3 failures are the service's usual 502/503/504. Never a stack or an SDK message.
 */
function answerFor(error: Error | TusAnswer): TusAnswer {
  if (error instanceof HttpException) {
    return new TusError(error.getStatus(), error.message);
  }
  if ('status_code' in error) {
    if (error.status_code === 501) {
      return { status_code: 400, body: error.body };
    }
    if (error.status_code < 500) {
      return error;
    }
  }
  const mapped = toStorageError(error);
  if (mapped.code === 'BadGateway' && !('$metadata' in error)) {
    logger.error(`tus upload failed: ${error instanceof Error ? error.name : 'unknown error'}`);
    return new TusError(500, 'internal error');
  }
  return new TusError(statusOf(mapped.code), mapped.message);
}
