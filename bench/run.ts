// gridhub benchmark: `npm run bench [-- ingest|roundtrip|api|idle|series|rules|video …]` (default: all).
//
// Prints figures and ratios against the targets and writes them to bench/results/latest.json. It never
// fails on timing: the exit code is non-zero only when a part crashed. Loopback only; everything it
// starts (PostgreSQL cluster, hubs, load generators) is stopped at the end, on Ctrl-C and by a watchdog.
//
// Knobs (environment): BENCH_SECONDS (15), BENCH_WARMUP (5), BENCH_DEVICES (1000), BENCH_INFLIGHT (10),
// BENCH_API_SECONDS (30), BENCH_PACE_MODERATE (5000), BENCH_LOAD_PROCS (1), BENCH_INGEST_STORES (pg,pglite,pglite-main), BENCH_IDLE_DEVICES (10000), BENCH_IDLE_PROCS (2),
// BENCH_IDLE_SETTLE (5), BENCH_IDLE_KEEPALIVE (60), BENCH_REGISTER_CONCURRENCY (20),
// BENCH_CONNECT_CONCURRENCY (100), BENCH_SERIES_DAYS (30), BENCH_SERIES_REQUESTS (200),
// BENCH_SERIES_WARMUP (20), BENCH_SERIES_STORES (pg,pglite,timescale), BENCH_PIN (0: 1 pins the hub to
// CPU 0 and the load to CPU 1), BENCH_RULES (keep; off deletes the hub's rules before the ingest runs),
// BENCH_NODELAY (1), BENCH_TIMEOUT (1800 s), BENCH_OUT
// (bench/results/latest.json), BENCH_HUB_PROF (a directory: CPU profiles of the ingest runs' hub and
// bare-broker processes), BENCH_RT_SECONDS (5, each round-trip phase), BENCH_PG_DURABLE (1: fsync and
// synchronous_commit on). The hub's own GRIDHUB_INGEST_* and GRIDHUB_EMBEDDED_* variables reach the hub under test.
// Rules part: BENCH_RULES_DEVICES (10000), BENCH_RULES_SECONDS (10), BENCH_RULES_WARMUP_ROUNDS (180),
// BENCH_RULES_INTERVAL_MS (1000), BENCH_CASE_RATE (25000, without an ingest figure), BENCH_CASE_DEVICES
// (1000), BENCH_CASE_PROBES (40), BENCH_CASE_PERIOD_MS (1000), BENCH_CASE_SECONDS (20).

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { machineBusyCores } from './cpu.ts';
import { type Ctx, log, PgHolder, readKnobs } from './env.ts';
import { benchIdle, type IdleResult } from './idle.ts';
import { benchApi, benchIngest, type IngestResult } from './ingest.ts';
import { killAllChildren, stopAllChildren } from './proc.ts';
import { benchRoundTrip, type RoundTripResult } from './roundtrip.ts';
import { benchRules, type RulesResult } from './rules.ts';
import { benchSeries, type SeriesResult } from './series.ts';
import { fmt, mb } from './stats.ts';
import { benchVideo, type VideoResult, videoRows } from './video.ts';

const PARTS = ['ingest', 'roundtrip', 'api', 'idle', 'series', 'rules', 'video'] as const;
type Part = (typeof PARTS)[number];

const NOISY_CORES = 0.25;

const TARGETS = {
  readingsPerSecPg: 30_000,
  ratio: 0.6,
  /** Issue 13: 10,000 idle devices under 300 MB (was 400, from the gateway issue). */
  idleRssMb: 300,
  seriesP50PgMs: 20,
  /** Rule-evaluation capacity on one core ÷ the PostgreSQL hub's ingest rate (messages/s). */
  rulesCapacityRatio: 1,
  caseLatencyP99Ms: 100,
  /** Issue 13: one device, QoS 1, one message in flight. */
  roundTripMsgPerSec: 500,
  halfCapacityAckP50Ms: 10,
  /** Issue 13: embedded ingest with the store off the main thread ÷ on it, same run. */
  embeddedWorkerGain: 1.5,
  /** Issue 13: the hub's CPU per message at most 1.5 × the bare broker's. */
  cpuPerMessageRatio: 1.5,
  /** Issue 13: the API while ingest runs flat out. */
  apiP99Ms: 100,
};

