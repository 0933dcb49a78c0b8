import { ApiProperty } from '../openapi/swagger-decorators.js';

/** An object as stored, answered by uploads. */
export class StoredFile {
  /** The object key (relative to `S3_PREFIX`). @example "photos/2026/a b.jpg" */
  key!: string;

  /** Size in bytes. */
  @ApiProperty({ type: 'integer' })
  size!: number;

  /** The `Content-Type` stored with the object. @example "image/jpeg" */
  contentType!: string;

  /** The object's ETag, quoted as in HTTP. */
  etag!: string;
}

export class FileListItem {
  /** The object key (relative to `S3_PREFIX`). */
  key!: string;

  /** Size in bytes. */
  @ApiProperty({ type: 'integer' })
  size!: number;

  /** The object's ETag, quoted as in HTTP. */
  etag!: string;

  /** When the object was last written (ISO 8601). */
  @ApiProperty({ format: 'date-time' })
  lastModified!: string;
}

/** One page of a listing. */
export class FileList {
  /** The objects of this page, in key order. */
  items!: FileListItem[];

  /** With a `delimiter`: the "folders" directly under `prefix`, each ending with the delimiter. */
  prefixes!: string[];

  /** Pass it as `cursor` for the next page; `null` on the last page. */
  nextCursor!: string | null;
}
