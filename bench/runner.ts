import type { DirectClient } from './direct-client.ts';
import { ProcessMeter, SelfMeter } from './meter.ts';
import { checkDigest, MiB } from './payload.ts';
import type { ServiceProcess } from './processes.ts';
import type { InspectorProfiler } from './profiler.ts';
import { postForm, putRaw, type Sample, type Scenario, type Targets } from './scenarios.ts';
import type { ServiceClient } from './service-client.ts';

/** A service under test: its process, a client, and optionally a CPU profiler attached to it. */
export interface ServiceTarget {
  readonly process: ServiceProcess;
  readonly client: ServiceClient;
  readonly profiler?: InspectorProfiler;
}

export interface Runs {
  readonly target: string;
  readonly samples: Sample[];
  /** Per run; services only. */
  readonly cpuSeconds: number[];
  readonly peakRssMiB: (number | null)[];
  /** The S3 server's and the load generator's CPU time per run. */
  readonly s3CpuSeconds: number[];
  readonly clientCpuSeconds: number[];
}

export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly targets: Targets;
  readonly runs: Runs[];
}

export interface MemoryRow {
  /** The process measured (`service`, `floor`, `baseline`). */
  readonly target: string;
  readonly operation: 'idle' | 'PUT' | 'POST form' | 'GET';
  readonly sizeMiB: number;
  readonly peakRssMiB: number | null;
  readonly cpuSeconds: number;
  readonly mibPerSecond: number;
}

/** Starts fresh service processes (one per build under test), each with a client and an optional profiler. */
export type Launch = () => Promise<ServiceTarget[]>;

export interface RunnerOptions {
  readonly launch: Launch;
  readonly direct: DirectClient;
  readonly s3Pid: number | undefined;
  readonly rounds: number;
  /** SHA-256 checks queued by the scenarios, run between measurements. */
  readonly pendingChecks: (() => Promise<void>)[];
  /** A few requests after each start, so the measured runs do not pay for module loading and JIT warm-up. */
  readonly warmUp: (client: ServiceClient) => Promise<void>;
  /** Called with each profile taken (scenario id, service name). */
  readonly onProfile?: (scenario: string, service: string, profile: unknown) => Promise<void>;
  readonly log: (line: string) => void;
}

interface Target {
  readonly name: string;
  readonly meter?: ProcessMeter;
  readonly service?: ServiceTarget;
  run(scenario: Scenario, round: number): Promise<Sample>;
}

async function launchWarm(options: RunnerOptions): Promise<ServiceTarget[]> {
  const services = await options.launch();
  for (const service of services) {
    await options.warmUp(service.client);
  }
  return services;
}

async function shutdown(services: readonly ServiceTarget[]): Promise<void> {
  for (const service of services) {
    service.profiler?.close();
    service.client.close();
    await service.process.stop();
  }
}

/**
 * Runs every scenario for `rounds` rounds; in each round every target runs once, the order rotating per round.
 * Each scenario gets freshly started services, so its peak RSS is its own and not what an earlier scenario left.
 */
