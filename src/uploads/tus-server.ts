import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { Logger } from '@nestjs/common';
import { Server, type ServerOptions } from '@tus/server';
import { statusOf } from '../http/http-error.filter.js';
import type { ObjectSettings } from '../config/s3-options.js';
import type { IfMatchForm } from '../storage/backend-capabilities.js';
import { toStorageError } from '../storage/storage.errors.js';
import { tusError } from './tus-error.js';
import { S3Locker } from './tus-lock.js';
import { ServiceS3Store } from './tus-store.js';

/** What the service decides per request; the Node request is the one the Nest controller saw. */
export interface TusPolicy {
  /** The bucket key (with `S3_PREFIX`) of a new upload; throws a `TusError` for bad metadata. */
  name(req: IncomingMessage, metadata: Record<string, string | null> | undefined): string;
  /**
   * The bucket key of the upload this request names: the one the controller checked, never one read again from the
   * URL (whose query or fragment may hold another); undefined for an id this service never issues.
   */
  idOf(req: IncomingMessage): string | undefined;
  /** The URL path of an upload. */
  urlOf(id: string): string;
  /** The upload's metadata as stored: `contentType` set from `filetype`; throws a `TusError` if refused. */
  metadata(req: IncomingMessage, metadata: Record<string, string | null> | undefined): Record<string, string | null>;
  maxSize(req: IncomingMessage): number;
}

export interface TusSettings {
  readonly path: string;
  readonly bucket: string;
  /** Where the store keeps `.info` and `.part` objects: `S3_PREFIX` + the reserved prefix. */
  readonly reservedPrefix: string;
  readonly s3: S3ClientConfig;
  /** `S3_SSE`, `S3_STORAGE_CLASS`, `DEFAULT_CACHE_CONTROL`: carried by every object the store writes. */
  readonly objects: ObjectSettings;
  /** The `If-Match` form the backend compares, for the upload locks. */
  readonly ifMatch: () => Promise<IfMatchForm | undefined>;
  readonly partSize: number;
  readonly partsInFlight: number;
  readonly expiryMs: number;
  readonly exposedHeaders: string[];
}

const logger = new Logger('Uploads');

const nodeRequest = (req: Request): IncomingMessage =>
  (req as unknown as { runtime: { node: { req: IncomingMessage } } }).runtime.node.req;

/** The tus server and its S3 store; loaded on the first /uploads request or cleanup that needs it (import cost). */
export function createTusServer(settings: TusSettings, policy: TusPolicy): Server {
  const datastore = new ServiceS3Store({
    reservedPrefix: settings.reservedPrefix,
    objects: settings.objects,
    partSize: settings.partSize,
    // One permit per part being written to a temporary file and sent to S3, shared by all uploads of this process.
    maxConcurrentPartUploads: settings.partsInFlight,
    expirationPeriodInMilliseconds: settings.expiryMs,
    // Expiry is the service's own cleanup, not an S3 lifecycle rule on tags.
    useTags: false,
    s3ClientConfig: { ...settings.s3, bucket: settings.bucket },
  });
  const options: ServerOptions & { datastore: ServiceS3Store } = {
    path: settings.path,
    datastore,
    // Locks on S3, so requests for one upload are serialised across every instance on the bucket (no sticky sessions).
    locker: new S3Locker({ ...datastore.lockStore(), ifMatch: settings.ifMatch }),
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
    exposedHeaders: settings.exposedHeaders,
    onResponseError: (_req, error) => answerFor(error),
  };
  return new Server(options);
}

type TusAnswer = { status_code: number; body: string };

/**
 * tus errors keep their text bodies, as the protocol's clients expect; what tus would answer 5xx for a client's
 * doing is a 4xx, and S3 failures are the service's usual 502/503/504. Never a stack or an SDK message.
 */
function answerFor(error: Error | TusAnswer): TusAnswer {
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
    return tusError(500, 'internal error');
  }
  return tusError(statusOf(mapped.code), mapped.message);
}
