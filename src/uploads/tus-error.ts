/** An answer with a status and a text body, in the shape @tus/server sends its own errors (`status_code`, `body`). */
export class TusError extends Error {
  readonly body: string;

  constructor(
    readonly status_code: number,
    message: string,
  ) {
    super(message);
    this.body = `${message}\n`;
  }
}

export const tusError = (status: number, message: string): TusError => new TusError(status, message);
