/**
 * The dashboard's built bundle (web/ui/dist, built by `vite build`; never committed). The hub
 * serves it at `/`; `gridhub demo` and the browser tests build it when it is missing or older than
 * its sources, `gridhub start` only says so (a production install builds it at `npm ci`, through
 * the `prepare` script).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
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
  await vite.build({ configFile: join(UI_ROOT, 'vite.config.ts'), logLevel: 'warn' });
}

/** Builds when missing or stale; returns what it did. */
export async function ensureUi(): Promise<'ok' | 'built'> {
  if (uiBundleState() === 'ok') return 'ok';
  await buildUi();
  return 'built';
}
