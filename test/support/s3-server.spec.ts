import { PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Suite } from './app.js';
import { objectExists, testBackend, type TestS3Server } from './s3-server.js';

/** "Nothing was stored" assertions rest on objectExists: false must mean "no such key", never "S3 did not answer". */
describe(`${objectExists.name} (against ${testBackend()})`, () => {
  const suite = s3Suite();
  let s3: TestS3Server;

  beforeAll(async () => {
    s3 = suite.s3;
    await s3.s3.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'here.txt', Body: 'x' }));
  });

  it('should say true for a stored key and false for a missing one', async () => {
    expect(await objectExists(s3.s3, s3.bucket, 'here.txt')).toBe(true);
    expect(await objectExists(s3.s3, s3.bucket, 'not-here.txt')).toBe(false);
  });

  it('should throw, not answer false, when S3 cannot be reached', async () => {
    await s3.halt();
    try {
      await expect(objectExists(s3.s3, s3.bucket, 'not-here.txt')).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      await s3.restart();
    }
  });
});