interface Results {
  startedAt: string;
  finishedAt?: string;
  durationSeconds?: number;
  parts: Part[];
  knobs: ReturnType<typeof readKnobs>;
  machine: Record<string, unknown>;
  targets: typeof TARGETS;
  ingest?: IngestResult;
  roundtrip?: RoundTripResult;
  api?: IngestResult;
  idle?: IdleResult;
  series?: SeriesResult;
  rules?: RulesResult;
  video?: VideoResult;
  errors: { part: Part; error: string }[];
}

class UsageError extends Error {}

function parseParts(argv: string[]): Part[] {
  const wanted = argv.filter((a) => a !== '--');
  for (const a of wanted)
    if (!PARTS.includes(a as Part))
      throw new UsageError(`unknown part '${a}' (choose from ${PARTS.join(', ')})`);
  return wanted.length ? PARTS.filter((p) => wanted.includes(p)) : [...PARTS];
}

function nofileLimit(): string {
  try {
    return execFileSync('/bin/sh', ['-c', 'echo "$(ulimit -n) (hard $(ulimit -Hn))"'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'unknown';
  }
}

type Row = [figure: string, value: string, target: string, met: string];

function table(r: Results): string {
  const rows: Row[] = [];
  const yes = (ok: boolean) => (ok ? 'yes' : 'NO');
  let noisy = false;
  /** Marks a figure taken while other processes used more than a quarter of a core. */
  const mark = (value: string, other: number | undefined) => {
    if (other === undefined || other <= NOISY_CORES) return value;
    noisy = true;
    return `${value} *`;
  };
  const ing = r.ingest;
  if (ing) {
    const names = {
      pg: 'PostgreSQL 15 hub',
      pglite: 'PGlite hub',
      'pglite-main': 'PGlite hub, store on the main thread',
      bare: 'bare Aedes',
    } as const;
    const bare = ing.runs.find((x) => x.target === 'bare' && x.pacedAt === undefined);
    for (const run of ing.runs) {
      const isPg = run.target === 'pg';
      const isHub = run.target !== 'bare';
      const c = run.cpu;
      if (run.pacedAt !== undefined) {
        rows.push([
          `1 ingest ${names[run.target]}, paced at ${fmt(run.pacedAt)} messages/s`,
          mark(`${fmt(run.messagesPerSec)} messages/s`, c.other),
          '',
          '',
        ]);
        rows.push([
          '    ack p50 / p99 · cores: process / load / postgres',
          `${fmt(run.ackLatencyMs.p50, 1)} / ${fmt(run.ackLatencyMs.p99, 1)} ms · ${fmt(c.hub, 2)} / ${fmt(c.load, 2)} / ${fmt(c.postgres, 2)}`,
          '',
          '',
        ]);
        rows.push([
          `    CPU per message: ${isHub ? 'hub' : 'broker'}`,
          `${fmt(run.cpuMicrosPerMessage.hubProcess, 1)} µs`,
          '',
          '',
        ]);
        continue;
      }
      rows.push([
        `1 ingest ${names[run.target]}`,
        mark(`${fmt(run.readingsPerSec)} readings/s`, c.other),
        isPg ? `≥ ${fmt(TARGETS.readingsPerSecPg)}` : '',
        isPg ? yes(run.readingsPerSec >= TARGETS.readingsPerSecPg) : '',
      ]);
      rows.push([
        '    messages/s · ack p50 / p99',
        `${fmt(run.messagesPerSec)} · ${fmt(run.ackLatencyMs.p50, 1)} / ${fmt(run.ackLatencyMs.p99, 1)} ms`,
        '',
        '',
      ]);
      rows.push([
        `    cores: ${isHub ? 'hub' : 'broker'} / load / postgres / other`,
        `${fmt(c.hub, 2)} / ${fmt(c.load, 2)} / ${fmt(c.postgres, 2)} / ${fmt(c.other, 2)}`,
        '',
        '',
      ]);
      rows.push([
        `    CPU per message: ${isHub ? 'hub' : 'broker'}${isPg ? ' (+ postgres)' : ''}`,
        `${fmt(run.cpuMicrosPerMessage.hubProcess, 1)} µs${isPg ? ` (+ ${fmt(run.cpuMicrosPerMessage.postgres, 1)} µs)` : ''}`,
        '',
        '',
      ]);
      if (run.writer) {
        const w = run.writer;
        rows.push([
          '    store writer: flushes/s × readings, ms',
          `${fmt(w.flushesPerSec, 1)} × ${fmt(w.readingsPerFlush)}, ${fmt(w.meanFlushMs, 1)} ms (busy ${fmt(100 * w.busyFraction)} %)${w.redeliveredBatches ? `, ${fmt(w.redeliveredBatches)} written twice (a stored reading)` : ''}`,
          '',
          '',
        ]);
      }
      if (isHub) {
        const ratio = ing.ratios[run.target as Exclude<typeof run.target, 'bare'>];
        rows.push([
          `    ratio ${run.target} hub ÷ bare (readings/s)`,
          bare ? mark(fmt(ratio, 2), Math.max(c.other, bare.cpu.other)) : 'no bare run',
          `≥ ${TARGETS.ratio}`,
          ratio === undefined ? '' : yes(ratio >= TARGETS.ratio),
        ]);
        const cr = ing.cpuRatios[run.target as Exclude<typeof run.target, 'bare'>];
        if (cr !== undefined) rows.push(['    ratio bare ÷ hub (CPU per message)', fmt(cr, 2), '', '']);
      }
    }
    if (ing.cpuRatioAtHubRate !== undefined)
      rows.push([
        '    CPU per message, PostgreSQL hub ÷ bare, both paced',
        `${fmt(1 / ing.cpuRatioAtHubRate, 2)} ×`,
        `≤ ${TARGETS.cpuPerMessageRatio} ×`,
        yes(1 / ing.cpuRatioAtHubRate <= TARGETS.cpuPerMessageRatio),
      ]);
    if (ing.cpuRatioModerate !== undefined)
      rows.push([
        `    CPU per message, PostgreSQL hub ÷ bare, both at ${fmt(r.knobs.paceModerate)} messages/s`,
        `${fmt(1 / ing.cpuRatioModerate, 2)} ×`,
        '',
        '',
      ]);
    for (const e of ing.errors) rows.push([`1 ingest ${names[e.target]}`, 'FAILED', '', '']);
    if (ing.embeddedWorkerGain !== undefined)
      rows.push([
        '    embedded: store in its worker ÷ on the main thread (readings/s)',
        fmt(ing.embeddedWorkerGain, 2),
        `≥ ${TARGETS.embeddedWorkerGain}`,
        yes(ing.embeddedWorkerGain >= TARGETS.embeddedWorkerGain),
      ]);
  }
  const rt = r.roundtrip;
  if (rt) {
    const names = { pg: 'PostgreSQL 15 hub', pglite: 'PGlite hub', bare: `bare Aedes ${rt.aedesVersion}` };
    for (const run of rt.runs) {
      const isHub = run.target !== 'bare';
      const c = run.closedLoop;
      const h = run.halfCapacity;
      rows.push([
        `5 round trip, 1 device, 1 in flight: ${names[run.target]}`,
        `${fmt(c.messagesPerSec)} msg/s`,
        isHub ? `≥ ${TARGETS.roundTripMsgPerSec}` : '',
        isHub ? yes(c.messagesPerSec >= TARGETS.roundTripMsgPerSec) : '',
      ]);
      rows.push(['    ack p50 / p99', `${fmt(c.ackMs.p50, 2)} / ${fmt(c.ackMs.p99, 2)} ms`, '', '']);
      rows.push([
        `    at half capacity (${fmt(h.messagesPerSec)} msg/s): ack p50 / p99`,
        `${fmt(h.ackMs.p50, 2)} / ${fmt(h.ackMs.p99, 2)} ms`,
        isHub ? `p50 < ${TARGETS.halfCapacityAckP50Ms} ms` : '',
        isHub ? yes(h.ackMs.p50 < TARGETS.halfCapacityAckP50Ms) : '',
      ]);
      const ratio = rt.ratios[run.target as 'pg' | 'pglite'];
      if (isHub) rows.push(['    ratio hub ÷ bare (msg/s)', fmt(ratio, 3), '', '']);
    }
    for (const e of rt.errors) rows.push([`5 round trip ${e.target}`, 'FAILED', '', '']);
  }
  const apiPart = r.api;
  if (apiPart) {
    for (const run of apiPart.runs) {
      rows.push([
        `6 API during full ingest, ${run.target}: ingest`,
        mark(
          `${fmt(run.readingsPerSec)} readings/s, ack p50 ${fmt(run.ackLatencyMs.p50, 1)} ms`,
          run.cpu.other,
        ),
        '',
        '',
      ]);
      for (const [which, a] of Object.entries(run.api ?? {})) {
        rows.push([
          `    GET ${which === 'cases' ? '/api/cases' : 'series'} p50 / p99 / max (${a.requests}${a.failed ? `, ${a.failed} failed` : ''})`,
          mark(`${fmt(a.ms.p50, 1)} / ${fmt(a.ms.p99, 1)} / ${fmt(a.ms.max, 1)} ms`, run.cpu.other),
          `p99 < ${TARGETS.apiP99Ms} ms`,
          yes(a.ms.p99 < TARGETS.apiP99Ms),
        ]);
      }
    }
    for (const e of apiPart.errors) rows.push([`6 API during ingest ${e.target}`, 'FAILED', '', '']);
  }
  const idle = r.idle;
  if (idle) {
    rows.push([
      `2 idle hub RSS (after GC), ${fmt(idle.connected)} connections, ${idle.steadyAfterSeconds} s idle`,
      `${fmt(mb(idle.rssSteady.rss), 1)} MB`,
      `< ${TARGETS.idleRssMb} MB`,
      yes(mb(idle.rssSteady.rss) < TARGETS.idleRssMb && idle.steadyConnections === idle.connected),
    ]);
    rows.push([
      `    connections the hub reports then`,
      fmt(idle.steadyConnections),
      fmt(idle.connected),
      yes(idle.steadyConnections === idle.connected),
    ]);
    rows.push([
      `    ${idle.settleSeconds} s after connecting (the connection storm's garbage)`,
      `${fmt(mb(idle.rssWith.rss), 1)} MB`,
      `< ${TARGETS.idleRssMb} MB`,
      yes(mb(idle.rssWith.rss) < TARGETS.idleRssMb),
    ]);
    rows.push([
      `    before connections (${fmt(idle.devices)} devices)`,
      `${fmt(mb(idle.rssBefore.rss), 1)} MB`,
      '',
      '',
    ]);
    rows.push(['    per connection', `${fmt(idle.perConnectionBytes / 1024, 1)} KiB`, '', '']);
    rows.push([
      '    without a forced GC: before → with',
      `${fmt(mb(idle.rssBefore.rssBeforeGc), 1)} → ${fmt(mb(idle.rssWith.rssBeforeGc), 1)} MB`,
      '',
      '',
    ]);
  }
  const ser = r.series;
  if (ser) {
    for (const run of ser.runs) {
      const isPg = run.store === 'pg';
      const t = run.timing;
      rows.push([
        `3 series ${run.store} p50 / p95 / p99`,
        mark(`${fmt(t.p50, 1)} / ${fmt(t.p95, 1)} / ${fmt(t.p99, 1)} ms`, run.cpu?.other),
        isPg ? `p50 < ${TARGETS.seriesP50PgMs} ms` : '',
        isPg ? yes(t.p50 < TARGETS.seriesP50PgMs) : '',
      ]);
      if (run.beforeRefresh) {
        const b = run.beforeRefresh;
        rows.push([
          '    before cagg refresh p50 / p95 / p99',
          `${fmt(b.p50, 1)} / ${fmt(b.p95, 1)} / ${fmt(b.p99, 1)} ms`,
          '',
          '',
        ]);
      }
    }
    for (const e of ser.errors) rows.push([`3 series ${e.store}`, 'FAILED', '', '']);
  }
  const ru = r.rules;
  if (ru) {
    const t = ru.throughput;
    if (t) {
      rows.push([
        `4 rules: evaluations/s, ${t.rulesPerProfile} rules × ${fmt(t.devices)} devices, 1 core`,
        `${fmt(t.evaluationsPerSec)} /s`,
        '',
        '',
      ]);
      rows.push([
        '    messages/s (µs per message)',
        `${fmt(t.messagesPerSec)} (${fmt(t.microsPerMessage, 1)} µs)`,
        '',
        '',
      ]);
      rows.push([
        '    rules capacity ÷ ingest rate (messages/s)',
        ru.capacityOverIngest === undefined
          ? 'no ingest figure'
          : `${fmt(ru.capacityOverIngest, 2)} (ingest ${fmt(ru.ingestMessagesPerSec)} msg/s)`,
        `> ${TARGETS.rulesCapacityRatio}`,
        ru.capacityOverIngest === undefined ? '' : yes(ru.capacityOverIngest > TARGETS.rulesCapacityRatio),
      ]);
    }
    const c = ru.caseLatency;
    if (c) {
      rows.push([
        `4 reading → case p50 / p99 (hub histogram, ${fmt(c.hub.count)})`,
        mark(`${fmt(c.hub.p50, 1)} / ${c.hub.overMaxBucket ? '> ' : ''}${fmt(c.hub.p99, 1)} ms`, c.cpu.other),
        `p99 < ${TARGETS.caseLatencyP99Ms} ms`,
        yes(!c.hub.overMaxBucket && c.hub.p99 < TARGETS.caseLatencyP99Ms),
      ]);
      rows.push([
        `    publish → SSE case event p50 / p99 (${fmt(c.external.count)})`,
        mark(`${fmt(c.external.p50, 1)} / ${fmt(c.external.p99, 1)} ms`, c.cpu.other),
        `p99 < ${TARGETS.caseLatencyP99Ms} ms`,
        yes(c.external.p99 < TARGETS.caseLatencyP99Ms),
      ]);
      rows.push([
        '    background readings/s stored (asked)',
        `${fmt(c.storedReadingsPerSec)} (${fmt(c.targetReadingsPerSec)})`,
        '',
        '',
      ]);
      rows.push([
        '    cores: hub / load / postgres / other',
        `${fmt(c.cpu.hub, 2)} / ${fmt(c.cpu.load, 2)} / ${fmt(c.cpu.postgres, 2)} / ${fmt(c.cpu.other, 2)}`,
        '',
        '',
      ]);
    }
    for (const e of ru.errors) rows.push([`4 rules ${e.step}`, 'FAILED', '', '']);
  }
  if (r.video) rows.push(...videoRows(r.video));
  for (const e of r.errors) rows.push([`${e.part}`, 'FAILED', '', '']);
  const head: Row = ['Figure', 'Measured', 'Target', 'Met'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: Row) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)];
  if (noisy)
    out.push(
      '',
      `* taken while processes outside the benchmark used more than ${NOISY_CORES} cores (the "other" column): the machine was not quiet; run again`,
    );
  return out.join('\n');
}

