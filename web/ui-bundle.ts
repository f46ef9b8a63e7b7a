/**
 * The dashboard's built bundle (web/ui/dist, built by `vite build`; never committed). The hub
 * serves it at `/`; `gridhub demo` and the browser tests build it when it is missing or older than
 * its sources, `gridhub start` only says so (a production install builds it at `npm ci`, through
 * the `prepare` script).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const UI_ROOT = fileURLToPath(new URL('./ui/', import.meta.url));
export const UI_DIST = join(UI_ROOT, 'dist');
const INDEX = join(UI_DIST, 'index.html');

/** Newest modification time among the dashboard's sources (and the shared schemas it bundles). */
function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'dist' || e.name === 'node_modules') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(UI_ROOT);
  // The domain words the dashboard imports, and the portable kernel under them.
  walk(fileURLToPath(new URL('../domain/', import.meta.url)));
  for (const f of ['../kernel/portable.ts', '../kernel/clock.ts', '../kernel/time.ts'])
    newest = Math.max(newest, statSync(fileURLToPath(new URL(f, import.meta.url))).mtimeMs);
  return newest;
}

export function uiBundleState(): 'ok' | 'missing' | 'stale' {
  if (!existsSync(INDEX)) return 'missing';
  return statSync(INDEX).mtimeMs < newestSource() ? 'stale' : 'ok';
}

/** Builds the bundle with Vite (a dev dependency); throws with the reason when Vite is not installed. */
export async function buildUi(): Promise<void> {
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new Error(
      'the dashboard bundle is missing and Vite is not installed: run `npm ci` (with dev dependencies), then `npm run build:ui`',
    );
  }
  // Built in web/.ui-build-* (outside the sources the staleness check reads), then moved into
  // dist/ file by file, index.html last: a hub starting meanwhile (the tests start many, and
  // `npm pack` runs this) never finds dist/ without its index.html, and an index.html never names
  // an asset that is not there yet. Same-filesystem renames are atomic.
  const tmp = mkdtempSync(join(UI_ROOT, '..', '.ui-build-'));
  try {
    await vite.build({
      configFile: join(UI_ROOT, 'vite.config.ts'),
      logLevel: 'warn',
      build: { outDir: tmp, emptyOutDir: true },
    });
    const built = filesUnder(tmp).map((f) => relative(tmp, f));
    const ordered = [...built.filter((f) => f !== 'index.html'), ...built.filter((f) => f === 'index.html')];
    for (const f of ordered) {
      mkdirSync(dirname(join(UI_DIST, f)), { recursive: true });
      renameSync(join(tmp, f), join(UI_DIST, f));
    }
    // Assets of an older build (other hashes) go; the names just built stay.
    const keep = new Set(built);
    for (const f of filesUnder(UI_DIST)) if (!keep.has(relative(UI_DIST, f))) rmSync(f, { force: true });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** Builds when missing or stale; returns what it did. */
export async function ensureUi(): Promise<'ok' | 'built'> {
  if (uiBundleState() === 'ok') return 'ok';
  await buildUi();
  return 'built';
}
