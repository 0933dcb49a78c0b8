import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { StorageError } from './storage.errors.js';

/** S3's continuation token, and the prefix and delimiter of the listing it continues. */
type CursorPayload = { t: string; p: string; d: string };

const MAC_BYTES = 16;

/**
 * Stateless list cursors with an HMAC, so only a cursor this deployment issued reaches S3 (Ceph RGW accepts a made-up
 * token with a 200). Every instance with the same secret, bucket and S3_PREFIX accepts the others' cursors.
 */
export class ListCursors {
  private readonly key: Buffer;

  /** `scope` (bucket and S3_PREFIX) keeps a cursor from continuing a listing of another bucket or prefix. */
  constructor(secret: string, scope: string) {
    this.key = Buffer.from(hkdfSync('sha256', secret, scope, 's3-file-service list cursor', 32));
  }

  encode(payload: CursorPayload): string {
    return this.signed(Buffer.from(JSON.stringify(payload)).toString('base64url'));
  }

  /** The continuation token of a cursor issued for this prefix and delimiter. @throws StorageError InvalidInput */
  decode(cursor: string, prefix: string, delimiter: string): string {
    const body = cursor.split('.')[0];
    const presented = Buffer.from(cursor);
    const issued = Buffer.from(this.signed(body));
    if (presented.length !== issued.length || !timingSafeEqual(presented, issued)) {
      throw new StorageError('InvalidInput', 'cursor is not valid: pass the nextCursor of the previous page unchanged');
    }
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as CursorPayload;
    if (payload.p !== prefix || payload.d !== delimiter) {
      throw new StorageError('InvalidInput', 'cursor belongs to a listing with another prefix or delimiter');
    }
    return payload.t;
  }

  private signed(body: string): string {
    const mac = createHmac('sha256', this.key).update(body).digest().subarray(0, MAC_BYTES);
    return `${body}.${mac.toString('base64url')}`;
  }
}
