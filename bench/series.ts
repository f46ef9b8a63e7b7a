// Figure 3 — series query: one device with N days of 1-minute data for one key, inserted directly
// with one `unnest` INSERT after the hub migrated the schema, then
// GET /api/devices/:id/series?bucket=1h&agg=avg timed over HTTP. On the TimescaleDB PGlite build the
// hourly continuous aggregate is measured before and after refreshing it.

import { performance } from 'node:perf_hooks';
import { ADMIN_TOKEN, registerDevices, timedGet } from './api.ts';
import { type CpuUse, cpuSample, cpuUse } from './cpu.ts';
import { type Ctx, log } from './env.ts';
import type { Started, Target } from './hub-child.ts';
import { type Child, startChild } from './proc.ts';
import { fmt, summarize } from './stats.ts';

export type SeriesStore = Extract<Target, 'pg' | 'pglite' | 'timescale'>;

export interface Timing {
  requests: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export interface SeriesRun {
  store: SeriesStore;
  dialect?: string;
  rows: number;
  insertSeconds: number;
  points: number;
  timing: Timing;
  /** Cores in use while the timed requests ran (other = not the benchmark's processes). */
  cpu: CpuUse;
  /** TimescaleDB: before the continuous aggregates were refreshed (real-time aggregation only). */
  beforeRefresh?: Timing;
  refreshSeconds?: { telemetry_1m: number; telemetry_1h: number };
}

export interface SeriesResult {
  runs: SeriesRun[];
  errors: { store: SeriesStore; error: string }[];
}

const MINUTE = 60_000;
const DEVICE = 'series-aq-1';
const KEY = 'pm10';

async function measure(
  httpUrl: string,
  path: string,
  warmup: number,
  requests: number,
  budgetMs = Number.POSITIVE_INFINITY,
): Promise<{ timing: Timing; points: number }> {
  let points = 0;
  for (let i = 0; i < warmup; i++) points = (await timedGet(httpUrl, path)).body.points.length;
  const samples: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < requests && performance.now() - t0 < budgetMs; i++) {
    const r = await timedGet(httpUrl, path);
    points = r.body.points.length;
    samples.push(r.ms);
  }
  return { timing: { requests: samples.length, ...summarize(samples) }, points };
}

async function timedQuery(hub: Child, sql: string, params?: unknown[]): Promise<number> {
  const t0 = performance.now();
  await hub.call('query', { sql, params }, 300_000);
  return (performance.now() - t0) / 1000;
}

async function runStore(ctx: Ctx, store: SeriesStore): Promise<SeriesRun> {
  const k = ctx.knobs;
  const databaseUrl = store === 'pg' ? await ctx.pg.database() : undefined;
  log(`series/${store}: starting hub`);
  const hub = startChild('./hub-child.ts', {
    quietLogs: true,
    name: `hub-series-${store}`,
    cpu: k.pin ? 0 : undefined,
  });
  try {
    const started = await hub.call<Started>('start', { target: store, databaseUrl, adminToken: ADMIN_TOKEN });
    const httpUrl = started.httpUrl!;
    await registerDevices(httpUrl, [DEVICE], { profile: 'air-quality', concurrency: 1 });

    const rows = Math.round(k.seriesDays * 24 * 60);
    const end = Math.floor(Date.now() / MINUTE) * MINUTE;
    const start = end - rows * MINUTE;
    const ts = new Array<number>(rows);
    const values = new Array<number>(rows);
    for (let i = 0; i < rows; i++) {
      ts[i] = start + i * MINUTE;
      // A daily cycle with noise, within the pm10 range.
      values[i] = 60 + 40 * Math.sin((2 * Math.PI * i) / 1440) + Math.random() * 10;
    }
    const insertSeconds = await timedQuery(
      hub,
      `INSERT INTO telemetry (ts, device_id, key, value)
       SELECT to_timestamp(t / 1000.0), $2, $3, v FROM unnest($1::float8[], $4::float8[]) AS u(t, v)`,
      [ts, DEVICE, KEY, values],
    );
    log(`series/${store} (${started.dialect}): inserted ${fmt(rows)} rows in ${insertSeconds.toFixed(2)} s`);

    const q = new URLSearchParams({
      key: KEY,
      from: new Date(start).toISOString(),
      to: new Date(end).toISOString(),
      bucket: '1h',
      agg: 'avg',
    });
    const path = `/api/devices/${DEVICE}/series?${q}`;
    const run: Partial<SeriesRun> = { store, dialect: started.dialect, rows, insertSeconds };

    if (started.dialect === 'timescale') {
      // Nothing is materialised yet: the query aggregates the raw rows in real time. Bounded.
      const before = await measure(httpUrl, path, 3, Math.min(k.seriesRequests, 50), 15_000);
      run.beforeRefresh = before.timing;
      log(
        `series/${store}: before refresh p50 ${fmt(before.timing.p50, 1)} ms, p99 ${fmt(before.timing.p99, 1)} ms` +
          ` (${before.timing.requests} requests, ${before.points} points)`,
      );
      const m1 = await timedQuery(hub, `CALL refresh_continuous_aggregate('telemetry_1m', NULL, NULL)`);
      const h1 = await timedQuery(hub, `CALL refresh_continuous_aggregate('telemetry_1h', NULL, NULL)`);
      run.refreshSeconds = { telemetry_1m: m1, telemetry_1h: h1 };
      log(
        `series/${store}: refreshed telemetry_1m in ${m1.toFixed(2)} s, telemetry_1h in ${h1.toFixed(2)} s`,
      );
    }

    const c0 = cpuSample(started.pid, []);
    const { timing, points } = await measure(httpUrl, path, k.seriesWarmup, k.seriesRequests);
    const cpu = cpuUse(c0, cpuSample(started.pid, []));
    if (cpu.other > 0.25)
      log(
        `series/${store}: note — ${fmt(cpu.other, 2)} cores were busy outside the benchmark's processes; figures may be high`,
      );
    log(
      `series/${store}: ${timing.requests} requests, ${points} points: p50 ${fmt(timing.p50, 1)} ms,` +
        ` p95 ${fmt(timing.p95, 1)} ms, p99 ${fmt(timing.p99, 1)} ms`,
    );
    return { ...run, points, timing, cpu } as SeriesRun;
  } finally {
    await hub.stop();
    await ctx.pg.drop(databaseUrl).catch((err) => log(`could not drop the database: ${err.message}`));
  }
}

export async function benchSeries(ctx: Ctx): Promise<SeriesResult> {
  const runs: SeriesRun[] = [];
  const errors: SeriesResult['errors'] = [];
  for (const s of ctx.knobs.seriesStores) {
    if (s !== 'pg' && s !== 'pglite' && s !== 'timescale')
      throw new Error(`BENCH_SERIES_STORES: unknown store ${s}`);
    if (s === 'pg' && !ctx.pg.available()) {
      log('series: PostgreSQL server binaries not found; skipping the PostgreSQL run');
      continue;
    }
    try {
      runs.push(await runStore(ctx, s));
    } catch (err) {
      log(`series/${s}: FAILED — ${(err as Error).stack ?? err}`);
      errors.push({ store: s, error: String((err as Error).message ?? err) });
    }
  }
  return { runs, errors };
}
