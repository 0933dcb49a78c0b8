import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/** `upstream`: service → S3 (request bytes); `downstream`: S3 → service (response bytes). */
export type Direction = 'upstream' | 'downstream';

export type FaultMode =
  /** Forward everything. */
  | { kind: 'pass' }
  /** Nothing listens on the port: connections are refused (ECONNREFUSED). */
  | { kind: 'refuse' }
  /** Accept, then reset the connection at once (ECONNRESET). */
  | { kind: 'reset' }
  /** Forward `afterBytes` in `direction` (default: none), then go silent: read and drop, never answer. */
  | { kind: 'stall'; direction?: Direction; afterBytes?: number }
  /** Forward `afterBytes` in `direction` per connection, then reset it; `times` connections (default: all). */
  | { kind: 'cut'; direction: Direction; afterBytes: number; times?: number }
  /**
   * Answer the next `times` requests with an S3 XML error (`503 SlowDown`, `500 InternalError`, `403 AccessDenied`...),
   * then forward; `detail` is extra XML inside `<Error>`, as S3 adds (e.g. `<AWSAccessKeyId>`).
   */
  | { kind: 'error'; status: number; code: string; times: number; detail?: string }
  /**
   * Forward everything, but lose the answer to `times` requests whose head matches `request` (e.g.
   * `^POST [^ ]*\?uploadId=` for CompleteMultipartUpload): S3 carries them out, then the connection is reset.
   */
  | { kind: 'lose-answer'; request: RegExp; times?: number };

export interface FaultProxyStats {
  /** Connections from the service. */
  accepted: number;
  /** Connections reset by `cut` or `lose-answer`. */
  cuts: number;
  /** Requests answered by `error`. */
  errorsAnswered: number;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  500: 'Internal Server Error',
  503: 'Slow Down',
};

/**
 * A TCP proxy on 127.0.0.1 (port 0) between the service and an S3-compatible server, whose fault can be switched at
 * run time. Switching drops the open connections, so the service's keep-alive pool meets the new mode at once.
 */
export class FaultProxy {
  private server: Server;
  private mode: FaultMode = { kind: 'pass' };
  private cutsLeft = 0;
  private errorsLeft = 0;
  /** Every socket (both sides), to drop them on a mode switch. */
  private readonly sockets = new Set<Socket>();
  /** Connections from the service. */
  private readonly clients = new Set<Socket>();
  readonly stats: FaultProxyStats = { accepted: 0, cuts: 0, errorsAnswered: 0 };

  private constructor(
    private readonly target: { host: string; port: number },
    private boundPort = 0,
  ) {
    this.server = this.newServer();
  }

  static async start(targetPort: number): Promise<FaultProxy> {
    const proxy = new FaultProxy({ host: '127.0.0.1', port: targetPort });
    await proxy.listen();
    return proxy;
  }

