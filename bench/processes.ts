import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { devS3ServiceEnv } from '../dev/s3-client.ts';
import { startServiceProcess, type ServiceProcess as RunningService } from '../dev/service-process.ts';

export interface ServiceOptions {
  /** Names the service in the report (`service`, or `baseline` for a comparison build). */
  readonly name: string;
  /** The compiled entry point, e.g. `dist/main.js`. */
  readonly mainJs: string;
  /** Working directory (a scratch folder, so no developer `.env` is picked up); the service's log goes there. */
  readonly cwd: string;
  readonly s3Endpoint: string;
  readonly bucket: string;
  /** Extra service environment (e.g. `UPLOAD_PART_SIZE`). */
  readonly env: Readonly<Record<string, string>>;
  /** Extra Node options (e.g. `--max-semi-space-size=4`). */
  readonly nodeOptions: readonly string[];
  /** Open the inspector on a loopback port (CPU profiling). */
  readonly inspect: boolean;
}

export interface ServiceProcess {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  readonly apiKey: string;
  /** `ws://127.0.0.1:…` when started with `inspect`. */
  readonly inspectorUrl?: string;
  /** The last lines the service printed. */
  output(): string;
  /** Throws if the process has exited. */
  assertAlive(): void;
  stop(): Promise<void>;
}

const running = new Set<RunningService>();
// If the bench dies (an error, Ctrl-C, a CI timeout), its services must not outlive it holding ports.
process.on('exit', () => running.forEach((service) => service.kill('SIGKILL')));

/** Starts the compiled service in production mode on a free loopback port. */
export async function startService(options: ServiceOptions): Promise<ServiceProcess> {
  const apiKey = randomBytes(24).toString('base64url');
  const service = await startServiceProcess({
    main: options.mainJs,
    cwd: options.cwd,
    env: {
      NODE_ENV: 'production',
      PORT: '0',
      ...devS3ServiceEnv(options.s3Endpoint, options.bucket),
      ALLOWED_HOSTS: '127.0.0.1,localhost',
      API_KEYS: apiKey,
      ...options.env,
    },
    nodeOptions: options.nodeOptions,
    inspect: options.inspect,
    // Into a file, as a log daemon would take it: a pipe the busy load generator drains late would slow the
    // service down (its logger writes synchronously) and skew what is measured.
    logFile: path.join(options.cwd, `${options.name}-${Date.now()}.log`),
  });
  running.add(service);
  let exit: string | undefined;
  void service.exited.then((code) => {
    running.delete(service);
    exit = `exited with ${typeof code === 'number' ? `code ${code}` : code}`;
  });
  return {
    name: options.name,
    url: service.url,
    pid: service.pid,
    apiKey,
    inspectorUrl: service.inspectorUrl,
    output: () => service.output().slice(-8000),
    assertAlive() {
      if (exit) {
        throw new Error(`the ${options.name} process ${exit}:\n${service.output().slice(-8000)}`);
      }
    },
    stop: () => service.stop(5_000),
  };
}
