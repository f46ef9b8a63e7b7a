// Figure 4 — rules.
//
// 4a, rule evaluation throughput: 10 rules per profile (the built-in templates for the profile, padded
// with variations: thresholds on other keys, windows of other lengths and aggregates, rates, sustained,
// daily counts, schedules) over BENCH_RULES_DEVICES devices (a mix of profiles), each message carrying
// its profile's keys with timestamps 1 s apart per device (BENCH_RULES_INTERVAL_MS), evaluated by the
// engine's own runtime (rules/runtime.ts, what rules/engine.ts onReadings runs: toInputs, the usesKeys
// skip, a context per message, states in the in-memory RuleStateStore, explanation and observations read
// on openings as a case would), in this process, on one core. Untimed warm-up rounds fill the windows first (BENCH_RULES_WARMUP_ROUNDS: 180
// rounds = 3 minutes of readings; 900 fill the 15-minute windows). Messages are generated untimed.
//
// 4b, reading → case latency (see benchCaseLatency below). Its background load runs in a load-generator
// child process (`load-child.ts`) at an open-loop schedule.

import { performance } from 'node:perf_hooks';
import type { MqttClient } from 'mqtt';
import {
  type ConnectResult,
  eachLimit,
  type LoadGeneratorOptions,
  type LoadGeneratorSnapshot,
  type LoadPace,
  openMqttSocket,
  LOAD_DEFAULT_KEYS as READINGS_PER_MESSAGE,
} from '../simulators/index.ts';
import { cell } from '../test/support/grids.ts';
import { ADMIN_TOKEN, registerDevices, request, scrape } from './api.ts';
import { type CpuUse, cpuSample, cpuUse } from './cpu.ts';
import { type Ctx, log, num } from './env.ts';
import type { Started } from './hub-child.ts';
import type { IngestResult } from './ingest.ts';
import { type Child, startChild } from './proc.ts';
import { RULES_PER_PROFILE, runThroughput, type ThroughputResult } from './rules-throughput.ts';
import { fmt, percentile, sleep } from './stats.ts';

// ---------------------------------------------------------------------------------------------
// 4b: reading → case latency
//
// A hub on PostgreSQL (child process, as the ingest part) with its built-in rules; background
// air-quality devices publishing QoS 1 at about half the PostgreSQL ingest rate measured by the
// ingest part (BENCH_CASE_RATE readings/s without one), open-loop from a load child (load-child.ts,
// `schedule` pace: a connection with PACED_MAX_INFLIGHT in flight skips its turn); their sites carry a high pm10Limit, so they load the rules without opening cases.
// Probe bins in this process alternate fillingLevel 0.85 (bin-full opens: a case, then occurrences
// of it) and 0.1 (clears). Two figures: the hub's own gridhub_reading_to_case_seconds histogram
// (arrival → case written, delta over the window, percentiles interpolated within buckets), and
// from outside: publish → the case event on the SSE stream GET /api/events.

export interface CaseLatencyResult {
  layout: string;
  backgroundDevices: number;
  /** Background readings/s asked for, and why that figure. */
  targetReadingsPerSec: number;
  targetSource: string;
  /** Background readings/s sent and stored (rows metric) over the window. */
  sentReadingsPerSec: number;
  storedReadingsPerSec: number;
  /** Background messages the load generator could not send (a connection had too many in flight). */
  skipped: number;
  probes: number;
  periodMs: number;
  windowSeconds: number;
  /** gridhub_reading_to_case_seconds over the window, ms. */
  hub: { count: number; p50: number; p99: number; mean: number; overMaxBucket: number };
  /** Publish → SSE case event, ms. */
  external: { count: number; p50: number; p99: number; max: number; missed: number };
  cpu: CpuUse;
}

export interface RulesResult {
  throughput?: ThroughputResult;
  /** Rule-evaluation capacity (messages/s, one core) ÷ the PostgreSQL hub's ingest messages/s. */
  capacityOverIngest?: number;
  ingestMessagesPerSec?: number;
  caseLatency?: CaseLatencyResult;
  errors: { step: 'throughput' | 'case-latency'; error: string }[];
}

const envNum = num;