  get port(): number {
    return this.boundPort;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  /** Connections from the service still open at the proxy (stalled ones included). */
  get openConnections(): number {
    return this.clients.size;
  }

  async setMode(mode: FaultMode): Promise<void> {
    const wasRefusing = this.mode.kind === 'refuse';
    this.mode = mode;
    this.cutsLeft = mode.kind === 'cut' || mode.kind === 'lose-answer' ? (mode.times ?? Infinity) : 0;
    this.errorsLeft = mode.kind === 'error' ? mode.times : 0;
    this.dropConnections();
    if (mode.kind === 'refuse' && !wasRefusing) {
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    } else if (mode.kind !== 'refuse' && wasRefusing) {
      this.server = this.newServer();
      await this.listen();
    }
    // Let the service's agent see its pooled sockets close before the next request picks one.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  async close(): Promise<void> {
    this.dropConnections();
    if (this.server.listening) {
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }
  }

  private dropConnections(): void {
    for (const socket of this.sockets) {
      socket.destroy();
    }
  }

  private newServer(): Server {
    return createServer((client) => this.accept(client));
  }

  private async listen(): Promise<void> {
    this.server.listen(this.boundPort, '127.0.0.1');
    await once(this.server, 'listening');
    this.boundPort = (this.server.address() as { port: number }).port;
  }

  private accept(client: Socket): void {
    this.stats.accepted++;
    this.track(client);
    this.clients.add(client);
    client.once('close', () => this.clients.delete(client));
    client.on('error', () => undefined);
    const mode = this.mode;
    switch (mode.kind) {
      case 'refuse':
      case 'reset':
        client.resetAndDestroy();
        return;
      case 'error':
        if (this.errorsLeft > 0) {
          this.answerError(client, mode.status, mode.code, mode.detail ?? '');
          return;
        }
        this.forward(client, undefined);
        return;
      case 'stall':
        if (!mode.afterBytes) {
          client.resume(); // read and drop, never answer
          return;
        }
        this.forward(client, { direction: mode.direction ?? 'downstream', afterBytes: mode.afterBytes, stall: true });
        return;
      case 'cut':
        this.forward(client, { direction: mode.direction, afterBytes: mode.afterBytes, stall: false });
        return;
      case 'lose-answer':
        this.forward(client, undefined, mode.request);
        return;
      case 'pass':
        this.forward(client, undefined);
        return;
    }
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Pipes both ways; with a limit, lets `afterBytes` through in one direction, then cuts or stalls. */
  private forward(
    client: Socket,
    limit: { direction: Direction; afterBytes: number; stall: boolean } | undefined,
    loseAnswerTo?: RegExp,
  ): void {
    const upstream = connect(this.target.port, this.target.host);
    this.track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());

    let passed = 0;
    let stopped = false;
    let answerToLose = false;
    const relay = (from: Socket, to: Socket, direction: Direction): void => {
      from.on('data', (chunk: Buffer) => {
        if (stopped) {
          return;
        }
        if (
          loseAnswerTo &&
          direction === 'upstream' &&
          this.cutsLeft > 0 &&
          loseAnswerTo.test(chunk.toString('latin1'))
        ) {
          answerToLose = true; // requests on a connection are sequential: the next bytes down are its answer
        } else if (answerToLose && direction === 'downstream') {
          stopped = true;
          this.cutsLeft--;
          this.stats.cuts++;
          client.resetAndDestroy();
          upstream.resetAndDestroy();
          return;
        }
        if (!limit || limit.direction !== direction) {
          if (!to.write(chunk)) {
            from.pause();
            to.once('drain', () => from.resume());
          }
          return;
        }
        const room = limit.afterBytes - passed;
        if (chunk.length < room || (!limit.stall && this.cutsLeft <= 0)) {
          passed += chunk.length;
          if (!to.write(chunk)) {
            from.pause();
            to.once('drain', () => from.resume());
          }
          return;
        }
        to.write(chunk.subarray(0, room));
        passed += room;
        stopped = true;
        if (limit.stall) {
          client.resume();
          upstream.resume();
          return;
        }
        this.cutsLeft--;
        this.stats.cuts++;
        // Let the partial bytes leave before the reset.
        setImmediate(() => {
          client.resetAndDestroy();
          upstream.resetAndDestroy();
        });
      });
    };
    relay(client, upstream, 'upstream');
    relay(upstream, client, 'downstream');
  }

  /** Reads one request (headers, then the body unless the client waits for `100 Continue`) and answers an S3 error. */
  private answerError(client: Socket, status: number, code: string, detail: string): void {
    this.errorsLeft--;
    let head = Buffer.alloc(0);
    let bodyLeft: number | undefined;
    let answered = false;
    const answer = (isHead: boolean): void => {
      if (answered) {
        return;
      }
      answered = true;
      this.stats.errorsAnswered++;
      const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by the fault proxy</Message>${detail}<RequestId>fault-proxy</RequestId></Error>`;
      client.end(
        `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: application/xml\r\n` +
          `Content-Length: ${Buffer.byteLength(xml)}\r\nx-amz-request-id: fault-proxy\r\nConnection: close\r\n\r\n` +
          (isHead ? '' : xml),
      );
    };
    let isHead = false;
    client.on('data', (chunk: Buffer) => {
      if (bodyLeft !== undefined) {
        bodyLeft -= chunk.length;
      } else {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) {
          return;
        }
        const text = head.subarray(0, end).toString('latin1');
        isHead = text.startsWith('HEAD ');
        const expectContinue = /^expect:\s*100-continue/im.test(text);
        const length = Number(/^content-length:\s*(\d+)/im.exec(text)?.[1] ?? 0);
        bodyLeft = expectContinue ? 0 : length - (head.length - end - 4);
      }
      if (bodyLeft <= 0) {
        answer(isHead);
      }
    });
  }
}
