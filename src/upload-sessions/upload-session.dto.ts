export class UploadSessionScope {
  /** The one key the session may write. */
  key?: string;
  /** The folder of every key the session writes (ending in `/`, or `""`). */
  keyPrefix?: string;
  /** A `keyPrefix` session: whether its uploads may replace existing objects. */
  overwrite?: boolean;
  /** The largest file one upload may create, in bytes. */
  maxBytes!: number;
  /** Allowed media types (`*\/*`: any); absent: any. */
  contentTypes?: string[];
}

/** A scoped, expiring capability to upload, for a browser that must never hold an API key. */
export class UploadSessionDto {
  /** Send as `Authorization: Bearer <token>` to `POST /files` or the tus endpoint. */
  token!: string;
  /** The session URL: Uppy's `companionEndpoint` for `@uppy/aws-s3` (it embeds the token). */
  url!: string;
  /** When the token stops working. */
  expiresAt!: Date;
  scope!: UploadSessionScope;
}