export async function runScenarios(scenarios: readonly Scenario[], options: RunnerOptions): Promise<ScenarioResult[]> {
  const s3Meter = options.s3Pid === undefined ? undefined : new ProcessMeter(options.s3Pid);
  const self = new SelfMeter();
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    options.log(`${scenario.title}: setting up`);
    await scenario.setup?.();
    await drain(options.pendingChecks);
    const services = await launchWarm(options);
    try {
      const targets: Target[] = [
        ...services
          .filter((service) => !(scenario.withoutFloor && service.process.name === 'floor'))
          .map((service) => ({
            name: service.process.name,
            meter: new ProcessMeter(service.process.pid),
            service,
            run: (s: Scenario, round: number) => s.service(service.client, round),
          })),
        { name: 'direct', run: (s: Scenario, round: number) => s.direct(options.direct, round) },
      ];
      const runs = new Map<string, Runs>(
        targets.map((t) => [
          t.name,
          { target: t.name, samples: [], cpuSeconds: [], peakRssMiB: [], s3CpuSeconds: [], clientCpuSeconds: [] },
        ]),
      );
      for (const service of services) {
        await service.profiler?.start();
      }
      for (let round = 0; round < options.rounds; round++) {
        for (let i = 0; i < targets.length; i++) {
          const target = targets[(round + i) % targets.length];
          const recorded = runs.get(target.name)!;
          target.meter?.start();
          s3Meter?.start();
          self.reset();
          const sample = await target.run(scenario, round);
          const clientCpu = self.read();
          const s3Usage = s3Meter?.stop();
          const usage = target.meter?.stop();
          target.service?.process.assertAlive();
          recorded.samples.push(sample);
          recorded.clientCpuSeconds.push(clientCpu);
          recorded.s3CpuSeconds.push(s3Usage?.cpuSeconds ?? NaN);
          if (usage) {
            recorded.cpuSeconds.push(usage.cpuSeconds);
            recorded.peakRssMiB.push(usage.peakRssMiB);
          }
          options.log(`${scenario.title}: round ${round + 1}/${options.rounds} ${target.name} ${describe(sample)}`);
          await drain(options.pendingChecks);
        }
      }
      for (const service of services) {
        const profile = await service.profiler?.stop();
        if (profile) {
          await options.onProfile?.(scenario.id, service.process.name, profile);
        }
      }
      results.push({
        id: scenario.id,
        title: scenario.title,
        unit: scenario.unit,
        targets: scenario.targets,
        runs: [...runs.values()],
      });
    } finally {
      await shutdown(services);
    }
  }
  return results;
}

/**
 * Idle RSS after warm-up, then peak RSS over uploads and downloads of growing size, for every process under test:
 * memory must not grow with the file. Every transfer gets freshly started processes, so each peak starts from the
 * same baseline.
 */
export async function profileMemory(options: RunnerOptions, sizes: readonly number[]): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  const measure = async (
    operation: MemoryRow['operation'],
    size: number,
    run: (client: ServiceClient) => Promise<void>,
  ) => {
    const services = await launchWarm(options);
    try {
      for (const service of services) {
        const meter = new ProcessMeter(service.process.pid);
        meter.start();
        const start = performance.now();
        await run(service.client);
        const seconds = (performance.now() - start) / 1000;
        const usage = meter.stop();
        service.process.assertAlive();
        const row = {
          target: service.process.name,
          operation,
          sizeMiB: size / MiB,
          peakRssMiB: usage.peakRssMiB,
          cpuSeconds: usage.cpuSeconds,
          mibPerSecond: size / MiB / seconds,
        };
        options.log(
          `memory: ${row.target} ${operation} ${row.sizeMiB} MiB, peak RSS ${row.peakRssMiB?.toFixed(1)} MiB`,
        );
        rows.push(row);
      }
    } finally {
      await shutdown(services);
    }
  };
  // Idle: what the process holds between requests once warm (a collection has had time to run).
  await measure('idle', 0, () => new Promise((resolve) => setTimeout(resolve, 3000)));
  for (const size of sizes) {
    const key = (client: ServiceClient) => `memory/${client.name}/${size / MiB}.bin`;
    await measure('PUT', size, (client) => putRaw(client, key(client), size));
    await measure('GET', size, async (client) =>
      checkDigest(`GET ${key(client)}`, await client.download(key(client)), size),
    );
    await measure('POST form', size, (client) => postForm(client, key(client), size));
    for (const row of rows.filter((r) => r.operation === 'POST form' && r.sizeMiB === size / MiB)) {
      const stored = `memory/${row.target}/${size / MiB}.bin`;
      checkDigest(`POST ${stored}`, await options.direct.download(stored), size);
    }
  }
  return rows;
}

async function drain(checks: (() => Promise<void>)[]): Promise<void> {
  for (let check = checks.shift(); check; check = checks.shift()) {
    await check();
  }
}

function describe(sample: Sample): string {
  const latency =
    sample.p99Ms === undefined ? '' : ` (p50 ${sample.p50Ms?.toFixed(1)} ms, p99 ${sample.p99Ms.toFixed(1)} ms)`;
  return `${sample.value.toFixed(1)}${latency}`;
}
