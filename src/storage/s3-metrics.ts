import type { S3Client } from '@aws-sdk/client-s3';
import type { Metrics } from '../metrics/metrics.js';
import { toStorageError } from './storage.errors.js';

/** As the SDK's retry middleware counts them. */
const attemptsOf = (value: unknown): number =>
  (value as { $metadata?: { attempts?: number } } | undefined)?.$metadata?.attempts ?? 1;

const operations = new Map<string, string>();

/** `PutObjectCommand` → `PutObject`, computed once per command. */
function operationName(commandName = 'Unknown'): string {
  let name = operations.get(commandName);
  if (name === undefined) {
    name = commandName.replace(/Command$/, '');
    operations.set(commandName, name);
  }
  return name;
}

/** Counts and times every call, retries included; outcome `success` or a StorageError code (bounded labels). */
export function instrumentS3Client(client: S3Client, metrics: Metrics): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const start = performance.now();
      const operation = operationName(context.commandName);
      try {
        const result = await next(args);
        metrics.recordS3(operation, 'success', (performance.now() - start) / 1000, attemptsOf(result.output));
        return result;
      } catch (error) {
        metrics.recordS3(operation, toStorageError(error).code, (performance.now() - start) / 1000, attemptsOf(error));
        throw error;
      }
    },
    { step: 'initialize', name: 'serviceMetrics', priority: 'high' },
  );
}
