import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Server } from '@tus/server';
import type { Request } from 'express';
import { AppConfig } from '../config/app-config.js';
import { keyProblem } from '../http/file-key.js';
import { parseMediaType } from '../http/media-type.js';
import { generateKey } from '../http/upload-name.js';
import { BackendCapabilities } from '../storage/backend-capabilities.js';
import { S3Gateway } from '../storage/s3-gateway.js';
import type { CredentialSource } from '../storage/s3-client.factory.js';
import { toStorageError } from '../storage/storage.errors.js';
import { StorageService } from '../storage/storage.service.js';
import { CREDENTIAL_SOURCE } from '../storage/storage.tokens.js';
import { UploadSessions, type UploadSession } from '../security/upload-sessions.service.js';
import { TusError } from './tus-error.js';
import { Slots } from './tus-slots.js';
import { sendProblem } from '../http/problem.js';

export const UPLOADS_PATH = '/uploads';

/** How long a request that writes waits for a slot before it is answered 503 (tus clients retry it). */
const SLOT_WAIT_MS = 2000;

/**
 * tus 1.0 at /uploads: `@tus/server` with the S3 store, built on first use (its import costs memory at boot), the
 * cleanup of expired uploads, and the policy tus asks about: keys, types, sizes.
 */
@Injectable()
export class TusUploads implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Uploads');
  private readonly prefixBytes: number;
  private server?: Promise<Server>;
  /** The upload key (without `S3_PREFIX`) each request was checked for: the only id tus acts on. */
  private readonly checked = new WeakMap<IncomingMessage, string | undefined>();
  // Writing requests at once: each can download its upload's pending `.part` (under 5 MiB) to the temp dir before
  // the store takes a part permit, so their number bounds that disk.
  private readonly writers: Slots;
  private timer?: NodeJS.Timeout;
  private cleaning?: Promise<number>;

  constructor(
    readonly config: AppConfig,
    @Inject(CREDENTIAL_SOURCE) readonly credentials: CredentialSource,
    private readonly storage: StorageService,
    private readonly sessions: UploadSessions,
    readonly capabilities: BackendCapabilities,
    readonly s3: S3Gateway,
  ) {
    this.prefixBytes = Buffer.byteLength(config.s3.prefix, 'utf8');
    this.writers = new Slots(config.tus.partsInFlight);
  }

  onModuleInit(): void {
    const everyMs = Math.min(Math.max((this.config.tus.expirySeconds * 1000) / 4, 1000), 15 * 60_000);
    this.timer = setInterval(() => {
      this.removeExpired().catch((error: unknown) => {
        this.logger.warn(`cleanup of expired uploads failed: ${toStorageError(error).message}`);
      });
    }, everyMs).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Answers one tus request the controller checked; `key` (its path parameter) is the one upload it can reach. */
  async handle(req: IncomingMessage, res: ServerResponse, key?: string): Promise<void> {
    this.checked.set(req, key);
    const server = await this.load();
    const release = writes(req) ? await this.writers.take(SLOT_WAIT_MS) : () => undefined;
    if (release === undefined) {
      sendProblem(req, res, 503, 'every upload slot of this instance is busy; retry shortly', {
        'Tus-Resumable': '1.0.0',
        'Retry-After': '1',
      });
      return;
    }
    // A response whose client is gone may never finish: its close frees the slot too.
    res.once('close', release);
    try {
      await server.handle(req, res);
    } finally {
      release();
    }
  }

  /** Removes expired uploads; until tus is loaded, one small list of the reserved prefix says if there are any. */
  removeExpired(): Promise<number> {
    this.cleaning ??= (async () => {
      try {
        if (this.server === undefined && !(await this.storage.hasReservedObjects())) {
          return 0;
        }
        const removed = await (await this.load()).datastore.deleteExpired();
        if (removed > 0) {
          this.logger.log(`removed ${removed} objects of expired uploads`);
        }
        return removed;
      } finally {
        this.cleaning = undefined;
      }
    })();
    return this.cleaning;
  }

  /** Whether this request may touch the upload at `key`: an upload-session token only within its scope. */
  allows(req: Request, key: string): boolean {
    return req.uploadSession === undefined || this.sessions.inScope(req.uploadSession, key);
  }

  /** The bucket key (with `S3_PREFIX`) of a new upload; throws a 4xx for bad metadata. */
  name(req: IncomingMessage, metadata: Record<string, string | null> | undefined): string {
    const fileName = metadata?.filename ?? metadata?.name ?? undefined;
    const session = sessionOf(req);
    const key = session ? this.sessions.keyFor(session, fileName) : generateKey(fileName);
    const problem = keyProblem(key, this.prefixBytes);
    if (problem) {
      throw new TusError(400, problem);
    }
    return this.s3.objectKey(key);
  }

  /** The bucket key of the upload the controller checked, never one read again from the URL; undefined if none. */
  idOf(req: IncomingMessage): string | undefined {
    const key = this.checked.get(req);
    return key !== undefined && keyProblem(key, this.prefixBytes) === undefined ? this.s3.objectKey(key) : undefined;
  }

  urlOf(id: string): string {
    return `${UPLOADS_PATH}/${encodeURIComponent(this.s3.keyOf(id) ?? '')}`;
  }

  /** The upload's metadata as stored: `contentType` set from `filetype`; throws a 4xx if refused. */
  metadata(req: IncomingMessage, metadata: Record<string, string | null> | undefined): Record<string, string | null> {
    // `contentType` and `cacheControl` are what the store writes on the object: only the service sets them.
    const { contentType: _type, cacheControl: _cache, ...rest } = metadata ?? {};
    const declared = rest.filetype ?? rest.type ?? '';
    const session = sessionOf(req);
    if (session) {
      // Served through GET /files (sandboxed), as POST /files: the session's types apply, not the signed-URL rule.
      return { ...rest, contentType: this.sessions.checkType(session, declared, false) };
    }
    const parsed = parseMediaType(declared || 'application/octet-stream');
    if (typeof parsed === 'string') {
      throw new TusError(400, `Upload-Metadata filetype ${parsed}`);
    }
    return { ...rest, contentType: parsed.value };
  }

  maxSize(req: IncomingMessage): number {
    return sessionOf(req)?.maxBytes ?? this.config.uploads.maxBytes;
  }

  private load(): Promise<Server> {
    this.server ??= import('./tus-server.js').then(({ createTusServer }) => createTusServer(this));
    // A failed import is tried again on the next request rather than kept.
    this.server.catch(() => {
      this.server = undefined;
    });
    return this.server;
  }
}

/** A request whose body tus writes to the store: PATCH, or POST with the creation-with-upload body. */
const writes = (req: IncomingMessage): boolean =>
  (req.method === 'PATCH' || req.method === 'POST') &&
  req.headers['content-type']?.toLowerCase().startsWith('application/offset+octet-stream') === true;

const sessionOf = (req: IncomingMessage): UploadSession | undefined => (req as Request).uploadSession;
