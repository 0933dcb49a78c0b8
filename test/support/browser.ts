import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`), which `.ci/run` installs. */
export const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_MISSING = `Chromium not found at ${CHROMIUM_PATH}; install it: sudo apt-get install chromium`;

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Loopback only: any other host name fails to resolve.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * `describe` when Chromium is installed. Without it: in CI a failing test (the browser tests must run there);
 * elsewhere a skipped suite whose name, and a warning, say why.
 */
export function describeInBrowser(name: string, body: () => void): void {
  if (existsSync(CHROMIUM_PATH)) {
    describe(name, body);
    return;
  }
  if (/^(true|1)$/i.test(process.env.CI ?? '')) {
    describe(name, () => {
      it('should find Chromium: CI must run the browser tests', () => {
        throw new Error(`${CHROMIUM_MISSING} (.ci/run does)`);
      });
    });
    return;
  }
  // The reason reaches the end of the test summary (test/support/skipped-reporter.ts).
  describe.skip(`${name} [SKIPPED: ${CHROMIUM_MISSING}]`, body);
}

export interface TestBrowser {
  readonly context: BrowserContext;
  /** Every request a page tried to send off loopback (there should be none). */
  readonly offLoopback: string[];
  close(): Promise<void>;
}

/** Headless Chromium with a fresh profile, deleted on close. */
export async function launchBrowser(): Promise<TestBrowser> {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'chromium-profile-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: FLAGS,
      timeout: 30_000,
    });
  } catch (error) {
    await rm(userDataDir, { recursive: true, force: true });
    throw error;
  }
  const offLoopback: string[] = [];
  context.on('request', (request) => {
    const { protocol, hostname } = new URL(request.url());
    if (/^https?:$/.test(protocol) && !LOOPBACK.has(hostname)) {
      offLoopback.push(request.url());
    }
  });
  return {
    context,
    offLoopback,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
