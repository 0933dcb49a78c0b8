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

/** Every target of the issue that this run can judge, service by service. */
export function checkTargets(
  results: readonly ScenarioResult[],
  memory: readonly MemoryRow[],
  services: readonly string[],
): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const result of results) {
    const direct = result.runs.find((r) => r.target === 'direct')!;
    const directValue = summarize(direct.samples.map((s) => s.value)).median;
    const directP99 = summarize(direct.samples.map((s) => s.p99Ms ?? NaN)).median;
    for (const runs of result.runs.filter((r) => services.includes(r.target))) {
      const label = `${runs.target}: ${result.title}`;
      const ratio = summarize(runs.samples.map((s) => s.value)).median / directValue;
      if (result.targets.ratio !== undefined) {
        checks.push({
          what: `${label}, ${result.unit} ratio`,
          actual: ratio,
          limit: `≥ ${result.targets.ratio}`,
          met: ratio >= result.targets.ratio,
        });
      }
      if (result.targets.p99Ratio !== undefined) {
        const p99 = summarize(runs.samples.map((s) => s.p99Ms ?? NaN)).median / directP99;
        checks.push({
          what: `${label}, p99 latency ratio`,
          actual: p99,
          limit: `≤ ${result.targets.p99Ratio}`,
          met: p99 <= result.targets.p99Ratio,
        });
      }
      const rss = peak(runs);
      if (rss !== null) {
        checks.push({ what: `${label}, peak RSS MiB`, actual: rss, limit: '≤ 150', met: rss <= 150 });
      }
    }
  }
  const puts = memory.filter((row) => row.operation === 'PUT' && row.peakRssMiB !== null);
  for (const row of memory.filter((r) => r.peakRssMiB !== null)) {
    checks.push({
      what: `memory profile: ${row.operation} ${row.sizeMiB} MiB, peak RSS MiB`,
      actual: row.peakRssMiB!,
      limit: '≤ 150',
      met: row.peakRssMiB! <= 150,
    });
  }
  if (puts.length >= 2) {
    const [smallest, largest] = [puts[0], puts[puts.length - 1]];
    const growth = largest.peakRssMiB! - smallest.peakRssMiB!;
    checks.push({
      what: `memory profile: PUT peak RSS ${largest.sizeMiB} MiB minus ${smallest.sizeMiB} MiB`,
      actual: growth,
      limit: '≤ 16',
      met: growth <= 16,
    });
  }
  return checks;
}

/** The results as Markdown tables (they go into the README as they are). */
export function renderTables(
  results: readonly ScenarioResult[],
  memory: readonly MemoryRow[],
  checks: readonly TargetCheck[],
): string {
  const services = results[0]?.runs.filter((r) => r.target !== 'direct').map((r) => r.target) ?? [];
  const header = [
    'scenario',
    'unit',
    ...services.flatMap((s) => [`${s} median [range]`, `${s} / direct`]),
    'direct median [range]',
    ...services.map((s) => `${s} peak RSS MiB`),
    ...services.map((s) => `CPU s per run: ${s} · S3 · client`),
    'CPU s per run (direct): S3 · client',
  ];
  const rows: string[][] = [];
  for (const result of results) {
    const direct = result.runs.find((r) => r.target === 'direct')!;
    const serviceRuns = services.map((name) => result.runs.find((r) => r.target === name)!);
    const value = (runs: Runs) => summarize(runs.samples.map((s) => s.value));
    const p99 = (runs: Runs) => summarize(runs.samples.map((s) => s.p99Ms ?? NaN));
    const cpu = (runs: Runs) =>
      [runs.cpuSeconds, runs.s3CpuSeconds, runs.clientCpuSeconds]
        .filter((values) => values.length > 0)
        .map((values) => fmt(summarize(values).median))
        .join(' · ');
    rows.push([
      result.title,
      result.unit,
      ...serviceRuns.flatMap((runs) => [range(value(runs)), fmt(value(runs).median / value(direct).median)]),
      range(value(direct)),
      ...serviceRuns.map((runs) => fmt(peak(runs) ?? NaN, 0)),
      ...serviceRuns.map(cpu),
      cpu(direct),
    ]);
    if (result.targets.p99Ratio !== undefined) {
      rows.push([
        `↳ p99 latency (p50 ${serviceRuns.map((r) => fmt(summarize(r.samples.map((s) => s.p50Ms ?? NaN)).median)).join(' / ')} vs ${fmt(summarize(direct.samples.map((s) => s.p50Ms ?? NaN)).median)} direct)`,
        'ms',
        ...serviceRuns.flatMap((runs) => [range(p99(runs)), fmt(p99(runs).median / p99(direct).median)]),
        range(p99(direct)),
        ...serviceRuns.map(() => ''),
        ...serviceRuns.map(() => ''),
        '',
      ]);
    }
  }
  const sections = [markdownTable(header, rows)];
  if (memory.length > 0) {
    const sizes = [...new Set(memory.map((row) => row.sizeMiB))];
    const cell = (operation: MemoryRow['operation'], size: number, pick: (row: MemoryRow) => number) => {
      const row = memory.find((r) => r.operation === operation && r.sizeMiB === size);
      return row ? fmt(pick(row), 0) : '–';
    };
    sections.push(
      markdownTable(
        [
          'object size',
          'PUT peak RSS MiB',
          'POST form peak RSS MiB',
          'GET peak RSS MiB',
          'PUT MiB/s',
          'POST form MiB/s',
          'GET MiB/s',
        ],
        sizes.map((size) => [
          `${size} MiB`,
          cell('PUT', size, (r) => r.peakRssMiB ?? NaN),
          cell('POST form', size, (r) => r.peakRssMiB ?? NaN),
          cell('GET', size, (r) => r.peakRssMiB ?? NaN),
          cell('PUT', size, (r) => r.mibPerSecond),
          cell('POST form', size, (r) => r.mibPerSecond),
          cell('GET', size, (r) => r.mibPerSecond),
        ]),
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
