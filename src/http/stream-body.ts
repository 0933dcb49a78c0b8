import { finished, type Readable, type Writable } from 'node:stream';

/**
 * Streams `body` into `res` and settles when the response is done, either way: the source is ended (freeing its S3
 * socket) if the client goes away, the response cut if the source fails. Never rejects.
 *
 * Not `stream.pipeline`: on every success it aborts its internal AbortController, whose AbortError (a stack trace
 * captured) was the largest single cost of a small GET in a CPU profile (~35 µs of ~1.6 ms; bench/README.md).
 */
export function streamBody(body: Readable, res: Writable): Promise<void> {
  return new Promise((resolve) => {
    body.on('error', () => res.destroy());
    const stop = finished(res, (error) => {
      stop();
      if (error) {
        body.destroy();
      }
      resolve();
    });
    body.pipe(res);
  });
}
