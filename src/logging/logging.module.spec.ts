import type { IncomingMessage } from 'node:http';
import type { AppConfig } from '../config/app-config.js';
import { requestLogOptions } from './logging.module.js';

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
