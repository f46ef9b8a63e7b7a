/**
 * Load generator: many devices, a target rate, and an honest account of what the hub did with it.
 *
 *   const report = await runLoad({ mqttUrl, apiUrl, adminToken, devices: 10_000, sockets: 100,
 *                                  qos: 1, rate: 30_000, durationMs: 60_000, signal });
 *
 * Devices are `air-quality` monitors publishing `keys` readings per record (pm10, pm25,
 * windSpeed, windDirection, relativeHumidity, temperature). Two layouts:
 * - one socket per device (`sockets: 'per-device'`, or as many sockets as devices): each device is
 *   registered through the API (`POST /api/devices`; an existing one gets a fresh token) and
 *   publishes `{"pm10": …}` on `v1/devices/me/telemetry` over its own connection;
 * - multiplexed (`sockets` below `devices`): `sockets` gateways (`PREFIX-gw001`…) each carry their
 *   share of the devices as children (`PREFIX-gw001-0001`…, announced with `v1/gateway/connect`)
 *   and publish `v1/gateway/telemetry` `{"CHILD": [{"ts", "values"}]}` with `batch` children per
 *   message (default 1, so a message is one device's record in both layouts).
 *
 * A message is one PUBLISH. The pace: at most `inflight` unacknowledged messages per socket and,
 * with `rate`, at most that many messages per second overall (token bucket). QoS 1 messages count
 * as acknowledged at their PUBACK (which the hub sends once the readings are committed); QoS 0
 * messages have no acknowledgement, the report then says what was written to the sockets and what
 * the hub counted (`/metrics`).
 *
 * Refused = CONNACK refusals + SUBACK refusals (0x80) + connections the hub closed + publishes
 * never acknowledged (within `drainMs` of the end).
 *
 * Why one file: `startLoad` is one closure over the sockets, the ready queue and the counters that
 * its provision, connect, pump and drain phases share on every message; what it is asked and what
 * it reports are in load-report.ts, the histogram in latency.ts.
 */
import { performance } from 'node:perf_hooks';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { createApiClient, metricTotal } from './api-client.ts';
import { createHubApi, FleetError } from './hub-api.ts';
import { LatencyHistogram } from './latency.ts';
import {
  LOAD_KEYS,
  type LoadOptions,
  type LoadPhase,
  type LoadReport,
  type LoadSnapshot,
} from './load-report.ts';
import { eachLimit, TokenBucket } from './pacing.ts';
import { Random } from './random.ts';
import { GATEWAY_CONNECT_TOPIC, GATEWAY_TELEMETRY_TOPIC, TELEMETRY_TOPIC } from './topics.ts';

interface Sock {
  index: number;
  id: string;
  token?: string;
  client?: MqttClient;
  connected: boolean;
  /** Device ids this socket speaks for (itself, or the gateway's children). */
  children: string[];
  /** Next child (round robin). */
  next: number;
  inflight: number;
  queued: boolean;
  closedCounted: boolean;
  /** Closed under us: its messages in flight are lost (never acknowledged). */
  dead: boolean;
}