export function rulesKnobs() {
  return {
    devices: envNum('BENCH_RULES_DEVICES', 10_000),
    seconds: envNum('BENCH_RULES_SECONDS', 10),
    warmupRounds: envNum('BENCH_RULES_WARMUP_ROUNDS', 180),
    intervalMs: Math.max(1, envNum('BENCH_RULES_INTERVAL_MS', 1000)),
    caseRate: envNum('BENCH_CASE_RATE', 25_000),
    caseDevices: Math.max(1, envNum('BENCH_CASE_DEVICES', 1000)),
    probes: Math.max(1, envNum('BENCH_CASE_PROBES', 40)),
    periodMs: Math.max(100, envNum('BENCH_CASE_PERIOD_MS', 1000)),
    caseSeconds: envNum('BENCH_CASE_SECONDS', 20),
  };
}

const GRID = '330102001001001';
const GRID_X0 = 120;
const GRID_Y0 = 30;

/** The `_bucket`, `_count`, `_sum` samples of a histogram from a scrape. */
function histogramOf(m: Map<string, number>, name: string) {
  const buckets: { le: number; count: number }[] = [];
  for (const [k, v] of m) {
    const x = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(k);
    if (x) buckets.push({ le: x[1] === '+Inf' ? Infinity : Number(x[1]), count: v });
  }
  buckets.sort((a, b) => a.le - b.le);
  return { buckets, count: m.get(`${name}_count`) ?? 0, sum: m.get(`${name}_sum`) ?? 0 };
}
type Histo = ReturnType<typeof histogramOf>;

/** Quantile q of the observations between two scrapes, interpolated linearly within its bucket. */
export function histogramQuantile(
  before: Histo,
  after: Histo,
  q: number,
): { value: number; beyond: boolean } {
  const cum = after.buckets.map((b, i) => ({ le: b.le, count: b.count - (before.buckets[i]?.count ?? 0) }));
  const total = cum[cum.length - 1]?.count ?? 0;
  if (total === 0) return { value: Number.NaN, beyond: false };
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of cum) {
    if (b.count >= rank) {
      if (b.le === Infinity) return { value: lower, beyond: true };
      const inBucket = b.count - below;
      return { value: lower + (b.le - lower) * (inBucket ? (rank - below) / inBucket : 0), beyond: false };
    }
    lower = b.le;
    below = b.count;
  }
  return { value: lower, beyond: true };
}

/** Server-sent events of the hub: calls `onCase` for each case event; stops with the returned function. */
function followEvents(
  httpUrl: string,
  onCase: (e: { caseId: string; action: string }, at: number) => void,
): { ready: Promise<void>; close: () => void } {
  const abort = new AbortController();
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => {
    resolveReady = r;
  });
  void (async () => {
    try {
      const res = await fetch(`${httpUrl}/api/events`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        signal: abort.signal,
      });
      if (!res.ok || !res.body) throw new Error(`GET /api/events: ${res.status}`);
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const at = performance.now();
        resolveReady();
        buf += decoder.decode(chunk, { stream: true });
        let end = buf.indexOf('\n\n');
        while (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          end = buf.indexOf('\n\n');
          if (!block.startsWith('event: case\n')) continue;
          const data = block.slice(block.indexOf('data: ') + 6);
          try {
            onCase(JSON.parse(data), at);
          } catch {}
        }
      }
    } catch (err) {
      if (!abort.signal.aborted) log(`rules/case-latency: event stream failed: ${(err as Error).message}`);
      resolveReady();
    }
  })();
  return { ready, close: () => abort.abort() };
}

/** Messages a background connection may have unacknowledged before the open-loop schedule skips it. */
const PACED_MAX_INFLIGHT = 50;

const publish = (c: MqttClient, payload: string) =>
  new Promise<void>((resolve, reject) =>
    c.publish('v1/devices/me/telemetry', payload, { qos: 1 }, (err) => (err ? reject(err) : resolve())),
  );

