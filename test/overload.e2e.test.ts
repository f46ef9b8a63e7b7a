// Issue 8: overload at twice the measured capacity. The hub runs as its own process (the real CLI,
// on the shared PostgreSQL test cluster) so its memory is measured apart from the load generator.
// Devices behave as SDKs do: a bounded number of QoS 1 messages in flight each. Bounds are generous
// (10x what is expected); the measured figures are printed.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantile } from './support/load.ts';
import { freshPgDatabase } from './support/pg.ts';

const ADMIN = 'test-admin-token-0123456789';
const OVERLOAD_S = Number(process.env.GRIDHUB_OVERLOAD_SECONDS ?? 20);
const RSS_BOUND_MB = 1024;
const P99_BOUND_MS = 10_000;
const DEVICES = 40;
const IN_FLIGHT = 20; // per device, as an SDK's maxInflightMessages

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });

const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
};

describe('overload at twice the measured capacity', () => {
  let child: ChildProcess;
  let dataDir: string;
  let http: string;
  let mqttUrl: string;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gridhub-overload-'));
    const url = await freshPgDatabase();
    const [mqttPort, httpPort] = [await freePort(), await freePort()];
    http = `http://127.0.0.1:${httpPort}`;
    mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
    child = spawn(process.execPath, ['bin/gridhub.js', 'start'], {
      env: {
        ...process.env,
        ...(url ? { DATABASE_URL: url } : {}),
        GRIDHUB_DATA_DIR: dataDir,
        GRIDHUB_MQTT_PORT: String(mqttPort),
        GRIDHUB_HTTP_PORT: String(httpPort),
        GRIDHUB_LOG_LEVEL: 'warn',
        GRIDHUB_ADMIN_TOKEN: ADMIN,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no ready line: ${out}`)), 60_000);
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('gridhub ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    for (let i = 0; i < DEVICES; i++) {
      const r = await fetch(`${http}/api/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: `ovl-${i}`, profile: 'noise-level' }),
      });
      const token = ((await r.json()) as { accessToken: string }).accessToken;
      const c = await mqtt.connectAsync(mqttUrl, {
        username: token,
        clientId: '',
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      clients.push(c);
    }
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    child?.kill('SIGTERM');
    await new Promise((r) => (child?.exitCode === null ? child.once('exit', r) : r(null)));
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Every device sends at `perDeviceRate` msg/s (0 = as fast as its in-flight window allows). */
  async function drive(seconds: number, perDeviceRate: number) {
    const latencies: number[] = [];
    let acked = 0;
    let skipped = 0;
    let running = true;
    const loops = clients.map(async (c, d) => {
      let inFlight = 0;
      let i = 0;
      const interval = perDeviceRate > 0 ? 1000 / perDeviceRate : 0;
      let next = performance.now();
      while (running) {
        if (inFlight >= IN_FLIGHT) {
          if (interval) skipped++; // the SDK's window is full: the device would throttle itself
          await new Promise((r) => setTimeout(r, interval || 1));
          next = performance.now();
          continue;
        }
        inFlight++;
        const t0 = performance.now();
        c.publishAsync(
          'v1/devices/me/telemetry',
          `{"ts":${Date.now() - 3_600_000 + d * 7 + i++},"values":{"LAeq":55}}`,
          {
            qos: 1,
          },
        ).then(
          () => {
            inFlight--;
            acked++;
            latencies.push(performance.now() - t0);
          },
          () => inFlight--,
        );
        if (interval) {
          next += interval;
          await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
        } else await new Promise((r) => setImmediate(r));
      }
    });
    await new Promise((r) => setTimeout(r, seconds * 1000));
    running = false;
    await Promise.all(loops);
    return { acked, latencies, skipped, rate: acked / seconds };
  }

  it(`RSS and ack p99 stay bounded and health answers (${OVERLOAD_S} s at 2x capacity)`, async () => {
    const capacity = (await drive(5, 0)).rate;
    const perDevice = (2 * capacity) / DEVICES;
    let peakRss = 0;
    let healthWorst = 0;
    let healthFailures = 0;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        peakRss = Math.max(peakRss, rssMb(child.pid!));
        const t0 = performance.now();
        try {
          const r = await fetch(`${http}/api/health`, { signal: AbortSignal.timeout(10_000) });
          if (r.status !== 200) healthFailures++;
        } catch {
          healthFailures++;
        }
        healthWorst = Math.max(healthWorst, performance.now() - t0);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const over = await drive(OVERLOAD_S, perDevice);
    watching = false;
    await watch;
    const p99 = quantile(over.latencies, 0.99);
    console.log(
      `[overload] capacity ${capacity.toFixed(0)} msg/s; offered ${(2 * capacity).toFixed(0)} msg/s for ${OVERLOAD_S} s: ` +
        `acked ${over.rate.toFixed(0)} msg/s, ack p50 ${quantile(over.latencies, 0.5).toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, ` +
        `peak RSS ${peakRss.toFixed(0)} MiB, health worst ${healthWorst.toFixed(0)} ms, ${over.skipped} sends throttled by full windows`,
    );
    expect(capacity).toBeGreaterThan(0);
    expect(healthFailures).toBe(0);
    expect(peakRss).toBeLessThan(RSS_BOUND_MB);
    expect(p99).toBeLessThan(P99_BOUND_MS);
  }, 120_000);
});
