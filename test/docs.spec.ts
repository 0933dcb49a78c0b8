import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const DOCS = ['README.md', 'bench/README.md', ...readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const anchors = (markdown: string): Set<string> => {
  const withoutCode = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return new Set(
    [...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
      m[1]
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
};

describe('documentation', () => {
  it('should keep the README short: at most 12 KB, the rest in docs/', () => {
    expect(Buffer.byteLength(read('README.md'))).toBeLessThanOrEqual(12 * 1024);
  });

  it.each(DOCS)('should link only to files and headings that exist, from %s', (file) => {
    const broken: string[] = [];
    for (const [, target] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) {
        continue; // an outside address
      }
      const [relative, anchor] = target.split('#');
      const linked = relative ? path.join(path.dirname(file), relative) : file;
      if (!existsSync(path.join(ROOT, linked))) {
        broken.push(target);
      } else if (anchor && linked.endsWith('.md') && !anchors(read(linked)).has(anchor)) {
        broken.push(target);
      }
    }
    expect(broken).toEqual([]);
  });

  it("should list every path of the OpenAPI document in the README's route table", () => {
    const document = JSON.parse(read('openapi.json')) as { paths: Record<string, unknown> };
    const table = read('README.md').slice(read('README.md').indexOf('## Routes'));
    const routes = [...table.matchAll(/`(\/[^`]+)`/g)].map((m) => m[1]);
    const covered = (p: string) =>
      routes.some(
        (route) => route === p || route === `${p}/` || (route.endsWith('/…') && p.startsWith(route.slice(0, -1))),
      );
    expect(Object.keys(document.paths).filter((p) => !covered(p))).toEqual([]);
  });
});
