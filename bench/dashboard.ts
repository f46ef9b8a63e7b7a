// Dashboard figures: `npm run bench:dashboard`. Prints, never fails on timing.
//
// - Bundle: the initial JS and CSS (what index.html loads) gzip-compressed, and the chunks the
//   overview pulls in on demand (ECharts is one of them).
// - With 10,000 cases and 5,000 devices in the store (PostgreSQL 15, durable defaults; the embedded
//   store when PostgreSQL is missing, said so), in headless Debian Chromium on loopback, a fresh
//   browser context per run (cold HTTP cache): time to first contentful paint and to interactive
//   (the page's data drawn: KPI tiles filled, map canvas and feed for the overview; the first page
//   of rows for the inbox), median and max of BENCH_DASHBOARD_RUNS (5) runs.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createHub, loadConfig } from '../hub/index.ts';
import { silentLogger } from '../kernel/index.ts';
import { createApiClient, demoDistrict } from '../simulators/index.ts';
import { hasChromium, launchChromium } from '../test/support/browser.ts';
import { ensureUi, UI_DIST } from '../web/ui-bundle.ts';
import { log, PgHolder } from './env.ts';

const CASES = Number(process.env.BENCH_DASHBOARD_CASES ?? 10_000);
const DEVICES = Number(process.env.BENCH_DASHBOARD_DEVICES ?? 5_000);
const RUNS = Number(process.env.BENCH_DASHBOARD_RUNS ?? 5);
const ADMIN = 'bench-admin-token-0123456789abcdef';
const PASSWORD = 'bench-passphrase-5521';

