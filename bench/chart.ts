/** The run's service ÷ floor ratios as an SVG bar chart: plain SVG text, no library. */

export interface ChartRow {
  readonly label: string;
  /** Service ÷ floor: throughput (higher is better) and CPU per GiB or request (lower is better). */
  readonly throughput: number;
  readonly cpu: number;
  /** The goal for either ratio, when it has one. */
  readonly throughputGoal?: number;
  readonly cpuGoal?: number;
}

const WIDTH = 860;
const LABEL_WIDTH = 360;
const BAR_HEIGHT = 12;
const ROW_HEIGHT = 2 * BAR_HEIGHT + 14;
const TOP = 46;
const COLORS = { throughput: '#3b6ea8', cpu: '#d9822b' };

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function renderChart(title: string, rows: readonly ChartRow[]): string {
  const finite = rows.flatMap((r) => [r.throughput, r.cpu]).filter((v) => Number.isFinite(v));
  // Whole halves from 0 to at least 1.5 (the floor, 1.0, always inside), with room for the labels past the bars.
  const max = Math.max(1.5, Math.ceil((Math.max(0, ...finite) + 0.15) * 2) / 2);
  const plot = WIDTH - LABEL_WIDTH - 50;
  const x = (value: number) => LABEL_WIDTH + (Math.min(value, max) / max) * plot;
  const height = TOP + rows.length * ROW_HEIGHT + 30;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<rect x="10" y="28" width="10" height="10" fill="${COLORS.throughput}"/>`,
    `<text x="24" y="37">throughput ÷ floor (higher is better)</text>`,
    `<rect x="270" y="28" width="10" height="10" fill="${COLORS.cpu}"/>`,
    `<text x="284" y="37">CPU per GiB or request ÷ floor (lower is better); | = goal</text>`,
  ];
  for (let tick = 0; tick <= max + 1e-9; tick += 0.5) {
    const tx = x(tick).toFixed(1);
    const bottom = TOP + rows.length * ROW_HEIGHT;
    const stroke = tick === 1 ? '#333' : '#ddd';
    out.push(`<line x1="${tx}" y1="${TOP - 4}" x2="${tx}" y2="${bottom}" stroke="${stroke}"/>`);
    out.push(`<text x="${tx}" y="${bottom + 16}" text-anchor="middle">${tick.toFixed(1)}</text>`);
  }
  rows.forEach((row, i) => {
    const y = TOP + i * ROW_HEIGHT;
    out.push(`<text x="${LABEL_WIDTH - 8}" y="${y + BAR_HEIGHT + 5}" text-anchor="end">${escape(row.label)}</text>`);
    const bars: [number, string, number | undefined][] = [
      [row.throughput, COLORS.throughput, row.throughputGoal],
      [row.cpu, COLORS.cpu, row.cpuGoal],
    ];
    bars.forEach(([value, color, goal], j) => {
      const by = y + j * BAR_HEIGHT;
      if (Number.isFinite(value)) {
        const width = (x(value) - LABEL_WIDTH).toFixed(1);
        out.push(`<rect x="${LABEL_WIDTH}" y="${by}" width="${width}" height="${BAR_HEIGHT - 2}" fill="${color}"/>`);
        const tx = (x(Math.max(value, goal ?? 0)) + 4).toFixed(1);
        out.push(`<text x="${tx}" y="${by + BAR_HEIGHT - 3}">${value.toFixed(2)}</text>`);
      }
      if (goal !== undefined) {
        const gx = x(goal).toFixed(1);
        out.push(
          `<line x1="${gx}" y1="${by - 1}" x2="${gx}" y2="${by + BAR_HEIGHT - 1}" stroke="#000" stroke-width="2"/>`,
        );
      }
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
