// Mixed device load for the fault tests of issue 8 (database restart, outage, SIGKILL): QoS 1
// telemetry with timestamps, QoS 0 batches, and a bin without timestamps whose case opens and
// clears. It records what was sent and what was acknowledged, so a test can prove that every
// acknowledged reading is stored exactly once.
import mqtt, { type MqttClient } from 'mqtt';

export interface LoadDevices {
  /** noise-level devices publishing QoS 1 `{ts, values: {LAeq}}`, one message in flight each. */
  qos1: { id: string; token: string }[];
  /** A noise-level device publishing QoS 0 arrays of 10 timestamped records. */
  qos0?: { id: string; token: string };
  /** A waste-container publishing QoS 1 `{"fillingLevel": …}` without ts, alternating full/empty. */
  bin?: { id: string; token: string };
}

export interface LoadResult {
  /** Per device: the ts of every message sent and of every message acknowledged. */
  sent: Map<string, number[]>;
  acked: Map<string, number[]>;
  /** Bin messages sent and acknowledged (no ts: counted). */
  binSent: number;
  binAcked: number;
  /** Every publish-to-PUBACK latency, ms. */
  latencies: number[];
}

export const LOAD_BASE_TS = Date.now() - 6 * 3_600_000;

/** Starts the load; `stop()` ends it after the messages in flight are acknowledged (or time out). */
export async function startLoad(
  mqttUrl: string,
  devices: LoadDevices,
  opts: { qos1EveryMs?: number; qos0EveryMs?: number; binEveryMs?: number } = {},
) {
  const result: LoadResult = {
    sent: new Map(),
    acked: new Map(),
    binSent: 0,
    binAcked: 0,
    latencies: [],
  };
  let running = true;
  const clients: MqttClient[] = [];
  const connect = async (token: string) => {
    // Reconnecting clients, as devices are: a broker restart is survived and in-flight QoS 1
    // messages are resent (DUP) on the new connection.
    const c = await mqtt.connectAsync(mqttUrl, {
      username: token,
      clientId: '',
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 300,
      connectTimeout: 5_000,
    });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const loops: Promise<void>[] = [];

  for (const d of devices.qos1) {
    const c = await connect(d.token);
    const sent: number[] = [];
    const acked: number[] = [];
    result.sent.set(d.id, sent);
    result.acked.set(d.id, acked);
    loops.push(
      (async () => {
        for (let i = 0; running; i++) {
          const ts = LOAD_BASE_TS + i * 1000;
          sent.push(ts);
          const t0 = performance.now();
          try {
            await c.publishAsync(
              'v1/devices/me/telemetry',
              JSON.stringify({ ts, values: { LAeq: 40 + (i % 30) } }),
              {
                qos: 1,
              },
            );
            acked.push(ts);
            result.latencies.push(performance.now() - t0);
          } catch {
            // Not acknowledged: the device may resend, but nothing is owed.
          }
          await sleep(opts.qos1EveryMs ?? 20);
        }
      })(),
    );
  }

  if (devices.qos0) {
    const d = devices.qos0;
    const c = await connect(d.token);
    const sent: number[] = [];
    result.sent.set(d.id, sent);
    loops.push(
      (async () => {
        for (let i = 0; running; i++) {
          const records = Array.from({ length: 10 }, (_, k) => {
            const ts = LOAD_BASE_TS + (i * 10 + k) * 100;
            sent.push(ts);
            return { ts, values: { LAeq: 50 } };
          });
          c.publish('v1/devices/me/telemetry', JSON.stringify(records), { qos: 0 });
          await sleep(opts.qos0EveryMs ?? 50);
        }
      })(),
    );
  }

  if (devices.bin) {
    const c = await connect(devices.bin.token);
    loops.push(
      (async () => {
        for (let i = 0; running; i++) {
          result.binSent++;
          try {
            await c.publishAsync(
              'v1/devices/me/telemetry',
              JSON.stringify({ fillingLevel: i % 2 ? 0.1 : 0.9 }),
              {
                qos: 1,
              },
            );
            result.binAcked++;
          } catch {}
          await sleep(opts.binEveryMs ?? 200);
        }
      })(),
    );
  }

  return {
    result,
    async stop() {
      running = false;
      // Messages in flight get their PUBACK (or the bound passes); then the clients close.
      await Promise.race([Promise.all(loops), sleep(60_000)]);
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      return result;
    },
  };
}

/** Readings acknowledged but not stored, per device (must be empty). */
export function lostReadings(result: LoadResult, stored: Map<string, Set<number>>): Record<string, number[]> {
  const lost: Record<string, number[]> = {};
  for (const [id, acked] of result.acked) {
    const have = stored.get(id) ?? new Set();
    const missing = acked.filter((ts) => !have.has(ts));
    if (missing.length) lost[id] = missing;
  }
  return lost;
}

/** p-quantile of a list of numbers. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
