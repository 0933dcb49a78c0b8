import { once } from 'node:events';
import { get, type IncomingMessage, type ServerResponse } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import { listenOnLoopback } from '../../test/support/http.js';
import { streamBody } from './stream-body.js';

/** A real HTTP response as the destination: what the download route hands it. */
describe('streamBody', () => {
  let server: Awaited<ReturnType<typeof listenOnLoopback>>;
  let source: () => Readable;
  let response: ServerResponse | undefined;
  let settled: Promise<void>;

  beforeEach(async () => {
    server = await listenOnLoopback((_req, res) => {
      response = res;
      settled = streamBody(source(), res);
    });
  });

  afterEach(() => server.close());

  const request = async (): Promise<IncomingMessage> => {
    const req = get(`${server.url}/`);
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
    await readAll(await request());
    await settled;
    expect(response?.listenerCount('error')).toBe(0);
  });
});
