import { S3Client } from '@aws-sdk/client-s3';

/** How the fake answers one command: an output, or an Error thrown as S3's. */
export type FakeAnswer = (input: Record<string, unknown>) => object;

/**
 * A real S3Client whose requests never leave the process: each command is answered by `answers` (by command name; a
 * list answers one call each, in order), to play faults no test server produces (an empty ETag from
 * CompleteMultipartUpload, as Ceph RGW sends; an error on the third call).
 */
export function fakeS3(answers: Record<string, FakeAnswer | FakeAnswer[]>) {
  const sent: { command: string; input: Record<string, unknown> }[] = [];
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    credentials: { accessKeyId: 'fake', secretAccessKey: 'fake' },
    maxAttempts: 1,
  });
  client.middlewareStack.add(
    (_next, context) => (args) => {
      const input = args.input as Record<string, unknown>;
      const command = context.commandName!;
      sent.push({ command, input });
      const answer = answers[command];
      const next = Array.isArray(answer) ? answer.shift() : answer;
      if (!next) {
        throw new Error(`unexpected ${command}`);
      }
      const output = next(input);
      if (output instanceof Error) {
        return Promise.reject(output);
      }
      return Promise.resolve({ output: { $metadata: {}, ...output }, response: {} });
    },
    { step: 'initialize', name: 'fakeS3' },
  );
  return { client, sent };
}
