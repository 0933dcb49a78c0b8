import path from 'node:path';
import type { AggregatedResult, Reporter } from '@jest/reporters';

/** How a suite that cannot run here names itself: `describe.skip('<name> [SKIPPED: <why>]', …)`. */
export const SKIPPED_MARK = /\[SKIPPED\b[^\]]*\]/;

/**
 * Just above Jest's summary (its own reporter always comes last), lists every suite that skipped itself and why:
 * Jest shows only a count of skipped tests. Tests skipped by a `-t` filter carry no mark and are not listed.
 */
export default class SkippedReporter implements Pick<Reporter, 'onRunComplete'> {
  onRunComplete(_contexts: unknown, results: AggregatedResult): void {
    const lines = new Set<string>();
    for (const file of results.testResults) {
      for (const test of file.testResults) {
        if (test.status !== 'pending' && test.status !== 'skipped' && test.status !== 'todo') {
          continue;
        }
        const reason = [...test.ancestorTitles, test.title].map((t) => SKIPPED_MARK.exec(t)?.[0]).find(Boolean);
        if (reason) {
          lines.add(`  ${path.relative(process.cwd(), file.testFilePath)} ${reason}`);
        }
      }
    }
    if (lines.size > 0) {
      process.stderr.write(`\nSkipped suites, and why:\n${[...lines].join('\n')}\n\n`);
    }
  }
}
