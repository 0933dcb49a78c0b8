import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The bytes an exchange moved on its connection, headers and bodies nobody read (a refused upload) included. */
export interface WireBytes {
  readonly bytesIn: number;
  readonly bytesOut: number;
}

const WATERMARK = Symbol('socket counters when its previous response ended');
const SETTLED = Symbol('the bytes of this response');

type MarkedSocket = Socket & { [WATERMARK]?: { read: number; written: number } };
type SettledResponse = ServerResponse & { [SETTLED]?: WireBytes };

/**
 * The bytes of `res`'s exchange: its socket's counters since the previous response on it ended (HTTP/1.1 answers in
 * order). Worked out once, when the response is done, by whichever of the request log and the metrics asks first;
 * every response must be settled so, or the next one on its connection would count this one's bytes.
 */
export function wireBytes(req: IncomingMessage, res: ServerResponse): WireBytes {
  const settled = (res as SettledResponse)[SETTLED];
  if (settled !== undefined) {
    return settled;
  }
  // `req.socket`: the response's own is detached by the time it has finished.
  const socket = req.socket as MarkedSocket;
  const from = socket[WATERMARK] ?? { read: 0, written: 0 };
  const read = socket.bytesRead;
  const written = socket.bytesWritten;
  socket[WATERMARK] = { read, written };
  const bytes = { bytesIn: read - from.read, bytesOut: written - from.written };
  (res as SettledResponse)[SETTLED] = bytes;
  return bytes;
}
