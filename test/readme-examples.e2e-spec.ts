import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomKey, s3Env, s3Suite, sha256 } from './support/app.js';
import { describeInBrowser, launchBrowser, type TestBrowser } from './support/browser.js';
import { objectExists } from './support/s3-server.js';

/** The documented examples, run as written: the code blocks of docs/examples.md. */
const section = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../docs/examples.md'), 'utf8');
const codeBlock = (language: string): string => {
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)\\n```').exec(section);
  if (!match) {
    throw new Error(`no ${language} block in docs/examples.md`);
  }
  return match[1];
};

const API_KEY = 'readme-example-key-0123456789';
const PYTHON_MISSING = 'python3 with requests not found; install it: sudo apt-get install python3-requests';

/** `describe` when python3 can import requests; otherwise skipped with the reason, or failing in CI. */
function describeWithPython(name: string, body: () => void): void {
  if (spawnSync('python3', ['-c', 'import requests']).status === 0) {
    describe(name, body);
  } else if (/^(true|1)$/i.test(process.env.CI ?? '')) {
    describe(name, () => {
      it('should find python3 and requests: CI must run the Python example', () => {
        throw new Error(`${PYTHON_MISSING} (.ci/run does)`);
      });
    });
  } else {
    describe.skip(`${name} [SKIPPED: ${PYTHON_MISSING}]`, body);
  }
}

async function run(command: string, args: string[], env: Record<string, string>): Promise<string> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) {
    throw new Error(`${command} exited with ${code}: ${stderr}`);
  }
  return stdout;
}

describe('README examples', () => {
  const suite = s3Suite();

  describeWithPython('Python (requests)', () => {
    const service = suite.withApp({ env: { API_KEYS: API_KEY } });
    let dir: string;

    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'readme-python-'));
    });

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('should upload, list page by page, download, delete and report errors as the README shows', async () => {
      const data = randomBytes(300 * 1024 + 5);
      await writeFile(path.join(dir, 'photo.bin'), data);
      const prefix = randomKey('').replace(/\/$/, '');
      // The README's code, then calls to it.
      const driver = `${codeBlock('python')}

import json, sys
prefix, source, target = sys.argv[1:4]
out = {}
out['put'] = upload(f'{prefix}/raw/a b.bin', source)
out['form'] = upload_form(f'{prefix}/form/photo.png', source, 'image/png')
upload(f'{prefix}/third.txt', source, 'text/plain')
out['keys'] = list(list_keys(prefix + '/', page_size=2))
download(f'{prefix}/raw/a b.bin', target)
delete(f'{prefix}/form/photo.png')
out['after_delete'] = list(list_keys(prefix + '/'))
try:
    download(f'{prefix}/missing.bin', target + '.missing')
except RuntimeError as error:
    out['error'] = str(error)
print(json.dumps(out))
`;
      await writeFile(path.join(dir, 'example.py'), driver);
      const stdout = await run(
        'python3',
        [path.join(dir, 'example.py'), prefix, path.join(dir, 'photo.bin'), path.join(dir, 'copy.bin')],
        { FILES_URL: service.url, FILES_API_KEY: API_KEY },
      );
      const out = JSON.parse(stdout) as Record<string, unknown>;
      expect(out).toEqual({
        put: expect.objectContaining({ key: `${prefix}/raw/a b.bin`, size: data.length }),
        form: expect.objectContaining({ key: `${prefix}/form/photo.png`, size: data.length, contentType: 'image/png' }),
        // Three keys over two pages: the cursor loop ran.
        keys: [`${prefix}/form/photo.png`, `${prefix}/raw/a b.bin`, `${prefix}/third.txt`],
        after_delete: [`${prefix}/raw/a b.bin`, `${prefix}/third.txt`],
        error: expect.stringMatching(/^404: /),
      });
      expect(sha256(await readFile(path.join(dir, 'copy.bin')))).toBe(sha256(data));
      expect(await objectExists(suite.s3.s3, suite.s3.bucket, `${prefix}/form/photo.png`)).toBe(false);
    });
  });

  describeInBrowser('browser fetch (headless Chromium, another origin)', () => {
    let webApp: Server;
    let origin: string;
    let browser: TestBrowser;

    beforeAll(async () => {
      webApp = createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!doctype html><title>app</title>');
      }).listen(0, '127.0.0.1');
      await once(webApp, 'listening');
      origin = `http://127.0.0.1:${(webApp.address() as { port: number }).port}`;
      browser = await launchBrowser();
    });

    // Declared before the app, so that it runs before the app stops.
    afterAll(async () => {
      await browser?.close();
      webApp?.close();
    });

    const service = suite.withApp({
      env: (s3) => s3Env(s3.endpoint, s3.bucket, { API_KEYS: API_KEY, CORS_ORIGINS: origin }),
    });

    it('should upload, list, download, delete and report errors as the README shows', async () => {
      const page = await browser.context.newPage();
      await page.goto(origin);
      // The README's code with this service's URL and key in place of its two placeholders.
      const code = codeBlock('js')
        .replace(/^const BASE = .*;$/m, `const BASE = ${JSON.stringify(service.url)};`)
        .replace(/^const API_KEY = .*;$/m, `const API_KEY = ${JSON.stringify(API_KEY)};`);
      expect(code).toContain(JSON.stringify(API_KEY));
      await page.addScriptTag({ content: code });
      const data = randomBytes(200 * 1024 + 3);
      const prefix = randomKey('').replace(/\/$/, '');
      const out = await page.evaluate(
        async ([base64, prefix]) => {
          // Runs in the page, next to the README's functions.
          const api = globalThis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
          const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
          const file = new File([bytes], 'photo.png', { type: 'image/png' });
          const put = await api.upload(`${prefix}/raw/a b.png`, file);
          const form = await api.uploadForm(`${prefix}/form.png`, file);
          const listed = (await api.list(`${prefix}/`)) as { items: { key: string }[] };
          const blob = (await api.download(`${prefix}/raw/a b.png`)) as Blob;
          const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
          await api.remove(`${prefix}/form.png`);
          const after = (await api.list(`${prefix}/`)) as { items: { key: string }[] };
          const error = await api.download(`${prefix}/missing.png`).then(
            () => null,
            (e: Error) => e.message,
          );
          return {
            put,
            form,
            keys: listed.items.map((i) => i.key),
            type: blob.type,
            sha256: Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join(''),
            afterDelete: after.items.map((i) => i.key),
            error,
          };
        },
        [data.toString('base64'), prefix] as const,
      );
      expect(out).toEqual({
        put: expect.objectContaining({ key: `${prefix}/raw/a b.png`, size: data.length, contentType: 'image/png' }),
        form: expect.objectContaining({ key: `${prefix}/form.png`, size: data.length, contentType: 'image/png' }),
        keys: [`${prefix}/form.png`, `${prefix}/raw/a b.png`],
        type: 'image/png',
        sha256: sha256(data),
        afterDelete: [`${prefix}/raw/a b.png`],
        error: expect.stringMatching(/^404: /),
      });
      expect(browser.offLoopback).toEqual([]);
    });
  });
});
