import type { ChartRow } from './chart.ts';
import type { HotSpot } from './profiler.ts';
import type { MemoryRow, Runs, ScenarioResult } from './runner.ts';

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface TargetCheck {
  readonly what: string;
  readonly actual: number;
  readonly limit: string;
  readonly met: boolean;
}

const median = (values: readonly number[]): number => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) {
    return NaN;
  }
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export function summarize(values: readonly number[]): Summary {
  const finite = values.filter((v) => Number.isFinite(v));
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite) };
}

const peak = (runs: Runs): number | null => {
  const known = runs.peakRssMiB.filter((v): v is number => v !== null);
  return known.length ? Math.max(...known) : null;
};

const fmt = (value: number, digits?: number): string => {
  if (!Number.isFinite(value)) {
    return '–';
  }
  const places = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toFixed(places);
};

const range = (s: Summary): string => `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`;

const GiB = 1024 ** 3;
const FLOOR = 'floor';
const DIRECT = 'direct';

const valueOf = (runs: Runs): Summary => summarize(runs.samples.map((s) => s.value));

/** CPU seconds per GiB moved (transfers) or CPU milliseconds per request (load runs), median over the runs. */
function cpuPerUnit(runs: Runs): { value: number; unit: string } {
  const perRun = runs.samples.map((sample, i) => {
    const cpu = runs.cpuSeconds[i] ?? NaN;
    if (sample.bytes) {
      return cpu / (sample.bytes / GiB);
    }
    return sample.requests ? (1000 * cpu) / sample.requests : NaN;
  });
  return { value: summarize(perRun).median, unit: runs.samples[0]?.bytes ? 's/GiB' : 'ms/req' };
}

/** The processes under test other than the floor: `service`, and `baseline` when comparing. */
const servicesOf = (result: ScenarioResult): Runs[] =>
  result.runs.filter((r) => r.target !== FLOOR && r.target !== DIRECT);

/** Every target of issue 11 that this run can judge, service by service (reported, never failing the run). */
export function checkTargets(
  results: readonly ScenarioResult[],
  memory: readonly MemoryRow[],
  services: readonly string[],
): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const idle = (target: string) => memory.find((r) => r.target === target && r.operation === 'idle')?.peakRssMiB;
  for (const result of results) {
    const floor = result.runs.find((r) => r.target === FLOOR);
    const direct = result.runs.find((r) => r.target === DIRECT);
    for (const runs of servicesOf(result).filter((r) => services.includes(r.target))) {
      const label = `${runs.target}: ${result.title}`;
      const { directRatio, floorRatio, floorCpuRatio, peakRssMiB, peakOverIdleMiB } = result.targets;
      if (direct && directRatio !== undefined) {
        const ratio = valueOf(runs).median / valueOf(direct).median;
        checks.push({
          what: `${label}, ${result.unit} ÷ direct S3`,
          actual: ratio,
          limit: `≥ ${directRatio}`,
          met: ratio >= directRatio,
        });
      }
      if (floor && floorRatio !== undefined) {
        const ratio = valueOf(runs).median / valueOf(floor).median;
        checks.push({
          what: `${label}, ${result.unit} ÷ floor`,
          actual: ratio,
          limit: `≥ ${floorRatio}`,
          met: ratio >= floorRatio,
        });
      }
      if (floor && floorCpuRatio !== undefined) {
        const cpu = cpuPerUnit(runs);
        const ratio = cpu.value / cpuPerUnit(floor).value;
        checks.push({
          what: `${label}, CPU ${cpu.unit} ÷ floor`,
          actual: ratio,
          limit: `≤ ${floorCpuRatio}`,
          met: ratio <= floorCpuRatio,
        });
      }
      const rss = peak(runs);
      if (rss !== null && peakRssMiB !== undefined) {
        checks.push({ what: `${label}, peak RSS MiB`, actual: rss, limit: `≤ ${peakRssMiB}`, met: rss <= peakRssMiB });
      }
      const idleRss = idle(runs.target);
      if (rss !== null && peakOverIdleMiB !== undefined && idleRss !== undefined && idleRss !== null) {
        checks.push({
          what: `${label}, peak RSS above idle, MiB`,
          actual: rss - idleRss,
          limit: `≤ ${peakOverIdleMiB}`,
          met: rss - idleRss <= peakOverIdleMiB,
        });
      }
    }
  }
  for (const service of services.filter((name) => name !== FLOOR)) {
    const idleRss = idle(service);
    if (idleRss !== undefined && idleRss !== null) {
      checks.push({ what: `${service}: idle RSS MiB`, actual: idleRss, limit: '≤ 110', met: idleRss <= 110 });
    }
    const puts = memory.filter((r) => r.target === service && r.operation === 'PUT' && r.peakRssMiB !== null);
    if (puts.length >= 2) {
      const [smallest, largest] = [puts[0], puts[puts.length - 1]];
      const growth = largest.peakRssMiB! - smallest.peakRssMiB!;
      checks.push({
        what: `${service}: PUT peak RSS, ${largest.sizeMiB} MiB minus ${smallest.sizeMiB} MiB`,
        actual: growth,
        limit: '≤ 10',
        met: growth <= 10,
      });
    }
  }
  return checks;
}

/** Service ÷ floor for every scenario the floor ran: what `latest.svg` draws. */
export function chartRows(results: readonly ScenarioResult[], service = 'service'): ChartRow[] {
  return results.flatMap((result) => {
    const runs = result.runs.find((r) => r.target === service);
    const floor = result.runs.find((r) => r.target === FLOOR);
    if (!runs || !floor) {
      return [];
    }
    return [
      {
        label: result.title,
        throughput: valueOf(runs).median / valueOf(floor).median,
        cpu: cpuPerUnit(runs).value / cpuPerUnit(floor).value,
        throughputGoal: result.targets.floorRatio,
        cpuGoal: result.targets.floorCpuRatio,
      },
    ];
  });
}

