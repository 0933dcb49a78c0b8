import type { S3Client } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import type { AppConfig } from '../config/app-config.js';
import { StorageError } from './storage.errors.js';
import { StorageService } from './storage.service.js';

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

const service = (client: S3Client) =>
  new StorageService(client, { s3: { bucket: 'b', prefix: 'tenant/' } } as AppConfig, client);

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

  it('should turn any cursor it did not issue into InvalidInput or a string token, never another error', async () => {
    const forged = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
      fc
        .record({ t: fc.anything(), p: fc.constantFrom('', 'x'), d: fc.constantFrom('', '/') })
        .map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
    );
    await fc.assert(
      fc.asyncProperty(forged, async (cursor) => {
        const { client, tokens } = pagingClient(() => 'next');
        try {
          await service(client).list({ limit: 10, cursor });
        } catch (error) {
          expect(error).toBeInstanceOf(StorageError);
          expect((error as StorageError).code).toBe('InvalidInput');
          expect(tokens).toEqual([]);
          return;
        }
        expect(typeof tokens[0]).toBe('string');
        expect(tokens[0]!.length).toBeGreaterThan(0);
      }),
      { numRuns: 1000 },
    );
  });
});
