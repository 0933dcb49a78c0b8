import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { devS3ServiceEnv } from '../dev/s3-client.ts';
import { productionStart, startServiceProcess, type ServiceProcess } from '../dev/service-process.ts';
import { eventually, s3Env } from './support/app.js';
import { ensureBuilt } from './support/built-service.js';
import { startS3Server, testCredentials, type TestS3Server } from './support/s3-server.js';

const START = fileURLToPath(new URL('../dev/start.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Gone, or a zombie waiting to be reaped: either way no longer running. */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return true;
  }
}

/** `npm start` after its `nest build`: `node dev/start.ts`, run like the service by the one harness. */
async function npmStart(cwd: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  return startServiceProcess({
    main: START,
    cwd,
    env: { HOME: cwd, AWS_CONFIG_FILE: path.join(cwd, 'none'), PORT: '0', LOG_LEVEL: 'info', ...env },
    startTimeoutMs: 60_000,
  });
}

/** The pids the launcher names once the service listens (on stderr, so maybe just after its "listening" line). */
async function pidOf(launcher: ServiceProcess, what: 'the service' | 's3rver'): Promise<number> {
  const pattern = new RegExp(`${what} \\(?pid (\\d+)`);
  await eventually(() => pattern.test(launcher.output()));
  return Number(pattern.exec(launcher.output())?.[1]);
}

describe('npm start (dev/start.ts, e2e)', () => {
  let cwd: string;

  beforeAll(async () => {
    await ensureBuilt();
  });

  beforeEach(async () => {
    cwd = await mkdtemp(path.join(tmpdir(), 'npm-start-'));
  });

  afterEach(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  describe('without S3_BUCKET', () => {
    let launcher: ServiceProcess;

    afterEach(async () => {
      await launcher?.stop();
    });

    it('should serve on a development S3 in .local-s3/, and stop both processes on SIGTERM', async () => {
      launcher = await npmStart(cwd);
      const [service, s3rver] = [await pidOf(launcher, 'the service'), await pidOf(launcher, 's3rver')];
      expect(launcher.output()).toMatch(/S3_BUCKET is not set: started a development S3 .*bucket "local-files"/);
      expect(service).toBeGreaterThan(0);
      expect(s3rver).toBeGreaterThan(0);

      expect((await fetch(`${launcher.url}/health/`)).status).toBe(200);
      const put = await fetch(`${launcher.url}/files/notes/a.txt`, { method: 'PUT', body: 'round trip' });
      expect(put.status).toBe(201);
      const get = await fetch(`${launcher.url}/files/notes/a.txt`);
      expect(await get.text()).toBe('round trip');
      expect(await readdir(path.join(cwd, '.local-s3'))).toContain('local-files');

      launcher.kill('SIGTERM');
      expect(await launcher.exited).toBe(0);
      await eventually(() => gone(service) && gone(s3rver), 5_000);
      expect(launcher.output()).toMatch(/"msg":"stopped"/);
    });

    it('should stop the development S3 and exit non-zero when the service dies', async () => {
      launcher = await npmStart(cwd);
      const s3rver = await pidOf(launcher, 's3rver');

      process.kill(await pidOf(launcher, 'the service'), 'SIGKILL');

      expect(await launcher.exited).toBe(1);
      await eventually(() => gone(s3rver), 5_000);
      expect(launcher.output()).toMatch(/the service stopped unexpectedly/);
    });

    it('should stop the service and exit non-zero when the development S3 dies', async () => {
      launcher = await npmStart(cwd);
      const service = await pidOf(launcher, 'the service');

      process.kill(await pidOf(launcher, 's3rver'), 'SIGKILL');

      expect(await launcher.exited).toBe(1);
      await eventually(() => gone(service), 15_000);
      expect(launcher.output()).toMatch(/the development S3 stopped unexpectedly/);
    });
  });

  describe('with a bad environment', () => {
    it.each([
      ['without S3_BUCKET (the development S3 first)', {}],
      ['with S3_BUCKET (the service alone)', { S3_BUCKET: 'my-bucket' }],
    ])('should print the problems once, without a stack trace, and exit 1, %s', async (_name, env) => {
      const child = spawn(process.execPath, [START], {
        cwd,
        env: { HOME: cwd, PATH: process.env.PATH, PORT: '0', MAX_UPLOAD_BYTES: '10MB', ...env },
      });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      const [code] = (await once(child, 'close')) as [number];
      expect(code).toBe(1);
      expect(output.match(/Invalid configuration/g)).toHaveLength(1);
      expect(output.match(/MAX_UPLOAD_BYTES/g)).toEqual(['MAX_UPLOAD_BYTES']);
      expect(output).toContain('MAX_UPLOAD_BYTES must be a whole number of bytes');
      expect(output).not.toMatch(/^\s+at /m);
    });
  });

  describe('with S3_BUCKET', () => {
    let s3: TestS3Server;
    let launcher: ServiceProcess;

    beforeAll(async () => {
      s3 = await startS3Server();
    });

    afterAll(async () => {
      await launcher?.stop();
      await s3?.stop();
    });

    it('should run the service alone, on the configured S3', async () => {
      launcher = await npmStart(cwd, devS3ServiceEnv(s3.endpoint, s3.bucket, testCredentials()));

      expect((await fetch(`${launcher.url}/health/`)).status).toBe(200);
      expect(launcher.output()).not.toMatch(/development S3/);
      expect(existsSync(path.join(cwd, '.local-s3'))).toBe(false);
    });
  });
});

describe('npm run start:prod (e2e)', () => {
  let s3: TestS3Server;
  let home: string;

  beforeAll(async () => {
    await ensureBuilt();
    s3 = await startS3Server();
    home = await mkdtemp(path.join(tmpdir(), 'start-prod-'));
  });

  afterAll(async () => {
    await s3?.stop();
    await rm(home, { recursive: true, force: true });
  });

  it("should run node in its shell's place with start:prod's environment, so npm's SIGTERM drains it", async () => {
    const npm = spawn('npm', ['run', '--silent', 'start:prod'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        AWS_CONFIG_FILE: path.join(home, 'none'),
        ...s3Env(s3.endpoint, s3.bucket, { LOG_LEVEL: 'info', PORT: '0' }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that a failed test can kill whatever npm started, a shell included.
      detached: true,
    });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await eventually(() => output.includes('listening on'), 30_000);
      // npm's one child is node itself: a shell in between would keep npm's signals from it.
      const children = readFileSync(`/proc/${npm.pid}/task/${npm.pid}/children`, 'utf8').trim().split(/\s+/);
      expect(children).toHaveLength(1);
      const service = Number(children[0]);
      const argv = readFileSync(`/proc/${service}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const { env, nodeOptions } = productionStart();
      expect(path.basename(argv[0])).toBe('node');
      expect(argv.slice(1)).toEqual([...nodeOptions, 'dist/main.js']);
      const environ = readFileSync(`/proc/${service}/environ`, 'utf8').split('\0');
      for (const [name, value] of Object.entries(env)) {
        expect(environ).toContain(`${name}=${value}`);
      }

      npm.kill('SIGTERM');
      await eventually(() => gone(service));
      expect(output).toMatch(/SIGTERM: draining/);
    } finally {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
      if (npm.exitCode === null && npm.signalCode === null) {
        await once(npm, 'exit');
      }
    }
  });
});