function bundleFigures() {
  const html = readFileSync(join(UI_DIST, 'index.html'), 'utf8');
  const initial = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
  const size = (f: string) => {
    const b = readFileSync(join(UI_DIST, f));
    return { raw: b.length, gzip: gzipSync(b, { level: 9 }).length };
  };
  const all = readdirSync(join(UI_DIST, 'assets')).map((f) => `assets/${f}`);
  const sum = (files: string[]) =>
    files.map(size).reduce((a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip }), { raw: 0, gzip: 0 });
  return {
    initial,
    initialJs: sum(initial.filter((f) => f.endsWith('.js'))),
    initialCss: sum(initial.filter((f) => f.endsWith('.css'))),
    allJs: sum(all.filter((f) => f.endsWith('.js'))),
    largest: all
      .filter((f) => f.endsWith('.js'))
      .map((f) => ({ f, ...size(f) }))
      .sort((a, b) => b.gzip - a.gzip)
      .slice(0, 3),
  };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  await ensureUi();
  const b = bundleFigures();
  log(
    `bundle: initial JS ${kb(b.initialJs.gzip)} gzip (${kb(b.initialJs.raw)} raw), CSS ${kb(b.initialCss.gzip)} gzip; all JS ${kb(b.allJs.gzip)} gzip`,
  );
  for (const l of b.largest)
    log(`  chunk ${l.f}: ${kb(l.gzip)} gzip (${b.initial.includes(l.f) ? 'initial' : 'loaded on demand'})`);
  if (!hasChromium) {
    log('chromium not installed (apt-get install -y chromium): page timings skipped');
    return;
  }

  const pg = new PgHolder();
  const databaseUrl = pg.available() ? await pg.database() : undefined;
  if (!databaseUrl) log('PostgreSQL not installed: the embedded store is used');
  const dataDir = mkdtempSync(join(tmpdir(), 'gridhub-bench-ui-'));
  const hub = createHub(
    loadConfig({
      overrides: { dataDir, databaseUrl, httpPort: 0, mqttPort: 0, adminToken: ADMIN, logLevel: 'silent' },
    }),
    { logger: silentLogger() },
  );
  const urls = await hub.start();
  const client = createApiClient({ baseUrl: urls.httpUrl, token: ADMIN, timeoutMs: 300_000 });
  const api = (method: string, path: string, body?: unknown) => client.request(method, path, body);
  try {
    const district = demoDistrict();
    await api('PUT', '/api/grids', district.grids);
    await api('POST', '/api/users', {
      id: 'dispatcher',
      name: 'Bench',
      role: 'dispatcher',
      password: PASSWORD,
    });
    // Devices: spread over the district's bounding box (placed in their grids by the registry).
    const t0 = Date.now();
    const xs = district.grids.features.flatMap((f) => f.geometry.coordinates[0]!.map((p) => p[0]));
    const ys = district.grids.features.flatMap((f) => f.geometry.coordinates[0]!.map((p) => p[1]));
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const profiles = ['waste-container', 'air-quality', 'noise-level', 'camera'] as const;
    const registry = hub.parts.registry;
    for (let i = 0; i < DEVICES; i++) {
      await registry.devices.create({
        id: `dev-${String(i).padStart(5, '0')}`,
        profile: profiles[i % profiles.length]!,
        location: {
          lng: x0 + (((i * 7919) % 1000) / 1000) * (x1 - x0),
          lat: y0 + (((i * 104729) % 1000) / 1000) * (y1 - y0),
        },
      });
    }
    // Cases: one statement, a mix of statuses, urgencies, categories and grids over the last week.
    const grids = district.grids.features.map((f) => f.properties.code);
    await hub.parts.store.db.query(
      `INSERT INTO cases (id, source, status, category, grid_code, urgency, description, opened_at, deadline,
                          closed_at, last_seen_at, state)
       SELECT id, 'report', status, category, grid, urgency, 'bench case', opened, opened + interval '8 hours',
              CASE WHEN status = 'closed' THEN opened + interval '6 hours' END, opened,
              jsonb_build_object('status', status, 'gridCode', grid, 'escalationLevel', 'grid', 'assignee', NULL,
                'deferredFrom', NULL, 'deferredAt', NULL,
                'deadline', (extract(epoch FROM opened + interval '8 hours') * 1000)::bigint,
                'registeredAt', (extract(epoch FROM opened) * 1000)::bigint, 'dispatchedAt', NULL,
                'handledAt', NULL, 'verifiedAt', NULL,
                'closedAt', CASE WHEN status = 'closed' THEN (extract(epoch FROM opened + interval '6 hours') * 1000)::bigint END,
                'reworkCount', 0)
         FROM (SELECT 'B' || lpad(i::text, 6, '0') AS id,
                      (ARRAY['registered','dispatched','processing','handled','closed','closed','closed'])[1 + i % 7] AS status,
                      (ARRAY['0101','0102','0401','0303','0301'])[1 + i % 5] AS category,
                      ($1::text[])[1 + i % array_length($1::text[], 1)] AS grid,
                      CASE WHEN i % 10 = 0 THEN 'urgent' ELSE 'normal' END AS urgency,
                      now() - make_interval(mins => i) AS opened
                 FROM generate_series(1, $2::int) i) s`,
      [grids, CASES],
    );
    log(
      `store: ${DEVICES} devices and ${CASES} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s (${databaseUrl ? 'PostgreSQL' : 'PGlite'})`,
    );

    const browser = await launchChromium();
    const pages = [
      {
        path: '/overview',
        ready: () => {
          const d = (globalThis as any).document;
          return (
            /\d/.test(d.querySelector('[data-testid=kpi-open] .tile-value')?.textContent ?? '') &&
            /%/.test(d.querySelector('[data-testid=kpi-closed-rate] .tile-value')?.textContent ?? '') &&
            !!d.querySelector('[data-testid=overview-map] canvas') &&
            d.querySelectorAll('[data-testid=case-feed] li').length > 0
          );
        },
      },
      {
        path: '/cases',
        ready: () => (globalThis as any).document.querySelectorAll('[data-testid=inbox] tbody tr').length > 0,
      },
    ];
    for (const p of pages) {
      const fcp: number[] = [];
      const tti: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const context = await browser.newContext({
          viewport: { width: 1920, height: 1080 },
          locale: 'zh-CN',
        });
        const page = await context.newPage();
        await page.goto(`${urls.httpUrl}/`);
        await page.locator('#username').fill('dispatcher');
        await page.locator('#password').fill(PASSWORD);
        await page.locator('button[type=submit]').click();
        await page.locator('[data-testid=who]').waitFor({ state: 'attached' });
        await page.goto(`${urls.httpUrl}${p.path}`);
        await page.waitForFunction(p.ready, undefined, { timeout: 120_000, polling: 'raf' });
        const t = await page.evaluate(() => {
          const perf = (globalThis as any).performance;
          return {
            now: perf.now(),
            fcp: perf.getEntriesByName('first-contentful-paint')[0]?.startTime ?? Number.NaN,
          };
        });
        fcp.push(t.fcp);
        tti.push(t.now);
        await context.close();
      }
      log(
        `${p.path.padEnd(10)} first render ${median(fcp).toFixed(0)} ms (max ${Math.max(...fcp).toFixed(0)}), interactive ${median(tti).toFixed(0)} ms (max ${Math.max(...tti).toFixed(0)}) over ${RUNS} cold loads`,
      );
    }
    await browser.close();
  } finally {
    await hub.stop();
    await pg.drop(databaseUrl).catch(() => {});
    await pg.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
