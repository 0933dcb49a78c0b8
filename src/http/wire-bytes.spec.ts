import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { listenOnLoopback } from '../../test/support/http.js';
import { wireBytes, type WireBytes } from './wire-bytes.js';

/** Three requests on one keep-alive connection of a real server. */
describe(wireBytes.name, () => {
  let server: Awaited<ReturnType<typeof listenOnLoopback>>;
  const seen: WireBytes[] = [];

  beforeAll(async () => {
    server = await listenOnLoopback((req, res) => {
      req.resume();
      req.on('end', () => {
        res.on('finish', () => {
          const bytes = wireBytes(req, res);
          expect(wireBytes(req, res)).toBe(bytes); // once per response, whoever asks
          seen.push(bytes);
        });
        res.end('x'.repeat(Number(req.headers['x-size'])));
      });
    });
  });

  afterAll(() => server.close());

  it("should give each response its own exchange's bytes, not its connection's so far", async () => {
    const { port } = server;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sizes = [5000, 10, 70_000];
    const uploads = [100_000, 0, 3];
    for (const [i, size] of sizes.entries()) {
      const req = request({ port, host: '127.0.0.1', method: 'POST', agent, headers: { 'x-size': size } });
      req.end(Buffer.alloc(uploads[i]));
      const [res] = await once(req, 'response');
      (res as NodeJS.ReadableStream).resume();
      await once(res as NodeJS.EventEmitter, 'end');
    }
    agent.destroy();
    expect(seen).toHaveLength(3);
    for (const [i, { bytesIn, bytesOut }] of seen.entries()) {
      // Bodies plus headers (well under 300 bytes each way).
      expect(bytesIn - uploads[i]).toBeGreaterThan(40);
      expect(bytesIn - uploads[i]).toBeLessThan(300);
      expect(bytesOut - sizes[i]).toBeGreaterThan(40);
      expect(bytesOut - sizes[i]).toBeLessThan(300);
    }
  });
});
