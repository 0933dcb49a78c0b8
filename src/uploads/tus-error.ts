/** An answer with a status and a text body, in the shape @tus/server sends its own errors (`status_code`, `body`). */
export class TusError extends Error {
  readonly body = `${this.message}\n`;

  constructor(
    readonly status_code: number,
    message: string,
  ) {
    super(message);
  }
}
