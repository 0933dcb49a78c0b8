import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppConfig } from '../config/app-config.js';
import { requestLogOptions } from './logging.module.js';
import { wireBytes } from '../http/wire-bytes.js';

describe(requestLogOptions.name, () => {
  const serialize = requestLogOptions({ logLevel: 'info' } as AppConfig).serializers!.req as (req: object) => object;
  const req = (extra: object) =>
    ({
      id: 'r1',
      method: 'GET',
      url: '/files/public/a.png?download=1',
      headers: { authorization: 'Bearer a-secret-api-key-0123456789' },
      ...extra,
    }) as unknown as IncomingMessage;

  it('should mark a read without an API key, and never log headers or the query string', () => {
    expect(serialize(req({ anonymous: true }))).toEqual({
      id: 'r1',
      method: 'GET',
      path: '/files/public/a.png',
      anonymous: true,
    });
    expect(serialize(req({ publicRead: true }))).toMatchObject({ anonymous: true });
    expect(serialize(req({}))).toEqual({ id: 'r1', method: 'GET', path: '/files/public/a.png' });
  });
});

describe('request line levels', () => {
  const exchange = (url: string, statusCode: number) => {
    const socket = { bytesRead: 120, bytesWritten: 480 };
    return {
      req: { url, method: 'GET', socket } as unknown as IncomingMessage,
      res: { statusCode } as ServerResponse,
      socket,
    };
  };
  const levelAt = (logLevel: string, url: string, statusCode: number) => {
    const { req, res } = exchange(url, statusCode);
    const customLogLevel = requestLogOptions({ logLevel } as AppConfig).customLogLevel!;
    return customLogLevel(req, res, undefined);
  };

  it('should write a line only at or above LOG_LEVEL, health checks at debug unless they fail', () => {
    expect(levelAt('info', '/files/a', 200)).toBe('info');
    expect(levelAt('warn', '/files/a', 200)).toBe('silent');
    expect(levelAt('warn', '/files/a', 404)).toBe('warn');
    expect(levelAt('warn', '/files/a', 503)).toBe('error');
    expect(levelAt('info', '/health/', 200)).toBe('silent');
    expect(levelAt('debug', '/health/', 200)).toBe('debug');
    expect(levelAt('info', '/health/', 503)).toBe('warn');
    expect(levelAt('silent', '/files/a', 500)).toBe('silent');
  });

  it("should settle an unlogged exchange's bytes, so the next on its connection counts only its own", () => {
    const { req, res, socket } = exchange('/files/a', 200);
    requestLogOptions({ logLevel: 'warn' } as AppConfig).customLogLevel!(req, res, undefined);
    socket.bytesRead += 1000;
    socket.bytesWritten += 5000;
    expect(wireBytes(req, res)).toEqual({ bytesIn: 120, bytesOut: 480 });
    const next = {
      req: { url: '/files/b', method: 'GET', socket } as unknown as IncomingMessage,
      res: {} as ServerResponse,
    };
    expect(wireBytes(next.req, next.res)).toEqual({ bytesIn: 1000, bytesOut: 5000 });
  });
});
