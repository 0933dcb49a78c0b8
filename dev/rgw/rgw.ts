/**
 * A throwaway single-node Ceph cluster serving S3 on loopback: one ceph-mon, one ceph-osd on memstore (data in RAM,
 * capped), and radosgw (beast frontend), with auth off and pools of size 1, in a fresh temporary folder. No ceph-mgr.
 * Development and tests only; needs the Debian packages ceph-mon, ceph-osd, radosgw and ceph-common.
 *
 * Self-contained (Node built-ins and the AWS SDK only) so that jest tests import it and Node runs it directly.
 */
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RgwOptions {
  /** memstore's capacity: the most object data the cluster holds (default 2 GiB). The OSD's RSS grows by about
   *  twice the bytes stored. */
  memoryBytes?: number;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Port of the S3 endpoint on 127.0.0.1 (default: a free one). */
  port?: number;
  startTimeoutMs?: number;
}

export interface Rgw {
  /** `http://127.0.0.1:<port>`, path-style. */
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  /** The cluster's data, config and logs (removed by `stop()`). */
  directory: string;
  /** The daemons started, by name. */
  pids: Record<string, number>;
  /** Ends exactly the daemons it started (SIGTERM, then SIGKILL) and removes the data folder. */
  stop(): Promise<void>;
}

const GiB = 1024 ** 3;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The one key of RGW's test KMS. */
export const RGW_TEST_KMS_KEY_ID = 'testkey-1';

function config(dir: string, fsid: string, monPort: number, rgwPort: number, memoryBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
# A shared machine's disk may be fuller than the monitor's default 5 % floor, at which it would shut itself down.
mon data avail crit = 0
mon data avail warn = 0
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
[mon.a]
mon data = ${dir}/mon
[osd.0]
osd data = ${dir}/osd
osd objectstore = memstore
memstore device bytes = ${memoryBytes}
[client]
# With auth off, clients must not ask the monitor for secure mode, or radosgw retries authentication forever (-13).
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
rgw enable usage log = false
# Deleted and overwritten objects' data is freed by garbage collection, by default 2 h later: memstore would fill.
rgw gc obj min wait = 60
rgw gc processor period = 30
# SSE-KMS over plain HTTP with RGW's built-in test key store (never for production): S3_SSE=aws:kms with
# S3_SSE_KMS_KEY_ID=${RGW_TEST_KMS_KEY_ID} encrypts for real. RGW 16 has no SSE-S3 (AES256).
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = ${RGW_TEST_KMS_KEY_ID}=${Buffer.alloc(32, 7).toString('base64')}
`;
}

export async function startRgw(options: RgwOptions = {}): Promise<Rgw> {
  const {
    memoryBytes = 2 * GiB,
    accessKeyId = 'rgw-access-key',
    secretAccessKey = 'rgw-secret-key',
    startTimeoutMs = 60_000,
  } = options;
  const dir = await mkdtemp(path.join(tmpdir(), 'rgw-'));
  const conf = path.join(dir, 'ceph.conf');
  const daemons: { name: string; child: ChildProcess; exited: Promise<void> }[] = [];

  // Kills what is still running, synchronously, if this process ends without calling stop() (an uncaught error).
  const onExit = (): void => {
    for (const { child } of daemons) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      process.removeListener('exit', onExit);
      // In reverse order of start: radosgw and the OSD shut down slowly without the monitor.
      for (const { child, exited } of [...daemons].reverse()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    })());

  const daemon = async (name: string, command: string, args: string[]): Promise<void> => {
    const out = await open(path.join(dir, 'log', `${name}.out`), 'a');
    const child = spawn(command, ['-f', '-c', conf, ...args], { stdio: ['ignore', out.fd, out.fd] });
    await out.close();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('error', () => undefined);
    daemons.push({ name, child, exited });
  };
  const ceph = (...args: string[]) => run('ceph', ['-c', conf, '--connect-timeout', '10', ...args]);

  try {
    const deadline = Date.now() + startTimeoutMs;
    const [monPort, rgwPort] = [await freePort(), options.port ?? (await freePort())];
    const fsid = randomUUID();
    await Promise.all(['mon', 'osd', 'run', 'log', 'rgw'].map((sub) => mkdir(path.join(dir, sub))));
    await writeFile(conf, config(dir, fsid, monPort, rgwPort, memoryBytes));

    const monmap = path.join(dir, 'monmap');
    await run('monmaptool', ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, monmap]);
    await run('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', monmap]);
    await daemon('mon.a', 'ceph-mon', ['-i', 'a']);

    const osdUuid = randomUUID();
    await ceph('osd', 'new', osdUuid, '0');
    await run('ceph-osd', ['-c', conf, '--mkfs', '-i', '0', '--osd-uuid', osdUuid]);
    await daemon('osd.0', 'ceph-osd', ['-i', '0']);
    await daemon('client.rgw', 'radosgw', ['-n', 'client.rgw']);

    const endpoint = `http://127.0.0.1:${rgwPort}`;
    // radosgw answers once it has created its pools; the user is created after that (it writes to them too).
    await until(deadline, daemons, async () => {
      const res = await fetch(endpoint);
      await res.arrayBuffer();
      return res.ok;
    });
    await run('radosgw-admin', [
      ...['-c', conf, '-n', 'client.admin', 'user', 'create', '--uid', 'test', '--display-name', 'test'],
      ...['--access-key', accessKeyId, '--secret', secretAccessKey],
    ]);
    const s3 = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
    });
    try {
      await until(
        deadline,
        daemons,
        async () => (await s3.send(new ListBucketsCommand({}))).$metadata.httpStatusCode === 200,
      );
    } finally {
      s3.destroy();
    }
    const pids = Object.fromEntries(daemons.map(({ name, child }) => [name, child.pid ?? -1]));
    return { endpoint, port: rgwPort, accessKeyId, secretAccessKey, directory: dir, pids, stop };
  } catch (err) {
    const logs = await Promise.all(
      daemons.map(async ({ name }) => {
        const text = await readFile(path.join(dir, 'log', `${name}.log`), 'utf8').catch(() => '');
        return `--- ${name}.log (end)\n${text.split('\n').slice(-15).join('\n')}`;
      }),
    );
    await stop();
    throw new Error(`Ceph RGW did not start: ${(err as Error).message}\n${logs.join('\n')}`, { cause: err });
  }
}

/** Polls `check` until it holds; fails at `deadline` or as soon as one of the daemons has exited. */
async function until(
  deadline: number,
  daemons: { name: string; child: ChildProcess }[],
  check: () => Promise<boolean>,
): Promise<void> {
  for (;;) {
    const dead = daemons.find(({ child }) => child.exitCode !== null || child.signalCode !== null);
    if (dead) {
      throw new Error(`${dead.name} exited (${dead.child.signalCode ?? `code ${dead.child.exitCode}`})`);
    }
    if (await check().catch(() => false)) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error('timed out');
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
