import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformFile, type Options } from '@swc/core';
import { startServiceProcess, type ServiceProcess } from '../../dev/service-process.ts';

export type { LogLine, ServiceProcess } from '../../dev/service-process.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ServiceBuild {
  /** The compiled entry point, as `dist/main.js` is in production. */
  main: string;
  remove(): Promise<void>;
}

/**
 * Compiles `src/` (no specs) with swc into a fresh temporary folder, as `nest build` does into `dist/`, so a test
 * can run the real entry point as its own process without touching `dist/`.
 */
export async function buildService(): Promise<ServiceBuild> {
  const out = await mkdtemp(path.join(tmpdir(), 's3-file-service-build-'));
  const swcrc = JSON.parse(await readFile(path.join(ROOT, '.swcrc'), 'utf8')) as Options;
  const options: Options = { ...swcrc, swcrc: false, sourceMaps: false, module: { type: 'es6' } };
  const sources = (await readdir(path.join(ROOT, 'src'), { recursive: true })).filter(
    (file) => file.endsWith('.ts') && !file.endsWith('.spec.ts') && !file.endsWith('.d.ts'),
  );
  await Promise.all(
    sources.map(async (file) => {
      const { code } = await transformFile(path.join(ROOT, 'src', file), options);
      const target = path.join(out, file.replace(/\.ts$/, '.js'));
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, code);
    }),
  );
  await writeFile(path.join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  await symlink(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules'), 'dir');
  return { main: path.join(out, 'main.js'), remove: () => rm(out, { recursive: true, force: true }) };
}

/**
 * Runs the built service with exactly `env` (plus PATH), never the test runner's environment: no AWS profile,
 * no credentials file, no stray AWS_* variable can stand in for what the test gives it.
 */
export function startService(
  build: ServiceBuild,
  env: Record<string, string>,
  { startTimeoutMs = 20_000 } = {},
): Promise<ServiceProcess> {
  const nowhere = path.join(tmpdir(), `no-aws-config-${process.pid}-${Date.now()}`);
  return startServiceProcess({
    main: build.main,
    env: {
      HOME: nowhere,
      AWS_CONFIG_FILE: path.join(nowhere, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(nowhere, 'credentials'),
      ...env,
    },
    cwd: path.dirname(build.main),
    startTimeoutMs,
  });
}
