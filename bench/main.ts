/**
 * npm run bench -- [--quick] [--size 256MiB] [--rounds N] [--duration 10] [--only id,id] [--out file.json]
 *                  [--env KEY=VALUE]... [--node-option FLAG]... [--cpu-prof]
 *                  [--compare path/to/main.js] [--baseline-env KEY=VALUE]... [--baseline-node-option FLAG]...
 *
 * Starts the development S3 server (s3rver), the compiled service (production mode, loopback) and the floor (bare
 * node:http + busboy + the SDK, bench/floor-server.ts), then measures every scenario through the service, the floor
 * and directly against S3 with the AWS SDK, alternating, and prints medians, ratios and CPU per GiB / per request.
 * `--compare` and `--baseline-*` add a second service ("baseline": another build, or the same build with other
 * settings) measured in the same rounds, for before/after comparisons of a tuning change.
 * Fails only on real errors (a checksum mismatch, an HTTP error, a crash), never on a ratio.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { LocalS3Server } from '../dev/s3rver/local-s3.server.ts';
import { productionStart } from '../dev/service-process.ts';
import { DirectClient } from './direct-client.ts';
import { checkDigest, MiB, payloadSha256 } from './payload.ts';
import { startService } from './processes.ts';
import { type CpuProfile, hotSpots, InspectorProfiler } from './profiler.ts';
import { renderChart } from './chart.ts';
import { chartRows, checkTargets, renderReport, renderTables } from './report.ts';
import { type Launch, type MemoryRow, profileMemory, type RunnerOptions, runScenarios } from './runner.ts';
import { createScenarios, type Settings } from './scenarios.ts';
import { ServiceClient } from './service-client.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = path.join(root, 'bench/results');
const BUCKET = 'bench';
// The service's defaults (src/config/app-config.ts), which the direct baseline mirrors unless --env overrides them.
const DEFAULT_PART_SIZE = 8 * MiB;
const DEFAULT_QUEUE_SIZE = 2;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    size: { type: 'string' },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
    env: { type: 'string', multiple: true, default: [] },
    'node-option': { type: 'string', multiple: true, default: [] },
    'cpu-prof': { type: 'boolean', default: false },
    compare: { type: 'string' },
    'baseline-env': { type: 'string', multiple: true, default: [] },
    'baseline-node-option': { type: 'string', multiple: true, default: [] },
  },
});

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg])?(?:i?b)?$/i.exec(text.trim());
  if (!match) {
    throw new Error(`--size: expected a size such as 256MiB or 1GiB, got "${text}"`);
  }
  const unit = { k: 1024, m: MiB, g: 1024 * MiB }[(match[2] ?? 'm').toLowerCase() as 'k' | 'm' | 'g'];
  return Math.round(Number(match[1]) * unit);
}

const parseEnv = (pairs: string[]): Record<string, string> =>
  Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) {
        throw new Error(`expected KEY=VALUE, got "${pair}"`);
      }
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );

const settings: Settings = {
  quick: args.quick,
  size: parseSize(args.size ?? (args.quick ? '16MiB' : '256MiB')),
  rounds: Number(args.rounds ?? (args.quick ? 1 : 3)),
  durationMs: 1000 * Number(args.duration ?? (args.quick ? 1 : 10)),
  concurrentSize: (args.quick ? 8 : 64) * MiB,
  listKeys: args.quick ? 200 : 1000,
  memorySizes: (args.quick ? [8, 32] : [64, 256, 1024]).map((n) => n * MiB),
};
const only = args.only?.split(',').map((s) => s.trim());
const production = productionStart();
const productionEnvPairs = Object.entries(production.env).map(([name, value]) => `${name}=${value}`);
const serviceEnv = { ...production.env, ...parseEnv(args.env) };
const withBaseline =
  args.compare !== undefined || args['baseline-env'].length > 0 || args['baseline-node-option'].length > 0;
const nodeOptions = [...production.nodeOptions, ...args['node-option']];
const builds = [
  { name: 'service', mainJs: path.join(root, 'dist/main.js'), env: serviceEnv, nodeOptions },
  // Bare Node with the same S3 calls, settings and options: what the service's ratios are judged against.
  { name: 'floor', mainJs: path.join(root, 'bench/floor-server.ts'), env: serviceEnv, nodeOptions },
  ...(withBaseline
    ? [
        {
          name: 'baseline',
          mainJs: path.resolve(args.compare ?? path.join(root, 'dist/main.js')),
          env: { ...serviceEnv, ...parseEnv(args['baseline-env']) },
          nodeOptions: [...nodeOptions, ...args['baseline-node-option']],
        },
      ]
    : []),
];
const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 's3-file-service-bench-'));
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
  // Other work on the machine skews everything: the report says how busy it was.
  const loadBefore = loadAverage();
  const s3 = new LocalS3Server({ directory: path.join(scratch, 's3'), buckets: [BUCKET], cors: false });
  await s3.start();
  const direct = new DirectClient(s3.endpoint, BUCKET, {
    partSize: Number(serviceEnv.UPLOAD_PART_SIZE ?? DEFAULT_PART_SIZE),
    queueSize: Number(serviceEnv.UPLOAD_QUEUE_SIZE ?? DEFAULT_QUEUE_SIZE),
  });
  try {
    const launch: Launch = async () => {
      const services = [];
      for (const build of builds) {
        const service = await startService({
          ...build,
          cwd: scratch,
          s3Endpoint: s3.endpoint,
          bucket: BUCKET,
          inspect: args['cpu-prof'],
        });
        const profiler = service.inspectorUrl ? await InspectorProfiler.connect(service.inspectorUrl) : undefined;
        services.push({
          process: service,
          client: new ServiceClient(build.name, service.url, service.apiKey),
          profiler,
        });
      }
      return services;
    };
    const warmBody = randomBytes(4096);
    await direct.put('bench-warm-up/get.bin', warmBody, warmBody.length);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const hot: Record<string, ReturnType<typeof hotSpots>> = {};
    const pendingChecks: (() => Promise<void>)[] = [];
    const options: RunnerOptions = {
      launch,
      direct,
      s3Pid: s3.pid,
      rounds: settings.rounds,
      pendingChecks,
      log,
      async warmUp(client) {
        for (let i = 0; i < 20; i++) {
          await client.get('bench-warm-up/get.bin');
          await client.put(`bench-warm-up/${client.name}/${i % 2}.bin`, warmBody);
        }
      },
      async onProfile(scenario, service, profile) {
        const file = path.join(resultsDir, `${stamp}-${scenario}-${service}.cpuprofile`);
        await mkdir(resultsDir, { recursive: true });
        await writeFile(file, JSON.stringify(profile));
        hot[`${scenario} (${service})`] = hotSpots(profile as CpuProfile);
        log(`${scenario}: CPU profile of ${service} in ${path.relative(process.cwd(), file)}`);
      },
    };
    const scenarios = createScenarios({
      settings,
      direct,
      check: (key, size) =>
        pendingChecks.push(async () => checkDigest(`uploaded ${key}`, await direct.download(key), size)),
    }).filter((s) => !only || only.includes(s.id));
    [settings.size, settings.concurrentSize, ...settings.memorySizes].forEach(payloadSha256);

    const results = await runScenarios(scenarios, options);
    const memory: MemoryRow[] =
      only && !only.includes('memory') ? [] : await profileMemory(options, settings.memorySizes);
    const checks = checkTargets(
      results,
      memory,
      builds.map((b) => b.name),
    );

    const cpu = os.cpus();
    const machine = `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 1024 ** 3)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}, load average (1, 5, 15 min) ${loadBefore} at start and ${loadAverage()} at end`;
    const description = [
      `${settings.rounds} round(s)`,
      `large object ${settings.size / MiB} MiB`,
      `load runs ${settings.durationMs / 1000} s`,
      ...(settings.quick ? ['quick'] : []),
      ...builds.map((b) =>
        `${b.name}: ${path.relative(root, b.mainJs)} ${[...b.nodeOptions, ...productionEnvPairs, ...args.env].join(' ')}`.trim(),
      ),
      ...(withBaseline
        ? [`baseline extra: ${[...args['baseline-env'], ...args['baseline-node-option']].join(' ')}`]
        : []),
    ].join('; ');
    const date = new Date().toISOString();
    process.stdout.write(renderReport({ date, machine, description, results, memory, checks, hot }));

    const out = args.out ? path.resolve(args.out) : path.join(resultsDir, `bench-${stamp}.json`);
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(
      out,
      JSON.stringify({ date, machine, description, settings, results, memory, checks, profiles: hot }, null, 2),
    );
    log(`results written to ${path.relative(process.cwd(), out)}`);
    // A full run of the current build is the one bench/README.md shows: its table and chart replace the last ones.
    if (!settings.quick && !only && !withBaseline) {
      const rounds = `${settings.rounds} round${settings.rounds === 1 ? '' : 's'}`;
      const title = `service ÷ floor, ${date.slice(0, 10)} (${rounds}, medians)`;
      await writeFile(path.join(root, 'bench/latest.svg'), renderChart(title, chartRows(results)));
      // Formatted as `npm run lint` wants it, so the file can be committed as written.
      const latest = path.join(root, 'bench/latest.md');
      const markdown = renderLatest(date, machine, description, renderTables(results, memory, checks));
      await writeFile(latest, await format(markdown, { ...(await resolveConfig(latest)), filepath: latest }));
      log('bench/latest.md and bench/latest.svg written');
    }
  } finally {
    direct.close();
    await s3.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The 1, 5 and 15 minute load averages, as `/proc/loadavg` starts. */
function loadAverage(): string {
  return os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
}

function renderLatest(date: string, machine: string, description: string, tables: string): string {
  return [
    '# Latest bench run',
    '',
    `Written by \`npm run bench\` on ${date.replace('T', ' ').slice(0, 16)} UTC. Machine: ${machine}.`,
    '',
    `Settings: ${description}.`,
    '',
    '![service ÷ floor](latest.svg)',
    '',
    tables,
    '',
  ].join('\n');
}

// A hung transfer must not hang CI: the whole run is bounded (exit handlers stop the processes and clean up).
const limitMinutes = args.quick ? 5 : 45;
setTimeout(() => {
  log(`bench failed: not finished after ${limitMinutes} minutes`);
  process.exit(1);
}, limitMinutes * 60_000).unref();
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

main().catch((error: unknown) => {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
});