/** The results as Markdown tables (bench/latest.md holds them as they are). */
export function renderTables(
  results: readonly ScenarioResult[],
  memory: readonly MemoryRow[],
  checks: readonly TargetCheck[],
): string {
  const services = results[0] ? servicesOf(results[0]).map((r) => r.target) : [];
  const hasFloor = results[0]?.runs.some((r) => r.target === FLOOR) ?? false;
  const measured = [...services, ...(hasFloor ? [FLOOR] : [])];
  const header = [
    'scenario',
    'unit',
    ...services.flatMap((s) => [`${s} median [range]`, ...(hasFloor ? [`${s} ÷ floor`] : []), `${s} ÷ direct`]),
    ...(hasFloor ? ['floor median [range]', 'floor ÷ direct'] : []),
    'direct median [range]',
    `CPU per GiB or request: ${measured.join(' · ')}`,
    `peak RSS MiB: ${measured.join(' · ')}`,
  ];
  const rows: string[][] = [];
  for (const result of results) {
    const byName = (name: string) => result.runs.find((r) => r.target === name)!;
    const direct = valueOf(byName(DIRECT)).median;
    // A scenario the floor cannot run (downloads by redirect) has no floor runs: its cells are '–'.
    const floorRuns = result.runs.find((r) => r.target === FLOOR);
    const floor = floorRuns ? valueOf(floorRuns).median : NaN;
    const ran = measured.filter((name) => result.runs.some((r) => r.target === name));
    const cpu = measured.map((name) => (ran.includes(name) ? cpuPerUnit(byName(name)) : undefined));
    rows.push([
      result.title,
      result.unit,
      ...services.flatMap((name) => {
        const value = valueOf(byName(name));
        return [range(value), ...(hasFloor ? [fmt(value.median / floor)] : []), fmt(value.median / direct)];
      }),
      ...(hasFloor ? [floorRuns ? range(valueOf(floorRuns)) : '–', fmt(floor / direct)] : []),
      range(valueOf(byName(DIRECT))),
      `${cpu.map((c) => fmt(c?.value ?? NaN)).join(' · ')} ${cpu[0]?.unit ?? ''}`,
      measured.map((name) => (ran.includes(name) ? fmt(peak(byName(name)) ?? NaN, 0) : '–')).join(' · '),
    ]);
  }
  const sections = rows.length > 0 ? [markdownTable(header, rows)] : [];
  if (memory.length > 0) {
    const targets = [...new Set(memory.map((row) => row.target))];
    const sizes = [...new Set(memory.filter((r) => r.operation !== 'idle').map((row) => row.sizeMiB))];
    const cell = (operation: MemoryRow['operation'], size: number, pick: (row: MemoryRow) => number) =>
      targets
        .map((target) => {
          const row = memory.find((r) => r.target === target && r.operation === operation && r.sizeMiB === size);
          return row ? fmt(pick(row), 0) : '–';
        })
        .join(' · ');
    const each = targets.join(' · ');
    sections.push(
      markdownTable(
        [
          'object size',
          `PUT peak RSS MiB: ${each}`,
          `POST form peak RSS MiB: ${each}`,
          `GET peak RSS MiB: ${each}`,
          `PUT MiB/s: ${each}`,
          `POST form MiB/s: ${each}`,
          `GET MiB/s: ${each}`,
        ],
        [
          ...(memory.some((r) => r.operation === 'idle')
            ? [['idle', cell('idle', 0, (r) => r.peakRssMiB ?? NaN), '', '', '', '', '']]
            : []),
          ...sizes.map((size) => [
            `${size} MiB`,
            cell('PUT', size, (r) => r.peakRssMiB ?? NaN),
            cell('POST form', size, (r) => r.peakRssMiB ?? NaN),
            cell('GET', size, (r) => r.peakRssMiB ?? NaN),
            cell('PUT', size, (r) => r.mibPerSecond),
            cell('POST form', size, (r) => r.mibPerSecond),
            cell('GET', size, (r) => r.mibPerSecond),
          ]),
        ],
      ),
    );
  }
  if (checks.length > 0) {
    sections.push(
      markdownTable(
        ['target', 'measured', 'limit', 'met'],
        checks.map((c) => [c.what, fmt(c.actual), c.limit, c.met ? 'yes' : 'NO']),
      ),
    );
  }
  return sections.join('\n\n');
}

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export interface Report {
  readonly date: string;
  readonly machine: string;
  /** Settings and builds of the run, in one line. */
  readonly description: string;
  readonly results: readonly ScenarioResult[];
  readonly memory: readonly MemoryRow[];
  readonly checks: readonly TargetCheck[];
  readonly hot: Readonly<Record<string, { functions: HotSpot[]; packages: HotSpot[] }>>;
}

export function renderReport(report: Report): string {
  const lines = [
    `s3-file-service bench, ${report.date}, ${report.machine}`,
    report.description,
    '',
    renderTables(report.results, report.memory, report.checks),
  ];
  for (const [name, spots] of Object.entries(report.hot)) {
    const list = (items: HotSpot[], digits: number) =>
      items.map((item) => `${item.name} ${item.selfPercent.toFixed(digits)}%`).join(', ');
    lines.push('', `CPU profile, ${name}, self time by package: ${list(spots.packages, 0)}`);
    lines.push(`  by function: ${list(spots.functions, 1)}`);
  }
  return `${lines.join('\n')}\n`;
}
