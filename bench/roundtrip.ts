// Part "roundtrip" — one device, one MQTT connection, QoS 1, one message in flight: the way most
// firmware publishes (issue 13). Closed loop first (the next message leaves from the PUBACK callback:
// messages/s is 1 ÷ the round trip), then paced at half of that capacity (ack latency when the hub is
// not saturated). Against the hub on PostgreSQL (durable defaults: fsync and synchronous_commit on),
// on the embedded PGlite, and against a bare Aedes broker of the same version in the same run.

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { MqttClient } from 'mqtt';
import { airQualityPayload, LatencyHistogram, openMqttSocket } from '../simulators/index.ts';
import { ADMIN_TOKEN, registerDevices } from './api.ts';
import { type Ctx, log } from './env.ts';
import type { Started, Target } from './hub-child.ts';
import { startChild } from './proc.ts';
import { fmt, sleep } from './stats.ts';

export type RoundTripTarget = Extract<Target, 'pg' | 'pglite' | 'bare'>;

export interface Phase {
  seconds: number;
  messages: number;
  messagesPerSec: number;
  ackMs: { p50: number; p90: number; p99: number; max: number };
}
export interface RoundTripRun {
  target: RoundTripTarget;
  closedLoop: Phase;
  /** Paced at half of closedLoop.messagesPerSec, still one message in flight. */
  halfCapacity: Phase & { askedPerSec: number };
}
export interface RoundTripResult {
  aedesVersion: string;
  runs: RoundTripRun[];
  errors: { target: RoundTripTarget; error: string }[];
  /** hub messages/s ÷ bare broker messages/s, closed loop. */
  ratios: Partial<Record<'pg' | 'pglite', number>>;
}

export function aedesVersion(): string {
  try {
    // Not require('aedes/package.json'): the package's exports map does not list it.
    const url = new URL('../node_modules/aedes/package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Publishes for `seconds`, one message in flight. `intervalMs` 0: the next leaves from the PUBACK
 * callback; otherwise messages start on a fixed schedule (a late one leaves at once, never two at once).
 */
async function phase(c: MqttClient, seconds: number, intervalMs: number): Promise<Phase> {
  const hist = new LatencyHistogram();
  let messages = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let nextAt = t0;
  for (;;) {
    const now = performance.now();
    if (now >= end) break;
    if (intervalMs > 0 && nextAt > now) {
      const wait = nextAt - now;
      if (wait >= 1) await sleep(Math.floor(wait));
      else await new Promise<void>((r) => setImmediate(r));
      continue;
    }
    nextAt += intervalMs;
    const s = performance.now();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no PUBACK within 30 s')), 30_000);
      c.publish('v1/devices/me/telemetry', airQualityPayload(), { qos: 1 }, (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
    hist.record(performance.now() - s);
    messages++;
  }
  const secs = (performance.now() - t0) / 1000;
  return {
    seconds: secs,
    messages,
    messagesPerSec: messages / secs,
    ackMs: {
      p50: hist.percentile(50),
      p90: hist.percentile(90),
      p99: hist.percentile(99),
      max: hist.percentile(100),
    },
  };
}

async function runTarget(ctx: Ctx, target: RoundTripTarget): Promise<RoundTripRun> {
  const k = ctx.knobs;
  const databaseUrl = target === 'pg' ? await ctx.pg.database() : undefined;
  const hub = startChild('./hub-child.ts', { quietLogs: true, name: `rt-${target}` });
  let client: MqttClient | undefined;
  try {
    const started = await hub.call<Started>('start', { target, databaseUrl, adminToken: ADMIN_TOKEN });
    let token: string | undefined;
    if (started.httpUrl) {
      const reg = await registerDevices(started.httpUrl, ['rt-00001'], {
        profile: 'air-quality',
        concurrency: 1,
      });
      token = reg.tokens[0];
    }
    client = await openMqttSocket(started.mqttUrl, {
      username: token,
      clientId: `bench-rt-${target}`,
      connectTimeoutMs: 20_000,
    });
    // Warm-up: JIT, the statement plans, the pool's connections.
    await phase(client, Math.min(2, k.rtSeconds), 0);
    const closedLoop = await phase(client, k.rtSeconds, 0);
    const asked = closedLoop.messagesPerSec / 2;
    const half = await phase(client, k.rtSeconds, asked > 0 ? 1000 / asked : 1000);
    const run: RoundTripRun = { target, closedLoop, halfCapacity: { ...half, askedPerSec: asked } };
    log(
      `roundtrip/${target}: ${fmt(closedLoop.messagesPerSec)} msg/s, ack p50 ${fmt(closedLoop.ackMs.p50, 2)} ms, p99 ${fmt(closedLoop.ackMs.p99, 2)} ms;` +
        ` at half capacity (${fmt(half.messagesPerSec)} msg/s) ack p50 ${fmt(half.ackMs.p50, 2)} ms, p99 ${fmt(half.ackMs.p99, 2)} ms`,
    );
    return run;
  } finally {
    await new Promise<void>((r) => (client ? client.end(true, () => r()) : r()));
    await hub.stop();
    await ctx.pg.drop(databaseUrl).catch((err) => log(`could not drop the database: ${err.message}`));
  }
}

export async function benchRoundTrip(ctx: Ctx): Promise<RoundTripResult> {
  const targets: RoundTripTarget[] = [];
  for (const s of ctx.knobs.ingestStores) {
    // pglite-main is an ingest comparison (the store on the main thread); one device's round trip
    // is the same on both.
    if (s === 'pglite-main') continue;
    if (s !== 'pg' && s !== 'pglite') throw new Error(`BENCH_INGEST_STORES: unknown store ${s}`);
    if (s === 'pg' && !ctx.pg.available()) {
      log('roundtrip: PostgreSQL server binaries not found; skipping the PostgreSQL run');
      continue;
    }
    targets.push(s);
  }
  targets.push('bare');
  const runs: RoundTripRun[] = [];
  const errors: RoundTripResult['errors'] = [];
  for (const t of targets) {
    try {
      runs.push(await runTarget(ctx, t));
    } catch (err) {
      log(`roundtrip/${t}: FAILED — ${(err as Error).stack ?? err}`);
      errors.push({ target: t, error: String((err as Error).message ?? err) });
    }
  }
  const bare = runs.find((r) => r.target === 'bare');
  const ratios: RoundTripResult['ratios'] = {};
  for (const r of runs)
    if (r.target !== 'bare' && bare && bare.closedLoop.messagesPerSec > 0)
      ratios[r.target] = r.closedLoop.messagesPerSec / bare.closedLoop.messagesPerSec;
  return { aedesVersion: aedesVersion(), runs, errors, ratios };
}
