// `npm ci` / `npm install` run this (the `prepare` script): builds the dashboard bundle. Without
// dev dependencies (`npm ci --omit=dev`) there is no Vite: it says so and leaves the build to a
// build stage (see the Dockerfile); the hub then says the bundle is missing. It writes to stderr:
// `npm pack --json` runs it and its stdout must stay JSON.
import { buildUi } from '../ui-bundle.ts';

try {
  await import('vite');
} catch {
  console.warn(
    'gridhub: Vite is not installed (dev dependencies omitted): the dashboard bundle was not built',
  );
  process.exit(0);
}
const t0 = Date.now();
await buildUi();
console.warn(`gridhub: dashboard bundle built in ${((Date.now() - t0) / 1000).toFixed(1)} s (web/ui/dist)`);
