/** A request to make straight to S3, without going through this service. */
export class SignedUrl {
  /** The S3 URL to send the request to. */
  url!: string;

  /**
   * The HTTP method to use: `PUT` (send `headers`) or `POST` (a form with `fields`) for an upload, whichever the
   * service chose for this backend; `GET` for a download.
   */
  method!: 'GET' | 'PUT' | 'POST';

  /** `PUT`: headers the request must carry exactly (the signed `Content-Type`). */
  headers?: Record<string, string>;

  /** `POST`: form fields to send, in this order, before the `file` part (`multipart/form-data`). */
  fields?: Record<string, string>;

  /**
   * When the signature stops working: the requested lifetime, or earlier when the service's temporary
   * credentials (instance role) expire first.
   */
  expiresAt!: Date;
}
