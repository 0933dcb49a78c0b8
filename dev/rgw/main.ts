/**
 * npm run dev:rgw -- [--bucket files] [--memory-gib 2] [--port N] [--access-key K] [--secret S]
 *
 * Starts a throwaway Ceph RGW on 127.0.0.1 with one bucket, prints its endpoint and keys (and the service's
 * environment for it), and stops it, removing its data, on Ctrl-C.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { parseArgs } from 'node:util';
import { startRgw } from './rgw.ts';

const { values } = parseArgs({
  options: {
    bucket: { type: 'string', default: 'files' },
    'memory-gib': { type: 'string', default: '2' },
    port: { type: 'string' },
    'access-key': { type: 'string' },
    secret: { type: 'string' },
  },
});

const started = Date.now();
const rgw = await startRgw({
  memoryBytes: Math.round(Number(values['memory-gib']) * 1024 ** 3),
  port: values.port === undefined ? undefined : Number(values.port),
  accessKeyId: values['access-key'],
  secretAccessKey: values.secret,
});
const s3 = new S3Client({
  endpoint: rgw.endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
});
await s3.send(new CreateBucketCommand({ Bucket: values.bucket }));
s3.destroy();
console.log(`Ceph RGW ready in ${((Date.now() - started) / 1000).toFixed(1)} s (data in ${rgw.directory})
  endpoint           ${rgw.endpoint}
  access key         ${rgw.accessKeyId}
  secret key         ${rgw.secretAccessKey}
  daemons (pid)      ${Object.entries(rgw.pids)
    .map(([name, pid]) => `${name} ${pid}`)
    .join(', ')}

  bucket             ${values.bucket}

The service against it:
  S3_ENDPOINT=${rgw.endpoint} S3_FORCE_PATH_STYLE=true S3_BUCKET=${values.bucket} \\
  AWS_ACCESS_KEY_ID=${rgw.accessKeyId} AWS_SECRET_ACCESS_KEY=${rgw.secretAccessKey} npm start

Ctrl-C stops it.`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log('\nStopping Ceph RGW...');
    void rgw.stop().then(() => process.exit(0));
  });
}
