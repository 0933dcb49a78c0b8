import { jest } from '@jest/globals';
import type { AggregatedResult } from '@jest/reporters';
import SkippedReporter from './skipped-reporter.js';

type Status = 'passed' | 'pending' | 'skipped' | 'todo';
const result = (files: Record<string, { ancestorTitles: string[]; title: string; status: Status }[]>) =>
  ({
    testResults: Object.entries(files).map(([file, tests]) => ({
      testFilePath: `${process.cwd()}/${file}`,
      testResults: tests,
    })),
  }) as unknown as AggregatedResult;

describe(SkippedReporter.name, () => {
  let written: string;
  beforeEach(() => {
    written = '';
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written += String(chunk);
      return true;
    });
  });
  afterEach(() => jest.restoreAllMocks());

  it('should list each suite that skipped itself, once, with its reason', () => {
    const browser = 'In a real browser [SKIPPED: Chromium not found at /usr/bin/chromium; install it: apt-get …]';
    new SkippedReporter().onRunComplete(
      undefined,
      result({
        'test/browser.e2e-spec.ts': [
          { ancestorTitles: [browser], title: 'should upload', status: 'pending' },
          { ancestorTitles: [browser, 'nested'], title: 'should download', status: 'pending' },
        ],
        'test/local-s3.e2e-spec.ts': [
          { ancestorTitles: ['Local S3 [SKIPPED on rgw: gap fills]'], title: 'should list', status: 'skipped' },
        ],
        'test/files.e2e-spec.ts': [{ ancestorTitles: ['Files'], title: 'should upload', status: 'passed' }],
      }),
    );
    expect(written).toBe(
      '\nSkipped suites, and why:\n' +
        '  test/browser.e2e-spec.ts [SKIPPED: Chromium not found at /usr/bin/chromium; install it: apt-get …]\n' +
        '  test/local-s3.e2e-spec.ts [SKIPPED on rgw: gap fills]\n\n',
    );
  });

  it('should say nothing of tests a -t filter left out, nor when nothing skipped itself', () => {
    new SkippedReporter().onRunComplete(
      undefined,
      result({ 'test/files.e2e-spec.ts': [{ ancestorTitles: ['Files'], title: 'should upload', status: 'pending' }] }),
    );
    expect(written).toBe('');
  });
});