export async function benchCaseLatency(ctx: Ctx, ingestReadingsPerSec?: number): Promise<CaseLatencyResult> {
  const k = ctx.knobs;
  const rk = rulesKnobs();
  const target = ingestReadingsPerSec ? ingestReadingsPerSec / 2 : rk.caseRate;
  const targetSource = ingestReadingsPerSec
    ? `half the PostgreSQL ingest rate measured in this run (${fmt(ingestReadingsPerSec)} readings/s)`
    : 'BENCH_CASE_RATE (no ingest figure in this run)';
  const layout = [
    `hub on PostgreSQL in its own child process${k.pin ? ' pinned to CPU 0' : ''}, built-in rules`,
    `${rk.caseDevices} background air-quality devices at ${fmt(target)} readings/s (QoS 1, open loop) from a load child${k.pin ? ' pinned to CPU 1' : ''}`,
    `${rk.probes} probe bins in the orchestrator, one opening per ${rk.periodMs} ms each, and the SSE client`,
  ].join('; ');
  log(`rules/case-latency: ${layout}`);
  const databaseUrl = await ctx.pg.database();
  const hub = startChild('./hub-child.ts', {
    quietLogs: true,
    name: 'hub-rules',
    cpu: k.pin ? 0 : undefined,
    nofile: rk.caseDevices + rk.probes + 1024,
    nodeArgs: k.hubProf ? ['--cpu-prof', '--cpu-prof-dir', `${k.hubProf}/rules`] : [],
  });
  let load: Child | undefined;
  const probes: MqttClient[] = [];
  let events: ReturnType<typeof followEvents> | undefined;
  try {
    const started = await hub.call<Started>('start', { target: 'pg', databaseUrl, adminToken: ADMIN_TOKEN });
    const httpUrl = started.httpUrl!;
    await request(httpUrl, 'PUT', '/api/grids', {
      type: 'FeatureCollection',
      features: [cell(GRID, GRID_X0, GRID_Y0, { streetName: '清波街道', communityName: '柳翠井巷社区' })],
    });
    // Background devices: registered, their sites' PM10 limit out of reach (the rules run, never open).
    const bgIds = Array.from({ length: rk.caseDevices }, (_, i) => `bg-${String(i).padStart(5, '0')}`);
    const reg = await registerDevices(httpUrl, bgIds, {
      profile: 'air-quality',
      concurrency: k.registerConcurrency,
    });
    await eachLimit(bgIds, k.registerConcurrency, async (id) => {
      await request(httpUrl, 'PUT', `/api/devices/${id}/attributes`, { server: { pm10Limit: 1_000_000 } });
    });
    log(`rules/case-latency: ${bgIds.length} background devices registered in ${fmt(reg.ms / 1000, 1)} s`);
    // Probe bins, inside the grid.
    const probeIds = Array.from({ length: rk.probes }, (_, i) => `probe-${String(i).padStart(3, '0')}`);
    const probeTokens: string[] = [];
    for (const [i, id] of probeIds.entries()) {
      const d = await request(httpUrl, 'POST', '/api/devices', {
        id,
        profile: 'waste-container',
        location: {
          lng: GRID_X0 + 0.0001 + (i % 8) * 0.0001,
          lat: GRID_Y0 + 0.0001 + Math.floor(i / 8) * 0.00001,
        },
      });
      if (d.gridCode !== GRID) throw new Error(`probe ${id} placed in grid ${d.gridCode}, expected ${GRID}`);
      probeTokens.push(d.accessToken);
    }
    for (const [i, token] of probeTokens.entries())
      probes.push(await openMqttSocket(started.mqttUrl, { username: token, clientId: `bench-probe-${i}` }));

    // Each probe opens its case once; its case id names its events from then on. Every later
    // opening is an occurrence of that case: one event each, matched to the publishes in order.
    const probeOfCase = new Map<string, number>();
    const pending: number[][] = probes.map(() => []);
    let windowStart = Infinity;
    let windowEnd = Infinity;
    const external: number[] = [];
    events = followEvents(httpUrl, (e, at) => {
      const p = probeOfCase.get(e.caseId);
      if (p === undefined || (e.action !== 'occurrence' && e.action !== 'relapse')) return;
      const t0 = pending[p]!.shift();
      if (t0 !== undefined && t0 >= windowStart && t0 <= windowEnd) external.push(at - t0);
    });
    await events.ready;
    await Promise.all(probes.map((c) => publish(c, '{"fillingLevel":0.1}')));
    await Promise.all(probes.map((c) => publish(c, '{"fillingLevel":0.85}')));
    const deadline = performance.now() + 30_000;
    for (const [i, id] of probeIds.entries()) {
      for (;;) {
        const r = await request(httpUrl, 'GET', `/api/cases?deviceId=${id}&ruleId=bin-full`);
        const c = r.items?.[0];
        if (c) {
          probeOfCase.set(c.id, i);
          break;
        }
        if (performance.now() > deadline) throw new Error(`probe ${id}: no bin-full case within 30 s`);
        await sleep(100);
      }
    }
    await Promise.all(probes.map((c) => publish(c, '{"fillingLevel":0.1}'))); // cleared: the next 0.85 opens
    log(`rules/case-latency: ${probes.length} probe cases open`);

    // The background load.
    load = startChild('./load-child.ts', {
      name: 'rules-load',
      cpu: k.pin ? 1 : undefined,
      nofile: rk.caseDevices + 1024,
    });
    const conn = await load.call<ConnectResult>(
      'connect',
      {
        url: started.mqttUrl,
        tokens: reg.tokens,
        clientIdPrefix: 'bench-rules-load-',
        inflight: PACED_MAX_INFLIGHT,
        keepalive: 60,
        connectConcurrency: k.connectConcurrency,
        noDelay: true,
      } satisfies LoadGeneratorOptions,
      300_000,
    );
    if (conn.failed)
      throw new Error(`rules/case-latency: ${conn.failed} background connections failed: ${conn.firstError}`);
    await load.call('start', {
      kind: 'schedule',
      messagesPerSec: target / READINGS_PER_MESSAGE,
    } satisfies LoadPace);

    // Probes: each opens at its phase of the period and clears half a period later.
    let stopProbes = false;
    const probeLoops = probes.map(async (c, i) => {
      await sleep((i * rk.periodMs) / probes.length);
      let next = performance.now();
      while (!stopProbes) {
        pending[i]!.push(performance.now());
        await publish(c, '{"fillingLevel":0.85}').catch(() => {});
        await sleep(Math.max(0, next + rk.periodMs / 2 - performance.now()));
        await publish(c, '{"fillingLevel":0.1}').catch(() => {});
        next += rk.periodMs;
        await sleep(Math.max(0, next - performance.now()));
      }
    });

    log(`rules/case-latency: warm-up ${k.warmup} s`);
    await sleep(k.warmup * 1000);
    const sample = async () => ({
      t: performance.now(),
      metrics: await scrape(httpUrl),
      load: await load!.call<LoadGeneratorSnapshot>('snapshot'),
      cpu: cpuSample(started.pid, [load!.pid]),
    });
    const a = await sample();
    windowStart = a.t;
    windowEnd = a.t + rk.caseSeconds * 1000;
    const ticks = Math.max(1, Math.round(rk.caseSeconds / 5));
    for (let i = 0; i < ticks; i++) {
      await sleep(Math.max(0, a.t + ((i + 1) * rk.caseSeconds * 1000) / ticks - performance.now()));
      const s = await load.call<LoadGeneratorSnapshot>('snapshot');
      log(
        `rules/case-latency:   ${fmt(((s.sent - a.load.sent) * READINGS_PER_MESSAGE) / ((performance.now() - a.t) / 1000))} readings/s sent, ` +
          `${external.length} probe cases seen`,
      );
    }
    const b = await sample();
    windowEnd = b.t;
    stopProbes = true;
    await Promise.all(probeLoops);
    // Let the last case events of the window arrive (bounded).
    const settle = performance.now() + 5000;
    while (pending.some((q) => q.some((t0) => t0 <= windowEnd)) && performance.now() < settle)
      await sleep(50);
    const missed = pending.reduce(
      (n, q) => n + q.filter((t0) => t0 >= windowStart && t0 <= windowEnd).length,
      0,
    );
    const seconds = (b.t - a.t) / 1000;
    const name = 'gridhub_reading_to_case_seconds';
    const ha = histogramOf(a.metrics, name);
    const hb = histogramOf(b.metrics, name);
    const q50 = histogramQuantile(ha, hb, 0.5);
    const q99 = histogramQuantile(ha, hb, 0.99);
    const count = hb.count - ha.count;
    const sorted = Float64Array.from(external).sort();
    const rows = (m: Map<string, number>) => m.get('gridhub_rows_written_total{table="telemetry"}') ?? 0;
    const result: CaseLatencyResult = {
      layout,
      backgroundDevices: rk.caseDevices,
      targetReadingsPerSec: target,
      targetSource,
      sentReadingsPerSec: ((b.load.sent - a.load.sent) * READINGS_PER_MESSAGE) / seconds,
      storedReadingsPerSec: (rows(b.metrics) - rows(a.metrics)) / seconds,
      skipped: b.load.skipped - a.load.skipped,
      probes: probes.length,
      periodMs: rk.periodMs,
      windowSeconds: seconds,
      hub: {
        count,
        p50: q50.value * 1000,
        p99: q99.value * 1000,
        mean: count ? ((hb.sum - ha.sum) / count) * 1000 : Number.NaN,
        overMaxBucket: q99.beyond ? 1 : 0,
      },
      external: {
        count: sorted.length,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
        missed,
      },
      cpu: cpuUse(a.cpu, b.cpu),
    };
    log(
      `rules/case-latency: hub p50 ${fmt(result.hub.p50, 1)} ms, p99 ${fmt(result.hub.p99, 1)} ms, mean ${fmt(result.hub.mean, 1)} ms (${count} cases); ` +
        `publish → SSE p50 ${fmt(result.external.p50, 1)} ms, p99 ${fmt(result.external.p99, 1)} ms (${sorted.length}, ${missed} not seen); ` +
        `background ${fmt(result.storedReadingsPerSec)} readings/s stored · cores: hub ${fmt(result.cpu.hub, 2)}, ` +
        `load ${fmt(result.cpu.load, 2)}, postgres ${fmt(result.cpu.postgres, 2)}, other ${fmt(result.cpu.other, 2)}`,
    );
    return result;
  } finally {
    events?.close();
    await Promise.all(probes.map((c) => new Promise<void>((r) => c.end(true, () => r()))));
    await load?.stop();
    await hub.stop();
    await ctx.pg.drop(databaseUrl).catch((err) => log(`could not drop the database: ${err.message}`));
  }
}

