import { once } from 'node:events';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { encodeKey, eventually, randomKey, serviceSuite } from './support/app.js';
import {
  expectJsonError,
  multipartBody,
  rawUntilClosed,
  send,
  writeAllThenRead,
  type HttpResult,
} from './support/http.js';
import { listMultipartUploads, objectExists } from './support/s3-server.js';

const MiB = 1024 * 1024;
const LIMIT = 6 * MiB;
const IDLE_MS = 500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (res: HttpResult) => ({ ...res, body: res.body.toString('utf8') });

/** A fetch answer in the shape `expectJsonError` reads. */
async function fetched(res: Response) {
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

/** A streamed (chunked) fetch body of `count` chunks of `size` random bytes. */
function chunkedBody(count: number, size = MiB): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent++ < count) {
        controller.enqueue(randomBytes(size));
      } else {
        controller.close();
      }
    },
  });
}

/** Sends `body` through `agent` (so on its keep-alive connection) and reads the whole answer; resolves its status. */
function fetchWith(agent: Agent, url: string, method: string, body: Buffer, headers: Record<string, string>) {
  return new Promise<number>((resolve, reject) => {
    const req = httpRequest(url, { agent, method, headers: { ...headers, 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The rules for request bodies: byte limits on the whole body, answers clients can read, and idle bodies cut. */
describe('Request bodies (e2e)', () => {
  const suite = serviceSuite({ env: { MAX_UPLOAD_BYTES: String(LIMIT) }, tuning: { idleTimeoutMs: IDLE_MS } });

  afterEach(async () => {
    expect((await send(`${suite.url}/files?limit=1`)).status).toBe(200);
  });

  /** Nothing of the upload is left in S3: no object, no multipart upload in progress. */
  async function expectNothingLeft(key: string): Promise<void> {
    await eventually(async () => (await listMultipartUploads(suite.s3.s3, suite.s3.bucket, key)).length === 0);
    expect(await objectExists(suite.s3.s3, suite.s3.bucket, key)).toBe(false);
  }

  describe('hostile JSON', () => {
    it.each([
      ['[ nested 2,000 deep', '['.repeat(2000)],
      ['[ nested 20,000 deep', '['.repeat(20_000)],
      ['balanced [ nested 5,000 deep', '['.repeat(5000) + ']'.repeat(5000)],
      ['{ nested 2,000 deep', '{"a":'.repeat(2000) + '1' + '}'.repeat(2000)],
      ['a key inside 100 levels', `{"key":"a","operation":"download","x":${'['.repeat(100)}${']'.repeat(100)}}`],
    ])('should answer %s with a 4xx JSON error', async (_, body) => {
      const res = await send(`${suite.url}/signed-urls`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: Buffer.from(body),
      });
      expectJsonError(text(res));
    });

    it('should still sign a plain request', async () => {
      const res = await send(`${suite.url}/signed-urls`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: Buffer.from(JSON.stringify({ key: 'a "[{" b.txt', operation: 'download' })),
      });
      expect(res.status).toBe(201);
    });
  });

  describe('every byte of a multipart request counts', () => {
    const B = 'xXbOuNdArYXx';
    const file = `--${B}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello\r\n--${B}--\r\n`;

    it.each([
      ['a preamble before the file part', Buffer.alloc(8 * MiB, 'p'), Buffer.from(`\r\n${file}`)],
      ['an epilogue after the last part', Buffer.from(file), Buffer.alloc(8 * MiB, 'e')],
    ])('should answer a chunked form with %s over the limit with 413', async (_, before, after) => {
      const key = randomKey('a.txt');
      const res = await send(`${suite.url}/files?key=${encodeURIComponent(key)}`, {
        method: 'POST',
        headers: { 'Content-Type': `multipart/form-data; boundary=${B}`, 'Transfer-Encoding': 'chunked' },
        body: [before, after],
      });
      expectJsonError(text(res), 413);
      await expectNothingLeft(key);
    });

    it('should count form fields too', async () => {
      const key = randomKey('a.txt');
      const fields = Object.fromEntries(Array.from({ length: 19 }, (_, i) => [`f${i}`, 'x'.repeat(16_000)]));
      const form = multipartBody(fields, [{ name: 'file', fileName: 'a.txt', data: randomBytes(LIMIT - 100 * 1024) }]);
      const res = await send(`${suite.url}/files?key=${encodeURIComponent(key)}`, {
        method: 'POST',
        headers: { 'Content-Type': form.contentType, 'Transfer-Encoding': 'chunked' },
        body: form.parts,
      });
      expectJsonError(text(res), 413);
      await expectNothingLeft(key);
    });
  });

  describe('an early 413 that clients can read', () => {
    const body = () => Array.from({ length: 8 * 16 }, () => randomBytes(64 * 1024));

    it.each(['PUT', 'POST'])('should answer a node:http %s declaring too many bytes with 413', async (method) => {
      const key = randomKey();
      const form = multipartBody({}, [{ name: 'file', fileName: 'a.bin', data: Buffer.concat(body()) }]);
      const res = await send(
        method === 'PUT' ? `${suite.url}/files/${encodeKey(key)}` : `${suite.url}/files?key=${key}`,
        {
          method,
          headers:
            method === 'PUT'
              ? { 'Content-Length': 8 * MiB }
              : { 'Content-Type': form.contentType, 'Content-Length': form.length },
          body: method === 'PUT' ? body() : form.parts,
        },
      );
      expectJsonError(text(res), 413);
      await expectNothingLeft(key);
    });

    it('should answer a node:http PUT that crosses the limit while streaming with 413', async () => {
      const key = randomKey();
      const res = await send(`${suite.url}/files/${encodeKey(key)}`, {
        method: 'PUT',
        headers: { 'Transfer-Encoding': 'chunked' },
        body: Array.from({ length: 12 }, () => randomBytes(MiB)),
      });
      expectJsonError(text(res), 413);
      await expectNothingLeft(key);
    });

    it('should answer a fetch PUT declaring too many bytes with 413', async () => {
      const key = randomKey();
      const res = await fetch(`${suite.url}/files/${encodeKey(key)}`, { method: 'PUT', body: randomBytes(8 * MiB) });
      expectJsonError(await fetched(res), 413);
      await expectNothingLeft(key);
    });

    it('should answer a fetch PUT that crosses the limit while streaming with 413', async () => {
      const key = randomKey();
      const res = await fetch(`${suite.url}/files/${encodeKey(key)}`, {
        method: 'PUT',
        body: chunkedBody(12),
        duplex: 'half',
      });
      expectJsonError(await fetched(res), 413);
      await expectNothingLeft(key);
    });

    it('should answer a fetch form upload over the limit with 413', async () => {
      const key = randomKey();
      const form = new FormData();
      form.append('file', new Blob([randomBytes(8 * MiB)]), 'big.bin');
      const res = await fetch(`${suite.url}/files?key=${encodeURIComponent(key)}`, { method: 'POST', body: form });
      expectJsonError(await fetched(res), 413);
      await expectNothingLeft(key);
    });

    // Many clients (Python's requests, curl) read the answer only once their whole body is written: they must not
    // meet a reset first, however far over the limit the body goes (nginx's lingering close has no byte cap).
    it('should let a client that writes a declared 60 MiB first read the 413, every time', async () => {
      const chunk = randomBytes(MiB);
      for (let run = 0; run < 10; run++) {
        const head = `PUT /files/${randomKey()} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${60 * MiB}\r\n\r\n`;
        const { writeError, answer } = await writeAllThenRead(
          suite.port,
          head,
          Array.from({ length: 60 }, () => chunk),
        );
        expect(writeError).toBeUndefined();
        expectJsonError(answer, 413);
      }
    }, 60_000);

    it('should let a client that streams 300 MiB first read the 413', async () => {
      const key = randomKey();
      const head = `PUT /files/${encodeKey(key)} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n`;
      const chunk = randomBytes(MiB);
      const started = Date.now();
      const { writeError, answer } = await writeAllThenRead(
        suite.port,
        head,
        Array.from({ length: 300 }, () => chunk),
        {
          chunked: true,
        },
      );
      expect(writeError).toBeUndefined();
      expectJsonError(answer, 413);
      expect(Date.now() - started).toBeLessThan(30_000);
      await expectNothingLeft(key);
    }, 60_000);
  });

  describe('lingering after an early answer (nginx lingering_time, lingering_timeout)', () => {
    const LINGERING = { timeMs: 3000, timeoutMs: 1000 };
    const head = () => `PUT /files/${randomKey()} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${1024 ** 4}\r\n\r\n`;

    const lingering = suite.withApp({
      env: { MAX_UPLOAD_BYTES: String(LIMIT) },
      tuning: { requestBodies: { lingering: LINGERING } },
    });

    /** How long after it was accepted the server closes the next connection. */
    const nextClose = () =>
      new Promise<number>((resolve) => {
        lingering.app.getHttpServer().once('connection', (socket: Socket) => {
          const accepted = Date.now();
          socket.once('close', () => resolve(Date.now() - accepted));
        });
      });

    it('should close a connection whose client keeps writing once the lingering time is up', async () => {
      const closed = nextClose();
      const { answer } = await rawUntilClosed(lingering.port, head(), {
        tick: { data: Buffer.alloc(64 * 1024), everyMs: 5 },
        until: 'close',
      });
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
      expect(await closed).toBeGreaterThanOrEqual(LINGERING.timeMs);
      expect(await closed).toBeLessThan(LINGERING.timeMs + 1500);
    });

    it('should close a connection whose client stops writing after the lingering timeout', async () => {
      const closed = nextClose();
      const { answer } = await rawUntilClosed(lingering.port, head(), {
        tick: { data: Buffer.alloc(64 * 1024), everyMs: 5, forMs: 500 },
        until: 'close',
        guardMs: 6000,
      });
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
      expect(await closed).toBeGreaterThanOrEqual(500 + LINGERING.timeoutMs - 100);
      expect(await closed).toBeLessThan(500 + LINGERING.timeoutMs + 1200);
    });
  });

  describe('idle request bodies', () => {
    const put = (key: string, length: number) =>
      `PUT /files/${encodeKey(key)} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${length}\r\n\r\n`;

    it('should close a PUT that sends nothing after its headers', async () => {
      const key = randomKey();
      const { afterMs } = await rawUntilClosed(suite.port, put(key, 100));
      expect(afterMs).toBeGreaterThanOrEqual(IDLE_MS);
      expect(afterMs).toBeLessThan(IDLE_MS * 4);
      await expectNothingLeft(key);
    });

    it('should close a PUT that sends a byte every 2 idle periods', async () => {
      const key = randomKey();
      const { afterMs } = await rawUntilClosed(suite.port, put(key, 100), {
        tick: { data: Buffer.from('x'), everyMs: IDLE_MS * 2 },
      });
      expect(afterMs).toBeLessThan(IDLE_MS * 4);
      await expectNothingLeft(key);
    });

    it.each(['PUT', 'POST'])('should abort a %s that goes idle after a part was sent to S3', async (method) => {
      const key = randomKey();
      const form = multipartBody({ key }, [{ name: 'file', fileName: 'a.bin', data: Buffer.alloc(0) }]);
      const head =
        method === 'PUT'
          ? put(key, 5.5 * MiB)
          : `POST /files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${form.contentType}\r\n` +
            `Content-Length: ${5.5 * MiB}\r\n\r\n`;
      const start = method === 'PUT' ? [] : [form.parts[0], form.parts[1]];
      const socket: Socket = connect(suite.port, '127.0.0.1');
      socket.on('error', () => undefined);
      const answer: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => answer.push(chunk));
      await once(socket, 'connect');
      socket.write(Buffer.concat([Buffer.from(head), ...start, randomBytes(5.2 * MiB)]));
      await eventually(async () => (await listMultipartUploads(suite.s3.s3, suite.s3.bucket, key)).length === 1);
      await Promise.race([once(socket, 'close'), sleep(IDLE_MS * 6).then(() => socket.destroy(new Error('open')))]);
      expect(socket.errored).toBeNull();
      expect(Buffer.concat(answer).toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
      await expectNothingLeft(key);
    });

    it('should keep a slow body that never stays idle for a whole period', async () => {
      const key = randomKey();
      const res = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${suite.url}/files/${encodeKey(key)}`, {
          method: 'PUT',
          headers: { 'Content-Length': 12 },
        });
        req.on('response', (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        });
        req.on('error', reject);
        let sent = 0;
        const timer = setInterval(() => {
          req.write('x');
          if (++sent === 12) {
            clearInterval(timer);
            req.end();
          }
        }, IDLE_MS / 5);
      });
      expect(res).toBe(201);
    });
  });

  describe('connections', () => {
    const limited = suite.withApp({ tuning: { maxConnections: 3 } });

    it('should keep nothing of a request on its keep-alive connection once answered', async () => {
      const server = suite.app.getHttpServer();
      const sockets: Socket[] = [];
      const track = (socket: Socket) => sockets.push(socket);
      server.on('connection', track);
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const upload = async (i: number) => {
          const form = multipartBody({}, [{ name: 'file', fileName: `${i}.txt`, data: Buffer.from(`form ${i}`) }]);
          const answers = await Promise.all([
            fetchWith(agent, `${suite.url}/files/${encodeKey(randomKey(`${i}.bin`))}`, 'PUT', Buffer.from(`put ${i}`), {
              'content-type': 'application/octet-stream',
            }),
            fetchWith(
              agent,
              `${suite.url}/files?key=${encodeURIComponent(randomKey(`${i}.txt`))}`,
              'POST',
              Buffer.concat(form.parts),
              {
                'content-type': form.contentType,
              },
            ),
          ]);
          expect(answers).toEqual([201, 201]);
        };
        await upload(0);
        expect(sockets).toHaveLength(1);
        const listenersOf = (socket: Socket) =>
          Object.fromEntries(socket.eventNames().map((name) => [String(name), socket.listenerCount(name)]));
        const listeners = listenersOf(sockets[0]);
        for (let i = 1; i <= 20; i++) {
          await upload(i);
        }
        // One connection for all 42 uploads, with as many listeners as after the first two.
        expect(sockets).toHaveLength(1);
        expect(listenersOf(sockets[0])).toEqual(listeners);
      } finally {
        server.off('connection', track);
        agent.destroy();
      }
    });

    it('should refuse connections beyond the connection limit and serve again once one closes', async () => {
      const open = await Promise.all(
        [1, 2, 3].map(async () => {
          const socket = connect(limited.port, '127.0.0.1');
          socket.on('error', () => undefined);
          await once(socket, 'connect');
          return socket;
        }),
      );
      await sleep(100);
      const refused = await rawUntilClosed(limited.port, 'GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      expect(refused.answer).toBe('');
      open[0].destroy();
      await sleep(100);
      const served = await rawUntilClosed(
        limited.port,
        'GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
      );
      expect(served.answer).toMatch(/^HTTP\/1\.1 200 /);
      open.forEach((s) => s.destroy());
    });
  });
});
