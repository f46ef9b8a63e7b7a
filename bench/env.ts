// Benchmark knobs (environment variables) and the context shared by the parts.

import pg from 'pg';
import { findPgBin, type PgCluster, startPgCluster } from '../test/support/pg-cluster.ts';

export function num(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}
function list(name: string, dflt: string): string[] {
  return (process.env[name] ?? dflt)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function readKnobs() {
  const rules = process.env.BENCH_RULES || 'keep';
  if (rules !== 'keep' && rules !== 'off') throw new Error(`BENCH_RULES must be keep or off, got ${rules}`);
  return {
    /** Measurement window of each ingest run, seconds. */
    seconds: num('BENCH_SECONDS', 15),
    /** Measurement window of each api run, seconds: long enough that p99 is not one or two requests. */
    apiSeconds: num('BENCH_API_SECONDS', 30),
    /** Publishing before the window opens, seconds. */
    warmup: num('BENCH_WARMUP', 5),
    /** Devices (= MQTT connections) of the ingest runs. */
    devices: num('BENCH_DEVICES', 1000),
    /** Unacknowledged QoS 1 messages per connection. */
    inflight: num('BENCH_INFLIGHT', 10),
    /** Load-generator processes of the ingest runs. */
    loadProcs: Math.max(1, num('BENCH_LOAD_PROCS', 1)),
    /** Stores of the ingest runs (the bare broker always runs). */
    ingestStores: list('BENCH_INGEST_STORES', 'pg,pglite,pglite-main'),
    idleDevices: num('BENCH_IDLE_DEVICES', 10_000),
    idleProcs: Math.max(1, num('BENCH_IDLE_PROCS', 2)),
    /** Seconds between the last CONNACK and the RSS reading. */
    idleSettle: num('BENCH_IDLE_SETTLE', 5),
    idleSteady: num('BENCH_IDLE_STEADY', 60),
    idleKeepalive: num('BENCH_IDLE_KEEPALIVE', 60),
    registerConcurrency: Math.max(1, num('BENCH_REGISTER_CONCURRENCY', 20)),
    connectConcurrency: Math.max(1, num('BENCH_CONNECT_CONCURRENCY', 100)),
    seriesDays: num('BENCH_SERIES_DAYS', 30),
    seriesRequests: Math.max(1, num('BENCH_SERIES_REQUESTS', 200)),
    seriesWarmup: num('BENCH_SERIES_WARMUP', 20),
    seriesStores: list('BENCH_SERIES_STORES', 'pg,pglite,timescale'),
    /** `keep` (default): the hub's rules as it seeds them; `off`: every rule deleted before the ingest runs. */
    rules: rules as 'keep' | 'off',
    /** 1: pin the hub child to CPU 0 and the load generators to CPU 1 (taskset). */
    pin: num('BENCH_PIN', 0) === 1,
    /** 1 (default): TCP_NODELAY on the load generator's sockets. */
    noDelay: num('BENCH_NODELAY', 1) === 1,
    /** Whole-run watchdog, seconds: everything is stopped and the run fails past it. */
    timeout: num('BENCH_TIMEOUT', 1800),
    out: process.env.BENCH_OUT || 'bench/results/latest.json',
    /** A directory: the ingest runs' hub/broker processes write V8 CPU profiles there (--cpu-prof). */
    hubProf: process.env.BENCH_HUB_PROF || undefined,
    /** Extra node options for the ingest/api hub (and bare broker) processes, space-separated, to compare V8 settings. */
    /** Messages/s: run only the paced pair (PostgreSQL hub and bare broker) at this rate, no closed-loop runs. */
    pace: num('BENCH_PACE', 0),
    /** Messages/s of a second paced pair, a moderate load (many small writes); 0: none. */
    paceModerate: num('BENCH_PACE_MODERATE', 5000),
    hubNodeArgs: (process.env.BENCH_HUB_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    /** Seconds of each phase of the single-connection round trip (closed loop, then half capacity). */
    rtSeconds: Math.max(1, num('BENCH_RT_SECONDS', 5)),
    /** 1 (default): the PostgreSQL cluster keeps its durable defaults (fsync, synchronous_commit on). */
    pgDurable: num('BENCH_PG_DURABLE', 1) === 1,
  };
}
export type Knobs = ReturnType<typeof readKnobs>;

export const log = (msg: string) => {
  const t = ((performance.now() - T0) / 1000).toFixed(1).padStart(6);
  console.log(`[bench ${t}s] ${msg}`);
};
const T0 = performance.now();

/** One throwaway PostgreSQL 15 cluster for the whole run, started on first use. */
export class PgHolder {
  private cluster: Promise<PgCluster> | undefined;
  /** A round trip measured on a cluster that does not flush says nothing about durability (issue 13). */
  constructor(private readonly durable = true) {}
  available(): boolean {
    return findPgBin() !== undefined;
  }
  get(): Promise<PgCluster> {
    this.cluster ??= startPgCluster({ log: (m) => log(m), durable: this.durable });
    return this.cluster;
  }
  async database(): Promise<string> {
    return (await this.get()).createDatabase();
  }
  /** Drops a database made by database(), so its autovacuum and checkpoints leave the next runs alone. */
  async drop(url: string | undefined): Promise<void> {
    if (!url || !this.cluster) return;
    const cluster = await this.cluster;
    const name = decodeURIComponent(new URL(url).pathname.slice(1));
    const client = new pg.Client({ connectionString: cluster.url });
    client.on('error', () => {});
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS "${name.replaceAll('"', '""')}" WITH (FORCE)`);
      await client.query('CHECKPOINT');
    } finally {
      await client.end().catch(() => {});
    }
  }
  private stopping: Promise<void> | undefined;
  /** Idempotent; a second caller waits for the first one's stop to finish. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const c = await this.cluster?.catch(() => undefined);
      await c?.stop();
    })();
    return this.stopping;
  }
}

export interface Ctx {
  knobs: Knobs;
  pg: PgHolder;
}
