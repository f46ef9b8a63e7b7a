// Figure 1 — end-to-end ingest: N devices, each its own MQTT connection and access token, publish
// QoS 1 air-quality telemetry (3 readings per message) as fast as the broker acknowledges. The hub
// acknowledges a QoS 1 message only once its readings are committed (durable acks), so readings per
// second are counted from the store side (gridhub_rows_written_total{table="telemetry"} before and
// after the window) and cross-checked with count(*). The same load against a bare Aedes broker gives
// the ceiling: ratio = hub ÷ bare.

import { performance } from 'node:perf_hooks';
import { LOAD_DEFAULT_KEYS as READINGS_PER_MESSAGE } from '../simulators/index.ts';
import {
  ADMIN_TOKEN,
  deleteRule,
  type IngestMetrics,
  ingestMetrics,
  listRules,
  registerDevices,
  timedGet,
} from './api.ts';
import { type CpuUse, cpuSample, cpuUse } from './cpu.ts';
import { type Ctx, log } from './env.ts';
import { LoadFleet } from './fleet.ts';
import type { Started, Target } from './hub-child.ts';
import { startChild } from './proc.ts';
import { fmt, sleep, summarize } from './stats.ts';

export type IngestTarget = Extract<Target, 'pg' | 'pglite' | 'pglite-main' | 'bare'>;
type HubTarget = Exclude<IngestTarget, 'bare'>;
const HUB_TARGETS: readonly string[] = ['pg', 'pglite', 'pglite-main'] satisfies HubTarget[];

export interface IngestRun {
  target: IngestTarget;
  /** What the readings/s figure counts. */
  source: 'store (rows written metric)' | 'client PUBACKs × 3';
  devices: number;
  connected: number;
  inflightPerConnection: number;
  windowSeconds: number;
  readingsPerSec: number;
  /** Readings acknowledged to the clients per second (PUBACKs × 3) in the same window. */
  ackedReadingsPerSec: number;
  messagesPerSec: number;
  ackLatencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  errors: number;
  registerSeconds?: number;
  /** Enabled hub rules that apply to the benchmark's air-quality devices (evaluated on every message). */
  rules?: string[];
  connectSeconds: number;
  /** Total rows in the telemetry table at the end (count(*)) vs the hub's own counter. */
  storeRows?: number;
  metricRows?: number;
  drained: boolean;
  /** Cores in use during the window, by process. */
  cpu: CpuUse;
  /** CPU time per acknowledged message: the hub (or bare broker) process, and the PostgreSQL server. */
  cpuMicrosPerMessage: { hubProcess: number; postgres: number };
  /** The hub's store writer over the window, from gridhub_flush_seconds (hub runs only). */
  writer?: {
    flushesPerSec: number;
    readingsPerFlush: number;
    meanFlushMs: number;
    /** Share of wall time inside a batch write; near 1 means the one-write-at-a-time flush is the limit. */
    busyFraction: number;
    pushbacks: number;
    /** Batches that held a reading already stored, so were written twice (the second time with ON CONFLICT). */
    redeliveredBatches: number;
  };
  hubPid?: number;
  loadPids?: number[];
  /** The load was paced at this many messages/s (half the PostgreSQL hub's closed-loop rate), not a closed loop. */
  pacedAt?: number;
  /** API latency while the load runs (part `api` only): one request at a time, a short pause between. */
  api?: Record<'cases' | 'series', ApiLatency>;
}

export interface ApiLatency {
  path: string;
  requests: number;
  failed: number;
  firstError?: string;
  ms: { p50: number; p95: number; p99: number; max: number };
}

/** Pause between two API requests of the probe: a dashboard's polling, not a second load generator. */
const PROBE_GAP_MS = 20;

