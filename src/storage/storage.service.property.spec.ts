import type { S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { NO_CONDITIONAL_WRITES } from './backend-capabilities.js';
import { FixedCapabilities } from '../../test/support/fixed-capabilities.js';
import { S3Gateway } from './s3-gateway.js';
import { StorageService } from './storage.service.js';
import { testConfig } from '../../test/support/test-config.js';

/** An S3 client that answers every list with one more page and records the continuation tokens it is sent. */
function pagingClient(nextToken: () => string) {
  const tokens: (string | undefined)[] = [];
  const client = {
    send: (command: { input: { ContinuationToken?: string } }) => {
      tokens.push(command.input.ContinuationToken);
      return Promise.resolve({
        Contents: [],
        CommonPrefixes: [],
        IsTruncated: true,
        NextContinuationToken: nextToken(),
      });
    },
  };
  return { client: client as unknown as S3Client, tokens };
}

const service = (client: S3Client, cursorSecret = 's'.repeat(32), prefix = 'tenant/') => {
  const config = testConfig({ S3_PREFIX: prefix, SIGNING_SECRET: cursorSecret });
  return new StorageService(
    new S3Gateway(client, config),
    config,
    client,
    new FixedCapabilities(NO_CONDITIONAL_WRITES),
  );
};

describe(`${StorageService.name} list cursors (properties)`, () => {
  it('should hand S3 back exactly the token of a cursor it issued, for the same prefix and delimiter only', async () => {
    const prefix = fc.string({ maxLength: 20 });
    const delimiter = fc.constantFrom('', '/', '-');
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 200 }),
        prefix,
        delimiter,
        prefix,
        async (token, p, d, other) => {
          const { client, tokens } = pagingClient(() => token);
          const storage = service(client);
          const { nextCursor } = await storage.list({ prefix: p, delimiter: d, limit: 10 });
          await storage.list({ prefix: p, delimiter: d, limit: 10, cursor: nextCursor! });
          expect(tokens[1]).toBe(token);
          if (other !== p) {
            await expect(
              storage.list({ prefix: other, delimiter: d, limit: 10, cursor: nextCursor! }),
            ).rejects.toMatchObject({
              code: 'InvalidInput',
            });
          }
        },
      ),
    );
  });

  it('should refuse any cursor it did not issue with InvalidInput, never asking S3', async () => {
    const json = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const forged = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.jsonValue().map(json),
      fc.record({ t: fc.anything(), p: fc.constantFrom('', 'x'), d: fc.constantFrom('', '/') }).map(json),
      fc
        .tuple(fc.record({ t: fc.string({ minLength: 1 }), p: fc.constant(''), d: fc.constant('') }), fc.base64String())
        .map(([payload, mac]) => `${json(payload)}.${mac.replace(/=+$/, '')}`),
    );
    await fc.assert(
      fc.asyncProperty(forged, async (cursor) => {
        const { client, tokens } = pagingClient(() => 'next');
        await expect(service(client).list({ limit: 10, cursor })).rejects.toMatchObject({ code: 'InvalidInput' });
        expect(tokens).toEqual([]);
      }),
      { numRuns: 1000 },
    );
  });

  it('should accept the cursors of another instance with the same secret, bucket and prefix only', async () => {
    const { client, tokens } = pagingClient(() => 'token-1');
    const { nextCursor } = await service(client).list({ limit: 10 });
    await service(client).list({ limit: 10, cursor: nextCursor! });
    expect(tokens[1]).toBe('token-1');
    for (const other of [service(client, 't'.repeat(32)), service(client, 's'.repeat(32), 'other/')]) {
      await expect(other.list({ limit: 10, cursor: nextCursor! })).rejects.toMatchObject({ code: 'InvalidInput' });
    }
  });
});