async function main(): Promise<number> {
  const parts = parseParts(process.argv.slice(2));
  const knobs = readKnobs();
  const t0 = Date.now();
  const pg = new PgHolder(knobs.pgDurable);
  const ctx: Ctx = { knobs, pg };
  const cpus = os.cpus();
  const results: Results = {
    startedAt: new Date(t0).toISOString(),
    parts,
    knobs,
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model,
      memoryMb: Math.round(mb(os.totalmem())),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      nofile: nofileLimit(),
    },
    targets: TARGETS,
    errors: [],
  };

  const emergency = (why: string, code: number) => {
    emergencyStop ??= (async () => {
      log(why);
      await stopAllChildren();
      await pg.stop().catch(() => {});
      process.exit(code);
    })();
  };
  const watchdog = setTimeout(
    () =>
      void emergency(`watchdog: the run exceeded BENCH_TIMEOUT=${knobs.timeout} s; stopping everything`, 2),
    knobs.timeout * 1000,
  );
  watchdog.unref();
  process.on('SIGINT', () => emergency('interrupted; stopping everything', 130));
  process.on('SIGTERM', () => emergency('terminated; stopping everything', 143));

  log(
    `gridhub bench: ${parts.join(', ')} — ${results.machine.cpus} CPUs (${results.machine.cpuModel}), ` +
      `node ${process.version}, open files ${results.machine.nofile}`,
  );
  const busy = await machineBusyCores(1000);
  results.machine.busyCoresBeforeStart = busy;
  if (busy > 0.2)
    log(`note — ${fmt(busy, 2)} cores were already busy before the run started; the figures will be low`);
  try {
    for (const part of parts) {
      try {
        if (part === 'ingest') results.ingest = await benchIngest(ctx);
        else if (part === 'roundtrip') results.roundtrip = await benchRoundTrip(ctx);
        else if (part === 'api') results.api = await benchApi(ctx);
        else if (part === 'idle') {
          if (!pg.available()) {
            log('idle: PostgreSQL server binaries not found; skipped (the hub must not hold the store)');
            continue;
          }
          results.idle = await benchIdle(ctx);
        } else if (part === 'series') results.series = await benchSeries(ctx);
        else if (part === 'video') results.video = await benchVideo();
        else results.rules = await benchRules(ctx, results.ingest);
      } catch (err) {
        log(`${part}: FAILED — ${(err as Error).stack ?? err}`);
        results.errors.push({ part, error: String((err as Error).message ?? err) });
      }
    }
  } finally {
    await pg.stop();
  }

  results.finishedAt = new Date().toISOString();
  results.durationSeconds = (Date.now() - t0) / 1000;
  const out = resolve(knobs.out);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);

  console.log('');
  console.log(`gridhub benchmark — ${results.finishedAt}, ${fmt(results.durationSeconds, 0)} s`);
  if (results.ingest) console.log(`ingest layout: ${results.ingest.layout}`);
  console.log('');
  console.log(table(results));
  console.log('');
  console.log(`results: ${out}`);
  const failed =
    results.errors.length +
    (results.ingest?.errors.length ?? 0) +
    (results.roundtrip?.errors.length ?? 0) +
    (results.api?.errors.length ?? 0) +
    (results.series?.errors.length ?? 0) +
    (results.rules?.errors.length ?? 0);
  clearTimeout(watchdog);
  return failed ? 1 : 0;
}

/** Set once Ctrl-C or the watchdog began stopping everything; that path ends the process. */
let emergencyStop: Promise<void> | undefined;

main().then(
  async (code) => {
    if (emergencyStop) await emergencyStop;
    process.exit(code);
  },
  (err) => {
    console.error(err instanceof UsageError ? err.message : err);
    killAllChildren();
    process.exit(1);
  },
);
