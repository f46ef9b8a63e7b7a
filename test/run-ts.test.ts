// bin/run-ts.mjs, the way `gridhub` loads its TypeScript (issue 13: no tsx loader thread, ~48 MB less
// RSS): each case runs a real `node bin/run-ts.mjs` child on a small project written to a temp folder.

import { execFile } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const RUN_TS = fileURLToPath(new URL('../bin/run-ts.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [RUN_TS, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('bin/run-ts.mjs', () => {
  let dir: string;
  let cache: string;
  let src: string;
  const env = () => ({ GRIDHUB_TS_CACHE: cache });

  beforeEach(() => {
    // Inside the project, as a cache must be: the bundle's package imports resolve from there.
    mkdirSync(join(ROOT, 'node_modules', '.cache'), { recursive: true });
    dir = mkdtempSync(join(ROOT, 'node_modules', '.cache', 'gridhub-run-ts-test-'));
    cache = join(dir, 'cache');
    src = join(dir, 'src');
    mkdirSync(src);
    // An ES module package, as gridhub is (tsx, the fallback, reads .ts files as its package says).
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    // Two classes named alike in two modules: the bundle renames one, and `keepNames` must keep
    // what `.name` says. `import.meta.url` must stay each file's own URL.
    writeFileSync(
      join(src, 'beside.ts'),
      'export const here: string = import.meta.url;\nexport const value = 1;\nexport class Named {}\n' +
        'export function fail(): never {\n  throw new Error("from beside");\n}\n',
    );
    writeFileSync(
      join(src, 'entry.ts'),
      "import { fail, here, Named as Other, value } from './beside.ts';\n" +
        "import { z } from 'zod';\n" +
        'class Named {}\n' +
        'if (process.argv.includes("--fail")) fail();\n' +
        'console.log(JSON.stringify({ here, mine: import.meta.url, value, names: [Named.name, Other.name], argv: process.argv.slice(1), pkg: z.string().parse("ok") }));\n',
    );
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const bundles = () => readdirSync(cache).filter((f) => f.endsWith('.mjs'));

  it('runs a TypeScript entry from a cached bundle: own URLs, class names and argv kept', async () => {
    const r = await run([join(src, 'entry.ts'), 'a', '--b'], env());
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      here: pathToFileURL(join(src, 'beside.ts')).href,
      mine: pathToFileURL(join(src, 'entry.ts')).href,
      value: 1,
      names: ['Named', 'Named'],
      argv: [join(src, 'entry.ts'), 'a', '--b'],
      pkg: 'ok',
    });
    expect(bundles()).toHaveLength(1);
    const manifest = JSON.parse(readFileSync(join(cache, bundles()[0]!.replace(/\.mjs$/, '.json')), 'utf8'));
    expect(Object.keys(manifest.inputs).filter((f) => f.startsWith('..') || f.includes('src'))).toHaveLength(
      2,
    );
  });

  it('reuses the bundle while its sources are unchanged and rebuilds it after an edit', async () => {
    await run([join(src, 'entry.ts')], env());
    const file = join(cache, bundles()[0]!);
    const built = statSync(file).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    const again = await run([join(src, 'entry.ts')], env());
    expect(JSON.parse(again.stdout).value).toBe(1);
    expect(statSync(file).mtimeMs).toBe(built);

    // A damaged manifest is a stale one: rebuilt, not trusted and not a failure.
    const manifest = file.replace(/\.mjs$/, '.json');
    const intact = readFileSync(manifest, 'utf8');
    const versions = JSON.parse(intact) as { esbuild: string; node: string };
    const damages = [
      // Versions right, inputs missing: only the inputs check can refuse these.
      JSON.stringify({ esbuild: versions.esbuild, node: versions.node, inputs: null }),
      JSON.stringify({ esbuild: versions.esbuild, node: versions.node, inputs: {} }),
      JSON.stringify({ esbuild: versions.esbuild, node: versions.node }),
      '{',
      'null',
    ];
    for (const damaged of damages) {
      writeFileSync(manifest, damaged);
      const r = await run([join(src, 'entry.ts')], env());
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(manifest, 'utf8')).not.toBe(damaged);
    }
    expect(JSON.parse(readFileSync(manifest, 'utf8')).inputs).toEqual(JSON.parse(intact).inputs);
    const rebuilt = statSync(file).mtimeMs;
    expect(rebuilt).toBeGreaterThan(built);

    writeFileSync(
      join(src, 'beside.ts'),
      readFileSync(join(src, 'beside.ts'), 'utf8').replace('value = 1', 'value = 22'),
    );
    const edited = await run([join(src, 'entry.ts')], env());
    expect(JSON.parse(edited.stdout).value).toBe(22);
    expect(statSync(file).mtimeMs).toBeGreaterThan(rebuilt);
  });

  it('a source changed during the build (here: dated in the future) gets no manifest: built again next start', async () => {
    const future = new Date(Date.now() + 3_600_000);
    utimesSync(join(src, 'beside.ts'), future, future);
    const r = await run([join(src, 'entry.ts')], env());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).value).toBe(1);
    expect(bundles()).toHaveLength(1);
    expect(readdirSync(cache).filter((f) => f.endsWith('.json'))).toEqual([]);
  });

  it('maps stack traces to the .ts sources', async () => {
    const r = await run([join(src, 'entry.ts'), '--fail'], env());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/from beside/);
    expect(r.stderr).toMatch(/beside\.ts:5:\d+/);
  });

  it('--build only builds, printing the bundle path', async () => {
    const r = await run(['--build', join(src, 'entry.ts')], env());
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(join(cache, bundles()[0]!));
    expect(r.stdout).not.toMatch(/names/);
  });

  it('falls back to tsx when the cache cannot be written, with the same result', async () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    const r = await run([join(src, 'entry.ts')], { GRIDHUB_TS_CACHE: join(blocker, 'cache') });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.value).toBe(1);
    expect(out.here).toBe(pathToFileURL(join(src, 'beside.ts')).href);
  });

  it('does not trust a cache folder others can write: runs through tsx and leaves it empty', async () => {
    mkdirSync(cache);
    chmodSync(cache, 0o777);
    const r = await run([join(src, 'entry.ts')], env());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).value).toBe(1);
    expect(readdirSync(cache)).toEqual([]);
    chmodSync(cache, 0o755);
    await run([join(src, 'entry.ts')], env());
    expect(bundles()).toHaveLength(1);
  });

  it('does not put the cache outside the project (package imports would not resolve): runs through tsx', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'gridhub-run-ts-outside-'));
    try {
      const r = await run([join(src, 'entry.ts')], { GRIDHUB_TS_CACHE: outside });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).pkg).toBe('ok');
      expect(readdirSync(outside)).toEqual([]);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('refuses to run without an entry', async () => {
    const r = await run([], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/usage: node bin\/run-ts\.mjs/);
  });
});
