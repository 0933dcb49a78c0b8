import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendSmallRequest } from './small-request.js';

describe(sendSmallRequest.name, () => {
  let server: Server;
  let base: string;
  const seen: { method?: string; headers: IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        seen.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() });
        if (req.url === '/slow') {
          res.write('part');
          return; // never ends
        }
        if (req.url === '/big') {
          res.end(Buffer.alloc(2 * 1024 * 1024, 'a'));
          return;
        }
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain' }).end(`got ${req.url}`);
      });
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  beforeEach(() => (seen.length = 0));

  it('should answer the status and the text of any answer, an error status included', async () => {
    await expect(sendSmallRequest(`${base}/a?b=c`, { method: 'GET' })).resolves.toEqual({
      status: 200,
      body: 'got /a?b=c',
    });
    await expect(sendSmallRequest(`${base}/missing`, { method: 'GET' })).resolves.toEqual({
      status: 404,
      body: 'got /missing',
    });
    expect(seen[0].headers['content-length']).toBeUndefined();
  });

  it('should send its headers and a Content-Length for a body, an empty one included, as fetch does', async () => {
    await sendSmallRequest(`${base}/put`, { method: 'PUT', headers: { 'X-Amz-Acl': 'public-read' }, body: 'héllo' });
    await sendSmallRequest(`${base}/token`, { method: 'PUT' });
    expect(
      seen.map(({ method, headers, body }) => [method, headers['content-length'], headers['transfer-encoding'], body]),
    ).toEqual([
      ['PUT', '6', undefined, 'héllo'],
      ['PUT', '0', undefined, ''],
    ]);
    expect(seen[0].headers['x-amz-acl']).toBe('public-read');
  });

  it('should give up when its signal aborts, also while the answer is being read', async () => {
    await expect(sendSmallRequest(`${base}/slow`, { method: 'GET', signal: AbortSignal.timeout(100) })).rejects.toThrow(
      expect.objectContaining({ name: 'AbortError' }),
    );
  });

  it('should refuse an answer longer than a MiB', async () => {
    await expect(sendSmallRequest(`${base}/big`, { method: 'GET' })).rejects.toThrow(/longer than 1048576 bytes/);
  });

  it('should fail with the system error when nothing listens', async () => {
    const closed = createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    await once(closed, 'close');
    await expect(sendSmallRequest(`http://127.0.0.1:${port}/`, { method: 'GET' })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });
});