/** Part 4: throughput, then latency; each may fail on its own. */
export async function benchRules(ctx: Ctx, ingest?: IngestResult): Promise<RulesResult> {
  const rk = rulesKnobs();
  const out: RulesResult = { errors: [] };
  const pgIngest = ingest?.runs.find((r) => r.target === 'pg' && r.pacedAt === undefined);
  try {
    log(
      `rules/throughput: ${RULES_PER_PROFILE} rules per profile × ${fmt(rk.devices)} devices, readings ${rk.intervalMs} ms apart; ` +
        `${rk.warmupRounds} warm-up rounds, then ${rk.seconds} s timed, in this process`,
    );
    const t = runThroughput({
      devices: rk.devices,
      seconds: rk.seconds,
      warmupRounds: rk.warmupRounds,
      intervalMs: rk.intervalMs,
    });
    out.throughput = t;
    log(
      `rules/throughput: ${fmt(t.evaluationsPerSec)} evaluations/s, ${fmt(t.messagesPerSec)} messages/s ` +
        `(${fmt(t.microsPerMessage, 1)} µs per message, ${fmt(t.microsPerEvaluation, 2)} µs per evaluation; ` +
        `${fmt(t.meanWindowSamples)} samples per window; tick pass ${fmt(t.tickPassMs, 1)} ms)`,
    );
    if (pgIngest) {
      out.ingestMessagesPerSec = pgIngest.messagesPerSec;
      out.capacityOverIngest = t.messagesPerSec / pgIngest.messagesPerSec;
    }
  } catch (err) {
    log(`rules/throughput: FAILED — ${(err as Error).stack ?? err}`);
    out.errors.push({ step: 'throughput', error: String((err as Error).message ?? err) });
  }
  if (!ctx.pg.available()) {
    log('rules/case-latency: PostgreSQL server binaries not found; skipped');
    return out;
  }
  try {
    out.caseLatency = await benchCaseLatency(ctx, pgIngest?.readingsPerSec);
  } catch (err) {
    log(`rules/case-latency: FAILED — ${(err as Error).stack ?? err}`);
    out.errors.push({ step: 'case-latency', error: String((err as Error).message ?? err) });
  }
  return out;
}
