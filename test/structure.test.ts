// Issue 10: files hold one concern. A source file over 500 lines must say in its opening comment
// why it is kept whole (a sentence beginning "Why one file:"); the import rules themselves are
// checked by dependency-cruiser in `npm run check` (.dependency-cruiser.cjs).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const SKIP = new Set(['node_modules', '.git', 'dist', 'data', 'test-artifacts', 'tmp']);
const LIMIT = 500;

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name) || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (/\.(ts|tsx)$/.test(name) && !name.endsWith('.d.ts') && !/\.test\.tsx?$/.test(name))
      out.push(path);
  }
  return out;
}

/** The comment block(s) before the first statement of a file. */
function openingComment(text: string): string {
  const m = /^(?:\s*(?:\/\/[^\n]*\n|\/\*[\s\S]*?\*\/\s*\n?))+/.exec(text);
  return m?.[0] ?? '';
}

describe('structure', () => {
  it(`every source file over ${LIMIT} lines says in its opening comment why it is one file`, () => {
    const files = sources(ROOT);
    expect(files.length).toBeGreaterThan(50);
    const unexplained = files
      .map((path) => ({ path: relative(ROOT, path), text: readFileSync(path, 'utf8') }))
      .filter(({ text }) => text.split('\n').length > LIMIT)
      .filter(({ text }) => !/Why one file:\s*\S/.test(openingComment(text)))
      .map(({ path, text }) => `${path} (${text.split('\n').length} lines)`);
    expect(unexplained).toEqual([]);
  });

  it('the opening-comment reader finds the reason only at the top of a file', () => {
    expect(openingComment('// Why one file: one state machine.\nconst a = 1;\n')).toMatch(/Why one file/);
    expect(openingComment('/**\n * Why one file: x\n */\nexport {}\n')).toMatch(/Why one file/);
    expect(openingComment('const a = 1;\n// Why one file: late\n')).toBe('');
  });
});