/** Times GET requests against `paths` in turn until `until()` says stop. */
async function probeApi(httpUrl: string, paths: Record<'cases' | 'series', string>, until: () => boolean) {
  const samples = { cases: [] as number[], series: [] as number[] };
  const failed = { cases: 0, series: 0 };
  const firstError: Partial<Record<'cases' | 'series', string>> = {};
  while (!until()) {
    for (const which of ['cases', 'series'] as const) {
      try {
        samples[which].push((await timedGet(httpUrl, paths[which])).ms);
      } catch (err) {
        failed[which]++;
        firstError[which] ??= (err as Error).message;
      }
      await sleep(PROBE_GAP_MS);
    }
  }
  const out = {} as Record<'cases' | 'series', ApiLatency>;
  for (const which of ['cases', 'series'] as const) {
    const s = samples[which];
    const sum = summarize(s);
    out[which] = {
      path: paths[which],
      requests: s.length,
      failed: failed[which],
      firstError: firstError[which],
      ms: { p50: sum.p50, p95: sum.p95, p99: sum.p99, max: s.length ? Math.max(...s) : Number.NaN },
    };
  }
  return out;
}

export interface IngestResult {
  layout: string;
  runs: IngestRun[];
  errors: { target: IngestTarget; error: string }[];
  /** hub readings/s ÷ bare-broker readings/s, per store. */
  ratios: Partial<Record<HubTarget, number>>;
  /** bare-broker CPU per message ÷ hub-process CPU per message (1 = the hub costs what the broker does). */
  cpuRatios: Partial<Record<HubTarget, number>>;
  /**
   * The same with the PostgreSQL hub and the bare broker both paced at half the hub's closed-loop
   * rate: CPU per message falls as a broker's load rises (more messages per socket read and per
   * write), so this compares both doing the same work per second.
   */
  cpuRatioAtHubRate?: number;
  /** The same at `BENCH_PACE_MODERATE` messages/s (information: no target). */
  cpuRatioModerate?: number;
  /** Embedded ingest with the store in its worker ÷ on the main thread, same run (issue 13: ≥ 1.5). */
  embeddedWorkerGain?: number;
}

export function ingestLayout(ctx: Ctx): string {
  const k = ctx.knobs;
  return [
    `hub (or bare Aedes) in its own child process${k.pin ? ' pinned to CPU 0' : ''}`,
    `load generator in ${k.loadProcs} child process${k.loadProcs > 1 ? 'es' : ''}${k.pin ? ' pinned to CPU 1' : ''}` +
      ` (${k.devices} connections, ${k.inflight} QoS 1 messages in flight each, TCP_NODELAY ${k.noDelay ? 'on' : 'off'})`,
    `hub rules ${k.rules === 'off' ? 'deleted (BENCH_RULES=off)' : 'as seeded'}`,
    'orchestrator (registration over HTTP, /metrics scraping) in the parent process',
    'PostgreSQL server processes separate, unpinned',
  ].join('; ');
}

