// Figure 2 — memory with many idle devices: the hub runs alone in a child process on PostgreSQL (so the
// store lives outside it), N devices are registered through the API, then N MQTT connections are
// opened from separate load-generator processes and left idle; the hub's RSS is read before and with
// the connections.

import { performance } from 'node:perf_hooks';
import { ADMIN_TOKEN, health, registerDevices } from './api.ts';
import { type Ctx, log } from './env.ts';
import { LoadFleet } from './fleet.ts';
import type { RssReport, Started } from './hub-child.ts';
import { startChild } from './proc.ts';
import { fmt, mb, sleep } from './stats.ts';

export interface IdleResult {
  devices: number;
  connected: number;
  failed: number;
  keepaliveSeconds: number;
  loadProcs: number;
  registerSeconds: number;
  registerPerSec: number;
  connectSeconds: number;
  connectPerSec: number;
  hubReportedConnections: number;
  rssBefore: RssReport;
  /** BENCH_IDLE_SETTLE s after the last CONNECT: the connection storm's garbage still counts. */
  rssWith: RssReport;
  /** After BENCH_IDLE_STEADY s more of idleness (keepalive pings only): what an idle hub holds. */
  rssSteady: RssReport;
  settleSeconds: number;
  steadyAfterSeconds: number;
  /** Connections the hub reports at the steady measurement (all of them must still be open). */
  steadyConnections: number;
  /** (RSS with − RSS before) ÷ connections, bytes (after a forced GC in the hub process). */
  perConnectionBytes: number;
  perConnectionBytesNoGc: number;
  hubPid: number;
}

export async function benchIdle(ctx: Ctx): Promise<IdleResult> {
  const k = ctx.knobs;
  const n = k.idleDevices;
  const databaseUrl = await ctx.pg.database();
  log(`idle: starting hub on PostgreSQL for ${fmt(n)} idle devices`);
  const hub = startChild('./hub-child.ts', {
    quietLogs: true,
    name: 'hub-idle',
    cpu: k.pin ? 0 : undefined,
    nofile: n + 2048,
    nodeArgs: k.hubNodeArgs,
  });
  let fleet: LoadFleet | undefined;
  try {
    const started = await hub.call<Started>('start', { target: 'pg', databaseUrl, adminToken: ADMIN_TOKEN });
    const httpUrl = started.httpUrl!;
    const ids = Array.from({ length: n }, (_, i) => `idle-${String(i).padStart(6, '0')}`);
    const every = Math.max(1000, Math.floor(n / 5));
    const reg = await registerDevices(httpUrl, ids, {
      profile: 'air-quality',
      concurrency: k.registerConcurrency,
      every,
      onProgress: (done) => log(`  idle: ${fmt(done)}/${fmt(n)} devices registered`),
    });
    log(`idle: registered ${fmt(n)} devices in ${(reg.ms / 1000).toFixed(1)} s`);
    await sleep(1000);
    const rssBefore = await hub.call<RssReport>('rss');
    log(`idle: hub RSS before connections ${fmt(mb(rssBefore.rss), 1)} MB`);

    fleet = LoadFleet.start({
      url: started.mqttUrl,
      tokens: reg.tokens,
      procs: k.idleProcs,
      idPrefix: 'idle-',
      inflight: 0,
      keepalive: k.idleKeepalive,
      connectConcurrency: k.connectConcurrency,
      noDelay: k.noDelay,
      cpu: k.pin ? 1 : undefined,
      label: 'idle',
    });
    const conn = await fleet.connect();
    log(
      `idle: ${fmt(conn.connected)}/${fmt(n)} connected in ${(conn.ms / 1000).toFixed(1)} s` +
        (conn.failed ? ` (${conn.failed} failed: ${conn.firstError})` : ''),
    );
    // The hub's count settles once every CONNECT is through authentication.
    const until = performance.now() + 30_000;
    let seen = 0;
    while (performance.now() < until) {
      seen = Number((await health(httpUrl)).mqttConnections ?? 0);
      if (seen >= conn.connected) break;
      await sleep(250);
    }
    log(`idle: hub reports ${fmt(seen)} MQTT connections; settling ${k.idleSettle} s`);
    await sleep(k.idleSettle * 1000);
    const rssWith = await hub.call<RssReport>('rss');
    log(`idle: hub RSS ${fmt(mb(rssWith.rss), 1)} MB; idle for ${k.idleSteady} s more`);
    await sleep(k.idleSteady * 1000);
    const rssSteady = await hub.call<RssReport>('rss');
    const steadyConnections = Number((await health(httpUrl)).mqttConnections ?? 0);
    const connected = conn.connected;
    const result: IdleResult = {
      devices: n,
      connected,
      failed: conn.failed,
      keepaliveSeconds: k.idleKeepalive,
      loadProcs: fleet.children.length,
      registerSeconds: reg.ms / 1000,
      registerPerSec: n / (reg.ms / 1000),
      connectSeconds: conn.ms / 1000,
      connectPerSec: connected / (conn.ms / 1000),
      hubReportedConnections: seen,
      rssBefore,
      rssWith,
      rssSteady,
      settleSeconds: k.idleSettle,
      steadyAfterSeconds: k.idleSettle + k.idleSteady,
      steadyConnections,
      perConnectionBytes: connected ? (rssWith.rss - rssBefore.rss) / connected : Number.NaN,
      perConnectionBytesNoGc: connected
        ? (rssWith.rssBeforeGc - rssBefore.rssBeforeGc) / connected
        : Number.NaN,
      hubPid: started.pid,
    };
    log(
      `idle: hub RSS with ${fmt(connected)} connections ${fmt(mb(rssWith.rss), 1)} MB ` +
        `(${fmt(result.perConnectionBytes / 1024, 1)} KiB per connection; heap ${fmt(mb(rssWith.heapUsed), 1)} MB); ` +
        `${result.steadyAfterSeconds} s after connecting ${fmt(mb(rssSteady.rss), 1)} MB ` +
        `with ${fmt(steadyConnections)} connections (heap ${fmt(mb(rssSteady.heapUsed), 1)} MB)`,
    );
    await fleet.stop();
    fleet = undefined;
    return result;
  } finally {
    await fleet?.stop();
    await hub.stop();
    await ctx.pg.drop(databaseUrl).catch((err) => log(`could not drop the database: ${err.message}`));
  }
}
