import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { streamBody } from './stream-body.js';

/** A real HTTP response as the destination: what the download route hands it. */
describe('streamBody', () => {
  let server: Server;
  let source: () => Readable;
  let settled: Promise<void>;

  beforeEach(async () => {
    server = createServer((_req, res) => {
      settled = streamBody(source(), res);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  afterEach(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  const request = async (): Promise<IncomingMessage> => {
    const { port } = server.address() as AddressInfo;
    const req = get(`http://127.0.0.1:${port}/`);
    req.on('error', () => undefined); // a cut response also fails its request
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    return res;
  };

  const readAll = async (res: IncomingMessage): Promise<{ body: Buffer; complete: boolean }> => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('error', () => undefined); // a cut body
    await new Promise((resolve) => res.on('close', resolve));
    return { body: Buffer.concat(chunks), complete: res.complete };
  };

  it('should send every byte in order and settle', async () => {
    const data = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 251));
    source = () => Readable.from([data.subarray(0, 70_000), data.subarray(70_000)]);
    const { body, complete } = await readAll(await request());
    await settled;
    expect(complete).toBe(true);
    expect(body.equals(data)).toBe(true);
  });

  it('should cut the response when the source fails, and settle without rejecting', async () => {
    const body = new PassThrough();
    source = () => body;
    body.write(Buffer.alloc(1000, 1));
    const read = readAll(await request());
    body.destroy(new Error('S3 went away'));
    const { complete } = await read;
    await expect(settled).resolves.toBeUndefined();
    expect(complete).toBe(false);
  }, 5000);

  it('should end the source when the client goes away mid-body', async () => {
    const body = new PassThrough();
    source = () => body;
    body.write(Buffer.alloc(1000, 1));
    const res = await request();
    await once(res, 'data');
    res.destroy();
    await settled;
    expect(body.destroyed).toBe(true);
  });

  it('should leave no listener of its own on a finished response', async () => {
    source = () => Readable.from([Buffer.from('done')]);
    let response: ServerResponse | undefined;
    server.removeAllListeners('request');
    server.on('request', (_req, res) => {
      response = res;
      settled = streamBody(source(), res);
    });
    await readAll(await request());
    await settled;
    expect(response?.listenerCount('error')).toBe(0);
  });
});