export async function runTarget(
  ctx: Ctx,
  target: IngestTarget,
  opts: { probeApi?: boolean; pace?: number } = {},
): Promise<IngestRun> {
  const k = ctx.knobs;
  const part = opts.probeApi ? 'api' : 'ingest';
  const databaseUrl = target === 'pg' ? await ctx.pg.database() : undefined;
  log(`${part}/${target}: starting ${target === 'bare' ? 'bare Aedes broker' : `hub on ${target}`}`);
  const hub = startChild('./hub-child.ts', {
    quietLogs: true,
    name: `hub-${target}`,
    cpu: k.pin ? 0 : undefined,
    nofile: k.devices + 1024,
    // One directory per target: the tsx loader thread writes a profile of its own (the smaller file).
    nodeArgs: [
      ...k.hubNodeArgs,
      ...(k.hubProf ? ['--cpu-prof', '--cpu-prof-dir', `${k.hubProf}/${target}`] : []),
    ],
  });
  let fleet: LoadFleet | undefined;
  try {
    const started = await hub.call<Started>('start', { target, databaseUrl, adminToken: ADMIN_TOKEN });
    const ids = Array.from({ length: k.devices }, (_, i) => `aq-${String(i).padStart(5, '0')}`);
    let tokens = ids;
    let registerSeconds: number | undefined;
    let rulesForProfile: string[] | undefined;
    if (started.httpUrl) {
      const reg = await registerDevices(started.httpUrl, ids, {
        profile: 'air-quality',
        concurrency: k.registerConcurrency,
      });
      tokens = reg.tokens;
      registerSeconds = reg.ms / 1000;
      log(`${part}/${target}: registered ${ids.length} devices in ${(reg.ms / 1000).toFixed(1)} s`);
      let rules = await listRules(started.httpUrl);
      if (k.rules === 'off') {
        for (const r of rules) await deleteRule(started.httpUrl, r.id);
        rules = await listRules(started.httpUrl);
      }
      rulesForProfile = rules
        .filter(
          (r) => r.enabled !== false && (!r.appliesTo?.profile || r.appliesTo.profile === 'air-quality'),
        )
        .map((r) => r.id);
      log(
        `${part}/${target}: ${rulesForProfile.length} enabled rule(s) apply to air-quality devices` +
          (rulesForProfile.length ? ` (${rulesForProfile.join(', ')})` : '') +
          (k.rules === 'off' ? ' — BENCH_RULES=off deleted the rest' : ''),
      );
    }
    fleet = LoadFleet.start({
      url: started.mqttUrl,
      tokens,
      procs: k.loadProcs,
      idPrefix: `bench-${target}-`,
      inflight: k.inflight,
      keepalive: 60,
      connectConcurrency: k.connectConcurrency,
      noDelay: k.noDelay,
      cpu: k.pin ? 1 : undefined,
      label: `${part}/${target}`,
    });
    const conn = await fleet.connect();
    log(
      `${part}/${target}: ${conn.connected}/${k.devices} connected in ${(conn.ms / 1000).toFixed(1)} s` +
        (conn.failed ? ` (${conn.failed} failed: ${conn.firstError})` : ''),
    );
    if (conn.connected === 0) throw new Error(`no connection succeeded: ${conn.firstError}`);

    const isHub = started.httpUrl !== undefined;
    const httpUrl = started.httpUrl ?? '';
    const loadPids = fleet.pids;
    const none: IngestMetrics = {
      rows: 0,
      flushSeconds: 0,
      flushes: 0,
      pushback: 0,
      redelivered: 0,
      queueDepth: 0,
      loopP50Ms: 0,
      loopP99Ms: 0,
      loopMaxMs: 0,
    };
    const sample = async () => {
      const hm = isHub ? await ingestMetrics(httpUrl) : none;
      const snap = await fleet!.snapshot();
      return { t: performance.now(), rows: hm.rows, hm, snap, cpu: cpuSample(started.pid, loadPids) };
    };
    type Sample = Awaited<ReturnType<typeof sample>>;
    const rate = (a: Sample, b: Sample) => {
      const s = (b.t - a.t) / 1000;
      const flushes = b.hm.flushes - a.hm.flushes;
      return {
        stored: (b.rows - a.rows) / s,
        acked: ((b.snap.acked - a.snap.acked) * READINGS_PER_MESSAGE) / s,
        cpu: cpuUse(a.cpu, b.cpu),
        flushesPerSec: flushes / s,
        meanFlushMs: flushes ? ((b.hm.flushSeconds - a.hm.flushSeconds) * 1000) / flushes : Number.NaN,
        readingsPerFlush: flushes ? (b.rows - a.rows) / flushes : Number.NaN,
        /** Share of the wall time the (single) store writer spent inside a batch write. */
        writerBusy: (b.hm.flushSeconds - a.hm.flushSeconds) / s,
        loopP50Ms: b.hm.loopP50Ms,
        loopP99Ms: b.hm.loopP99Ms,
        loopMaxMs: b.hm.loopMaxMs,
      };
    };
    const describe = (r: ReturnType<typeof rate>) =>
      (isHub
        ? `${fmt(r.stored)} readings/s stored, ${fmt(r.acked)} acked · ${fmt(r.flushesPerSec, 1)} flushes/s of ${fmt(r.readingsPerFlush)}, ${fmt(r.meanFlushMs, 1)} ms each, writer busy ${fmt(100 * r.writerBusy)} %, loop delay p50 ${fmt(r.loopP50Ms)} / p99 ${fmt(r.loopP99Ms)} / max ${fmt(r.loopMaxMs)} ms`
        : `${fmt(r.acked)} readings/s acked`) +
      ` · cores: ${target === 'bare' ? 'broker' : 'hub'} ${fmt(r.cpu.hub, 2)}, load ${fmt(r.cpu.load, 2)}, postgres ${fmt(r.cpu.postgres, 2)}, other ${fmt(r.cpu.other, 2)}`;

    await fleet.start(opts.pace ? { kind: 'rate', messagesPerSec: opts.pace } : undefined);
    log(
      `${part}/${target}: publishing${opts.pace ? ` at ${fmt(opts.pace)} messages/s` : ''}; warm-up ${k.warmup} s`,
    );
    let prev = await sample();
    const tick = 5000;
    const warmEnd = performance.now() + k.warmup * 1000;
    while (performance.now() < warmEnd) {
      await sleep(Math.min(tick, warmEnd - performance.now()));
      const cur = await sample();
      log(`${part}/${target}:   warm-up ${describe(rate(prev, cur))}`);
      prev = cur;
    }

    await fleet.mark();
    const first = await sample();
    prev = first;
    const end = first.t + (opts.probeApi ? k.apiSeconds : k.seconds) * 1000;
    const probing =
      opts.probeApi && isHub
        ? probeApi(
            httpUrl,
            {
              cases: '/api/cases?limit=50',
              series: `/api/devices/${ids[0]}/series?key=pm10&bucket=1m&agg=avg&from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`,
            },
            () => performance.now() >= end,
          )
        : undefined;
    while (performance.now() < end) {
      await sleep(Math.max(0, Math.min(tick, end - performance.now())));
      const cur = await sample();
      log(`${part}/${target}:   ${describe(rate(prev, cur))}`);
      prev = cur;
    }
    const last = prev;
    const api = await probing;
    const windowSeconds = (last.t - first.t) / 1000;
    const snap = last.snap;
    const whole = rate(first, last);
    const cpu = whole.cpu;
    const stop = await fleet.stopPublishing();
    await fleet.stop();
    fleet = undefined;

    let storeRows: number | undefined;
    let metricRows: number | undefined;
    if (isHub) {
      // Let the last batch commit before counting.
      await sleep(300);
      metricRows = (await ingestMetrics(httpUrl)).rows;
      const r = await hub.call<{ n: string | number }[]>('query', {
        sql: 'SELECT count(*) AS n FROM telemetry',
      });
      storeRows = Number(r[0]?.n);
    }
    const ackedRate = (snap.acked * READINGS_PER_MESSAGE) / windowSeconds;
    const run: IngestRun = {
      target,
      ...(opts.pace ? { pacedAt: opts.pace } : {}),
      source: isHub ? 'store (rows written metric)' : 'client PUBACKs × 3',
      devices: k.devices,
      connected: conn.connected,
      inflightPerConnection: k.inflight,
      windowSeconds,
      readingsPerSec: isHub ? (last.rows - first.rows) / windowSeconds : ackedRate,
      ackedReadingsPerSec: ackedRate,
      messagesPerSec: snap.acked / windowSeconds,
      ackLatencyMs: {
        p50: snap.hist.percentile(50),
        p90: snap.hist.percentile(90),
        p99: snap.hist.percentile(99),
        p999: snap.hist.percentile(99.9),
        max: snap.hist.percentile(100),
      },
      errors: snap.errors,
      registerSeconds,
      rules: rulesForProfile,
      connectSeconds: conn.ms / 1000,
      storeRows,
      metricRows,
      drained: stop.drained,
      cpu,
      cpuMicrosPerMessage: {
        hubProcess: (cpu.hub / (snap.acked / windowSeconds)) * 1e6,
        postgres: (cpu.postgres / (snap.acked / windowSeconds)) * 1e6,
      },
      writer: isHub
        ? {
            flushesPerSec: whole.flushesPerSec,
            readingsPerFlush: whole.readingsPerFlush,
            meanFlushMs: whole.meanFlushMs,
            busyFraction: whole.writerBusy,
            pushbacks: last.hm.pushback - first.hm.pushback,
            redeliveredBatches: last.hm.redelivered - first.hm.redelivered,
          }
        : undefined,
      hubPid: started.pid,
      loadPids,
      api,
    };
    log(
      `${part}/${target}: ${fmt(run.readingsPerSec)} readings/s over ${windowSeconds.toFixed(1)} s` +
        ` (ack p50 ${fmt(run.ackLatencyMs.p50, 1)} ms, p99 ${fmt(run.ackLatencyMs.p99, 1)} ms;` +
        ` ${fmt(run.cpuMicrosPerMessage.hubProcess, 1)} µs ${isHub ? 'hub' : 'broker'} CPU per message)` +
        (storeRows !== undefined
          ? `; store holds ${fmt(storeRows)} rows, metric says ${fmt(metricRows)}`
          : ''),
    );
    if (api)
      for (const [which, a] of Object.entries(api))
        log(
          `${part}/${target}: GET ${a.path} during ingest: p50 ${fmt(a.ms.p50, 1)} ms, p99 ${fmt(a.ms.p99, 1)} ms, max ${fmt(a.ms.max, 1)} ms (${a.requests} requests, ${a.failed} failed${a.firstError ? `: ${a.firstError}` : ''}) [${which}]`,
        );
    if (cpu.other > 0.25)
      log(
        `${part}/${target}: note — ${fmt(cpu.other, 2)} cores were busy outside the benchmark's processes during the window; figures may be low`,
      );
    return run;
  } finally {
    await fleet?.stop();
    await hub.stop();
    await ctx.pg.drop(databaseUrl).catch((err) => log(`could not drop the database: ${err.message}`));
  }
}