export interface LoadRun {
  snapshot(): LoadSnapshot;
  /** The report, once the run has ended (duration, signal) and the sockets are closed. */
  done: Promise<LoadReport>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function hubAcceptedReadings(apiUrl: string): Promise<number | null> {
  try {
    const r = await createApiClient({ baseUrl: apiUrl, token: null, timeoutMs: 5000 }).call(
      'GET',
      '/metrics',
    );
    if (r.status < 200 || r.status > 299 || typeof r.body !== 'string') return null;
    return metricTotal(r.body, 'gridhub_readings_accepted_total');
  } catch {
    return null;
  }
}

/** Starts a load run; `snapshot()` for a progress display, `done` for the report. */
export function startLoad(opts: LoadOptions): LoadRun {
  const devices = Math.floor(opts.devices);
  if (!(devices >= 1)) throw new FleetError(`devices must be at least 1, got ${opts.devices}`);
  const perDevice = opts.sockets === 'per-device' || opts.sockets >= devices;
  const nSockets = perDevice ? devices : Math.max(1, Math.floor(opts.sockets as number));
  const keys = Math.min(LOAD_KEYS.length, Math.max(1, Math.floor(opts.keys ?? 3)));
  const batch = perDevice ? 1 : Math.max(1, Math.floor(opts.batch ?? 1));
  const window = Math.max(
    1,
    Math.floor(opts.inflight ?? Math.min(64, Math.max(1, Math.ceil(4000 / nSockets)))),
  );
  const qos = opts.qos;
  const prefix = opts.prefix ?? 'load';
  const drainMs = opts.drainMs ?? 10_000;
  const rnd = new Random(opts.seed ?? 1);
  const bucket = opts.rate ? new TokenBucket(opts.rate, { burst: Math.max(1, opts.rate / 20) }) : undefined;
  const api = createHubApi({
    apiUrl: opts.apiUrl,
    adminToken: opts.adminToken,
    attempts: opts.attempts,
    onRetry: opts.onRetry,
  });

  const pad = (n: number, w: number) => String(n).padStart(w, '0');
  const socks: Sock[] = [];
  if (perDevice) {
    const w = Math.max(5, String(devices).length);
    for (let i = 0; i < devices; i++) {
      const id = `${prefix}-d${pad(i + 1, w)}`;
      socks.push({
        index: i,
        id,
        connected: false,
        children: [id],
        next: 0,
        inflight: 0,
        queued: false,
        closedCounted: false,
        dead: false,
      });
    }
  } else {
    const w = Math.max(3, String(nSockets).length);
    const per = Math.floor(devices / nSockets);
    const extra = devices % nSockets;
    for (let g = 0; g < nSockets; g++) {
      const id = `${prefix}-gw${pad(g + 1, w)}`;
      const n = per + (g < extra ? 1 : 0);
      const cw = Math.max(4, String(n).length);
      socks.push({
        index: g,
        id,
        connected: false,
        children: Array.from({ length: n }, (_, j) => `${id}-${pad(j + 1, cw)}`),
        next: 0,
        inflight: 0,
        queued: false,
        closedCounted: false,
        dead: false,
      });
    }
  }

  let phase: LoadPhase = 'provision';
  const step = { done: 0, total: nSockets };
  const c = {
    sent: 0,
    acked: 0,
    readings: 0,
    errors: 0,
    connack: 0,
    suback: 0,
    closed: 0,
    failedAcks: 0,
    lost: 0,
    announced: 0,
  };
  let inflight = 0;
  let publishing = false;
  let publishStart = 0;
  let publishEnd = 0;
  let lastAckAt = 0;
  const hist = new LatencyHistogram();
  const firstErrors: string[] = [];
  const noteError = (message: string) => {
    c.errors++;
    if (firstErrors.length < 5 && !firstErrors.includes(message)) firstErrors.push(message);
  };

  // ---- payloads (cheap, plausible, in range) ----------------------------------------------------
  const gens: Record<(typeof LOAD_KEYS)[number], () => string> = {
    pm10: () => (20 + rnd.next() * 180).toFixed(1),
    pm25: () => (5 + rnd.next() * 95).toFixed(1),
    windSpeed: () => (rnd.next() * 12).toFixed(1),
    windDirection: () => String(Math.floor(rnd.next() * 360)),
    relativeHumidity: () => (0.3 + rnd.next() * 0.6).toFixed(2),
    temperature: () => (5 + rnd.next() * 25).toFixed(1),
  };
  const keyList = LOAD_KEYS.slice(0, keys);
  const values = () => {
    let s = '{';
    for (let k = 0; k < keyList.length; k++) {
      const key = keyList[k]!;
      s += `${k ? ',' : ''}"${key}":${gens[key]()}`;
    }
    return `${s}}`;
  };

  // ---- pump ------------------------------------------------------------------------------------
  const ready: Sock[] = [];
  let readyHead = 0;
  let pumpQueued = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let drained: (() => void) | undefined;

  const enqueue = (s: Sock) => {
    if (s.queued || !publishing || !s.connected || s.inflight >= window) return;
    s.queued = true;
    ready.push(s);
    if (!pumpQueued) {
      pumpQueued = true;
      setImmediate(pump);
    }
  };

  const send = (s: Sock) => {
    const client = s.client!;
    let topic: string;
    let payload: string;
    let readings: number;
    if (perDevice) {
      topic = TELEMETRY_TOPIC;
      payload = values();
      readings = keys;
    } else {
      topic = GATEWAY_TELEMETRY_TOPIC;
      const ts = Date.now();
      const parts: string[] = [];
      const n = Math.min(batch, s.children.length);
      for (let k = 0; k < n; k++) {
        const child = s.children[s.next]!;
        s.next = (s.next + 1) % s.children.length;
        parts.push(`"${child}":[{"ts":${ts},"values":${values()}}]`);
      }
      payload = `{${parts.join(',')}}`;
      readings = keys * n;
    }
    s.inflight++;
    inflight++;
    c.sent++;
    const t0 = performance.now();
    client.publish(topic, payload, { qos }, (err) => {
      if (s.dead) return; // counted as lost when the connection closed
      s.inflight--;
      inflight--;
      if (err) {
        c.failedAcks++;
        noteError(`publish: ${err.message}`);
      } else {
        const t = performance.now();
        c.acked++;
        c.readings += readings;
        hist.record(t - t0);
        lastAckAt = t;
      }
      if (publishing) enqueue(s);
      else if (inflight === 0) drained?.();
    });
  };

  function pump(): void {
    pumpQueued = false;
    if (!publishing) return;
    let budget = 5000;
    while (readyHead < ready.length) {
      const s = ready[readyHead]!;
      if (!s.connected || s.inflight >= window) {
        readyHead++;
        s.queued = false; // back when its acknowledgement comes
        continue;
      }
      if (budget-- <= 0) {
        pumpQueued = true;
        setImmediate(pump);
        break;
      }
      if (bucket && !bucket.take(1)) {
        if (!timer)
          timer = setTimeout(() => {
            timer = undefined;
            pump();
          }, bucket.waitMs(1));
        break;
      }
      readyHead++;
      s.queued = false;
      send(s);
      enqueue(s);
    }
    if (readyHead > 4096 && readyHead * 2 > ready.length) {
      ready.splice(0, readyHead);
      readyHead = 0;
    }
  }

  // ---- connections -----------------------------------------------------------------------------
  const connectOne = (s: Sock): Promise<void> =>
    new Promise((resolve) => {
      const options: IClientOptions = {
        username: s.token,
        clientId: '',
        clean: true,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 30_000,
        keepalive: 60,
      };
      const client = connect(opts.mqttUrl, options);
      s.client = client;
      let settled = false;
      const done = () => {
        if (!settled) {
          settled = true;
          resolve();
        }
      };
      client.once('connect', () => {
        s.connected = true;
        (client.stream as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
        if (opts.subscribe === false) return done();
        const topic = perDevice ? 'v1/devices/me/attributes' : 'v1/gateway/attributes';
        client.subscribe(topic, { qos: 1 }, (err, granted) => {
          if (err) noteError(`subscribe: ${err.message}`);
          else if (granted?.some((g) => g.qos === 128)) {
            c.suback++;
            noteError(`SUBACK refused ${topic}`);
          }
          done();
        });
      });
      client.on('error', (err) => {
        const code = (err as { code?: unknown }).code;
        if (!s.connected && typeof code === 'number') {
          c.connack++;
          noteError(`CONNACK ${code}: ${err.message}`);
        } else if (!s.connected) noteError(`connect: ${err.message}`);
        else noteError(`connection: ${err.message}`);
        if (!s.connected) {
          client.end(true);
          done();
        }
      });
      client.on('close', () => {
        const was = s.connected;
        s.connected = false;
        if (was && phase !== 'close' && phase !== 'done' && !s.closedCounted) {
          s.closedCounted = true;
          c.closed++;
          noteError('connection closed by the hub');
          // no reconnection: what it had in flight will never be acknowledged
          s.dead = true;
          c.lost += s.inflight;
          inflight -= s.inflight;
          s.inflight = 0;
          if (!publishing && inflight === 0) drained?.();
        }
        done();
      });
    });

  async function closeAll(): Promise<void> {
    await Promise.all(
      socks.map(
        (s) =>
          new Promise<void>((resolve) => {
            const client = s.client;
            s.client = undefined;
            if (!client) return resolve();
            const t = setTimeout(resolve, 5000);
            client.end(!s.connected, () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
    for (const s of socks) s.connected = false;
  }

  const aborted = () => opts.signal?.aborted === true;

  async function run(): Promise<LoadReport> {
    const t0 = performance.now();
    // 1. Provision: every device, or the gateways (their children come with v1/gateway/connect).
    phase = 'provision';
    step.done = 0;
    step.total = nSockets;
    await eachLimit(socks, opts.registerConcurrency ?? 32, async (s) => {
      if (aborted()) return;
      s.token = await api.provisionDevice({
        id: s.id,
        profile: perDevice ? 'air-quality' : 'generic',
        ...(perDevice ? {} : { gateway: true }),
      });
      step.done++;
    });
    const provisionMs = performance.now() - t0;

    // 2. Connect.
    const t1 = performance.now();
    phase = 'connect';
    step.done = 0;
    await eachLimit(socks, opts.connectConcurrency ?? 200, async (s) => {
      if (aborted()) return;
      await connectOne(s);
      step.done++;
    });
    const connectMs = performance.now() - t1;
    const up = socks.filter((s) => s.connected).length;
    if (up === 0 && !aborted()) {
      await closeAll();
      throw new FleetError(
        `cannot connect to the MQTT broker at ${opts.mqttUrl}${firstErrors[0] ? ` (${firstErrors[0]})` : ''}`,
      );
    }

    // 3. Gateways announce their children (QoS 1, so they exist with their profile).
    const t2 = performance.now();
    if (!perDevice && !aborted()) {
      phase = 'announce';
      step.done = 0;
      step.total = devices;
      await eachLimit(socks, socks.length, async (s) => {
        const client = s.client;
        if (!client || !s.connected) return;
        await eachLimit(s.children, 32, async (child) => {
          if (aborted() || !s.connected) return;
          await new Promise<void>((resolve) => {
            client.publish(
              GATEWAY_CONNECT_TOPIC,
              `{"device":"${child}","type":"air-quality"}`,
              { qos: 1 },
              (err) => {
                if (err) noteError(`announce: ${err.message}`);
                else c.announced++;
                step.done++;
                resolve();
              },
            );
          });
        });
      });
    }

    const announceMs = performance.now() - t2;

    // 4. Publish until the duration is over or the signal says stop.
    const before = aborted() ? null : await hubAcceptedReadings(opts.apiUrl);
    phase = 'publish';
    publishing = true;
    publishStart = performance.now();
    for (const s of socks) enqueue(s);
    await new Promise<void>((resolve) => {
      if (aborted()) return resolve();
      const t = opts.durationMs !== undefined ? setTimeout(resolve, opts.durationMs) : undefined;
      opts.signal?.addEventListener(
        'abort',
        () => {
          if (t) clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
    publishing = false;
    publishEnd = performance.now();
    if (timer) clearTimeout(timer);

    // 5. Drain: the last acknowledgements, within a bound.
    phase = 'drain';
    if (inflight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, drainMs);
        drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
      drained = undefined;
    }
    const unacked = inflight + c.failedAcks + c.lost;
    let after = before === null ? null : await hubAcceptedReadings(opts.apiUrl);
    let hubSettledAt = performance.now();
    if (qos === 0 && before !== null) {
      // QoS 0 has no acknowledgement: what was written may still sit in socket buffers. Wait until
      // the hub's count stops moving (or it has all of it), within the drain bound.
      const until = performance.now() + drainMs;
      let last = Number.NaN;
      while (performance.now() < until) {
        if (after !== null && (after === last || after - before >= c.readings)) break;
        if (after !== null && after !== last) hubSettledAt = performance.now();
        last = after ?? Number.NaN;
        await sleep(500);
        after = (await hubAcceptedReadings(opts.apiUrl)) ?? after;
      }
    }

    // 6. Close.
    phase = 'close';
    const connected = socks.filter((s) => s.connected).length;
    await closeAll();
    phase = 'done';

    const windowMs = publishEnd - publishStart;
    const ackSpan = Math.max(windowMs, (lastAckAt || publishEnd) - publishStart);
    const refused = { connack: c.connack, suback: c.suback, closed: c.closed, unacked };
    return {
      devices,
      sockets: nSockets,
      layout: perDevice ? 'per-device' : 'gateways',
      qos,
      keys,
      batch,
      inflightPerSocket: window,
      rate: opts.rate ?? null,
      provisionMs,
      connectMs,
      announced: c.announced,
      announceMs,
      durationMs: windowMs,
      connected,
      sent: c.sent,
      acknowledged: c.acked,
      refused: { total: refused.connack + refused.suback + refused.closed + refused.unacked, ...refused },
      errors: c.errors,
      readings: c.readings,
      messagesPerSec: ackSpan > 0 ? (c.acked * 1000) / ackSpan : 0,
      readingsPerSec: ackSpan > 0 ? (c.readings * 1000) / ackSpan : 0,
      ackLatencyMs: hist.n > 0 ? { p50: hist.percentile(50), p99: hist.percentile(99), max: hist.max } : null,
      hubAccepted: before !== null && after !== null ? after - before : null,
      hubReadingsPerSec:
        qos === 0 && before !== null && after !== null
          ? ((after - before) * 1000) / Math.max(windowMs, hubSettledAt - publishStart)
          : null,
      firstErrors,
    };
  }

  const done = run().catch(async (err) => {
    publishing = false;
    await closeAll().catch(() => {});
    throw err;
  });

  return {
    snapshot: () => ({
      phase,
      step: { ...step },
      sockets: nSockets,
      connected: socks.reduce((n, s) => n + (s.connected ? 1 : 0), 0),
      devices,
      sent: c.sent,
      acked: c.acked,
      readings: c.readings,
      refused: c.connack + c.suback + c.closed + c.failedAcks + c.lost,
      errors: c.errors,
      inflight,
      elapsedMs: publishStart ? (publishEnd || performance.now()) - publishStart : 0,
    }),
    done,
  };
}

/** Runs a load and resolves with its report (see startLoad). */
export function runLoad(opts: LoadOptions): Promise<LoadReport> {
  return startLoad(opts).done;
}
