// The container image's file set, assembled exactly as the Dockerfile does it — `npm pack` (the
// package.json "files" list is the one place that names what ships), then
// `npm ci --omit=dev --ignore-scripts` — and the hub started from it. No Docker engine needed.
// Regression: the image once left out `cases/` and could not start (ERR_MODULE_NOT_FOUND).

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;

/** Every TypeScript source the running hub may load: all of the tree but tests, benches and tooling. */
function sourceFiles(dir = root): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (['node_modules', '.git', 'test', 'bench', 'data', 'tmp', 'dist', 'coverage'].includes(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.ts$/.test(name) && !/\.test\.ts$|test-helpers\.ts$|^vitest\.config\.ts$/.test(name)) {
      out.push(relative(root, path));
    }
  }
  return out;
}

describe('the image file set (Dockerfile: npm pack + npm ci --omit=dev)', () => {
  let work: string;
  let app: string;
  let packed: string[];
  let bundle: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'gridhub-pack-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
    });
    // npm 11 prints the `prepare` script's output (the dashboard build line) before the JSON.
    const [info] = JSON.parse(stdout.slice(stdout.indexOf('\n[') + 1 || 0)) as {
      filename: string;
      files: { path: string }[];
    }[];
    packed = info!.files.map((f) => f.path);
    app = join(work, 'app');
    mkdirSync(app);
    await run('tar', ['-xzf', join(work, info!.filename), '-C', app, '--strip-components=1']);
    copyFileSync(join(root, 'package-lock.json'), join(app, 'package-lock.json'));
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: app,
      maxBuffer: 16 * 1024 * 1024,
    });
    // As the Dockerfile: the hub's bundle is built while node_modules is writable (bin/run-ts.mjs).
    const built = await run(process.execPath, ['bin/run-ts.mjs', '--build', 'cli/main.ts'], { cwd: app });
    bundle = built.stdout.trim();
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships every source file the hub can load, and no tests', () => {
    const missing = sourceFiles().filter((f) => !packed.includes(f));
    expect(missing).toEqual([]);
    expect(packed.filter((f) => /\.test\.ts$|^test\/|^bench\//.test(f))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toMatch(/npm pack/);
    expect(manifest.files.length).toBeGreaterThan(0);
    // The dashboard bundle, built by the `prepare` script that npm pack runs.
    expect(packed).toContain('web/ui/dist/index.html');
  });

  it('starts the hub with production dependencies only, answers health, stops on SIGTERM', async () => {
    expect(bundle.startsWith(join(app, 'node_modules', '.cache', 'gridhub'))).toBe(true);
    const bundleBuilt = statSync(bundle).mtimeMs;
    const child: ChildProcess = spawn(process.execPath, ['bin/gridhub.js', 'start'], {
      cwd: app,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        GRIDHUB_DATA_DIR: join(work, 'data'),
        GRIDHUB_HTTP_PORT: '0',
        GRIDHUB_MQTT_PORT: '0',
        GRIDHUB_HOST: '127.0.0.1',
        GRIDHUB_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const http = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line within 120 s:\n${out}`)), 120_000);
        const check = () => {
          const m = /gridhub ready http=(\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        };
        child.stdout!.on('data', check);
        child.on('exit', (code) => reject(new Error(`hub exited with ${code} before ready:\n${out}`)));
      });
      const health = await fetch(`${http}/api/health`);
      expect(health.status).toBe(200);
      const page = await fetch(`${http}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/<div id="app">/);
    } finally {
      child.kill('SIGTERM');
    }
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref());
    const code = await Promise.race([exited, timeout]);
    if (code === 'timeout') child.kill('SIGKILL');
    expect(code, out).toBe(0);
    // The prebuilt bundle was still fresh, so the hub ran it as built (not rebuilt, no tsx).
    expect(statSync(bundle).mtimeMs).toBe(bundleBuilt);
  }, 180_000);
});