/**
 * Part `api`: the ingest load on each store (no bare broker) with a probe timing `GET /api/cases` and a
 * series query, one request at a time, through the window.
 */
export async function benchApi(ctx: Ctx): Promise<IngestResult> {
  const layout = `${ingestLayout(ctx)}; API probe in the orchestrator, one request at a time, ${PROBE_GAP_MS} ms apart`;
  const runs: IngestRun[] = [];
  const errors: IngestResult['errors'] = [];
  for (const s of ctx.knobs.ingestStores) {
    const t = hubTarget(s);
    if (t === 'pg' && !ctx.pg.available()) continue;
    try {
      runs.push(await runTarget(ctx, t, { probeApi: true }));
    } catch (err) {
      log(`api/${s}: FAILED — ${(err as Error).stack ?? err}`);
      errors.push({ target: t, error: String((err as Error).message ?? err) });
    }
  }
  return { layout, runs, errors, ratios: {}, cpuRatios: {} };
}

export async function benchIngest(ctx: Ctx): Promise<IngestResult> {
  const layout = ingestLayout(ctx);
  log(`ingest: layout — ${layout}`);
  const targets: IngestTarget[] = [];
  for (const s of ctx.knobs.ingestStores) {
    const t = hubTarget(s);
    if (t === 'pg' && !ctx.pg.available()) {
      log('ingest: PostgreSQL server binaries not found; skipping the PostgreSQL run');
      continue;
    }
    targets.push(t);
  }
  targets.push('bare');
  const runs: IngestRun[] = [];
  const errors: IngestResult['errors'] = [];
  for (const t of ctx.knobs.pace > 0 ? [] : targets) {
    try {
      runs.push(await runTarget(ctx, t));
    } catch (err) {
      log(`ingest/${t}: FAILED — ${(err as Error).stack ?? err}`);
      errors.push({ target: t, error: String((err as Error).message ?? err) });
    }
  }
  const bare = runs.find((r) => r.target === 'bare');
  // CPU per message at the same offered load: the PostgreSQL hub and the bare broker each paced at
  // half of the hub's closed-loop rate (a broker's CPU per message falls as its load rises, so the
  // closed-loop figures compare the hub at ~25k messages/s with the broker at ~60k).
  const pgRun = runs.find((r) => r.target === 'pg');
  /** The PostgreSQL hub and the bare broker paced at `pace`: bare's CPU per message ÷ the hub's. */
  const pacedPair = async (pace: number): Promise<number | undefined> => {
    const paced: Partial<Record<'pg' | 'bare', IngestRun>> = {};
    for (const t of ['pg', 'bare'] as const) {
      try {
        paced[t] = await runTarget(ctx, t, { pace });
        runs.push(paced[t]);
      } catch (err) {
        log(`ingest/${t} paced: FAILED — ${(err as Error).stack ?? err}`);
        errors.push({ target: t, error: `paced: ${String((err as Error).message ?? err)}` });
      }
    }
    return paced.pg && paced.bare && paced.pg.cpuMicrosPerMessage.hubProcess > 0
      ? paced.bare.cpuMicrosPerMessage.hubProcess / paced.pg.cpuMicrosPerMessage.hubProcess
      : undefined;
  };
  let cpuRatioAtHubRate: number | undefined;
  if (ctx.knobs.pace > 0 || (bare && pgRun && pgRun.messagesPerSec > 0))
    cpuRatioAtHubRate = await pacedPair(
      ctx.knobs.pace > 0 ? ctx.knobs.pace : Math.round(pgRun!.messagesPerSec / 2),
    );
  // And at a moderate load, where writes are small and many (group commit's per-write cost).
  let cpuRatioModerate: number | undefined;
  if (ctx.knobs.pace <= 0 && ctx.knobs.paceModerate > 0 && bare && pgRun)
    cpuRatioModerate = await pacedPair(ctx.knobs.paceModerate);
  const ratios: IngestResult['ratios'] = {};
  const cpuRatios: IngestResult['cpuRatios'] = {};
  for (const r of runs) {
    if (r.target === 'bare' || !bare || r.pacedAt !== undefined) continue;
    if (bare.readingsPerSec > 0) ratios[r.target] = r.readingsPerSec / bare.readingsPerSec;
    if (r.cpuMicrosPerMessage.hubProcess > 0)
      cpuRatios[r.target] = bare.cpuMicrosPerMessage.hubProcess / r.cpuMicrosPerMessage.hubProcess;
  }
  const worker = runs.find((r) => r.target === 'pglite');
  const mainThread = runs.find((r) => r.target === 'pglite-main');
  const embeddedWorkerGain =
    worker && mainThread && mainThread.readingsPerSec > 0
      ? worker.readingsPerSec / mainThread.readingsPerSec
      : undefined;
  return {
    layout,
    runs,
    errors,
    ratios,
    cpuRatios,
    cpuRatioAtHubRate,
    cpuRatioModerate,
    embeddedWorkerGain,
  };
}

function hubTarget(s: string): HubTarget {
  if (!HUB_TARGETS.includes(s))
    throw new Error(`BENCH_INGEST_STORES: unknown store ${s} (${HUB_TARGETS.join(', ')})`);
  return s as HubTarget;
}
