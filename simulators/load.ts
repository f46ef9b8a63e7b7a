/**
 * `simulate --load`: many devices, a target rate, and an honest account of what the hub did with it.
 *
 *   const report = await runLoad({ mqttUrl, apiUrl, adminToken, devices: 10_000, sockets: 100,
 *                                  qos: 1, rate: 30_000, durationMs: 60_000, signal });
 *
 * Devices are `air-quality` monitors publishing `keys` readings per record (load-payload.ts). Two
 * layouts:
 * - one socket per device (`sockets: 'per-device'`, or as many sockets as devices): each device is
 *   registered through the API (`POST /api/devices`; an existing one gets a fresh token) and
 *   publishes `{"pm10": …}` on `v1/devices/me/telemetry` over its own connection;
 * - multiplexed (`sockets` below `devices`): `sockets` gateways (`PREFIX-gw001`…) each carry their
 *   share of the devices as children (`PREFIX-gw001-0001`…, announced with `v1/gateway/connect`)
 *   and publish `v1/gateway/telemetry` `{"CHILD": [{"ts", "values"}]}` with `batch` children per
 *   message (default 1, so a message is one device's record in both layouts).
 *
 * A message is one PUBLISH. The pace (load-publisher.ts): at most `inflight` unacknowledged messages
 * per socket and, with `rate`, at most that many messages per second overall (token bucket). QoS 1
 * messages count as acknowledged at their PUBACK (which the hub sends once the readings are
 * committed); QoS 0 messages have no acknowledgement, the report then says what was written to the
 * sockets and what the hub counted (`/metrics`).
 *
 * Refused = CONNACK refusals + SUBACK refusals (0x80) + connections the hub closed + publishes
 * never acknowledged (within `drainMs` of the end).
 *
 * This file runs the phases (provision, connect, announce, publish, drain, close) and writes the
 * report; what it is asked and reports is in load-report.ts.
 */
import { performance } from 'node:perf_hooks';
import { createApiClient, metricTotal } from './api-client.ts';
import { createHubApi, FleetError } from './hub-api.ts';
import { airQualityValues, LOAD_KEYS } from './load-payload.ts';
import { createPublisher } from './load-publisher.ts';
import type { LoadOptions, LoadPhase, LoadReport, LoadSnapshot } from './load-report.ts';
import { openMqttSocket } from './mqtt-socket.ts';
import { eachLimit, sleep } from './pacing.ts';
import { Random } from './random.ts';
import { GATEWAY_CONNECT_TOPIC, GATEWAY_TELEMETRY_TOPIC, TELEMETRY_TOPIC } from './topics.ts';

export interface LoadRun {
  snapshot(): LoadSnapshot;
  /** The report, once the run has ended (duration, signal) and the sockets are closed. */
  done: Promise<LoadReport>;
}

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

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** Socket ids and the device ids each speaks for (itself, or the gateway's children). */
function layoutSockets(devices: number, nSockets: number, perDevice: boolean, prefix: string) {
  const ids: string[] = [];
  const children: string[][] = [];
  if (perDevice) {
    const w = Math.max(5, String(devices).length);
    for (let i = 0; i < devices; i++) {
      const id = `${prefix}-d${pad(i + 1, w)}`;
      ids.push(id);
      children.push([id]);
    }
    return { ids, children };
  }
  const w = Math.max(3, String(nSockets).length);
  const per = Math.floor(devices / nSockets);
  const extra = devices % nSockets;
  for (let g = 0; g < nSockets; g++) {
    const id = `${prefix}-gw${pad(g + 1, w)}`;
    const n = per + (g < extra ? 1 : 0);
    const cw = Math.max(4, String(n).length);
    ids.push(id);
    children.push(Array.from({ length: n }, (_, j) => `${id}-${pad(j + 1, cw)}`));
  }
  return { ids, children };
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
  const drainMs = opts.drainMs ?? 10_000;
  const rnd = new Random(opts.seed ?? 1);
  const api = createHubApi({
    apiUrl: opts.apiUrl,
    adminToken: opts.adminToken,
    attempts: opts.attempts,
    onRetry: opts.onRetry,
  });
  const { ids, children } = layoutSockets(devices, nSockets, perDevice, opts.prefix ?? 'load');
  const tokens: (string | undefined)[] = new Array(nSockets);
  const closedCounted = new Uint8Array(nSockets);

  let phase: LoadPhase = 'provision';
  const step = { done: 0, total: nSockets };
  const c = { errors: 0, connack: 0, suback: 0, closed: 0, announced: 0 };
  const firstErrors: string[] = [];
  const noteError = (message: string) => {
    c.errors++;
    if (firstErrors.length < 5 && !firstErrors.includes(message)) firstErrors.push(message);
  };

  // ---- messages: a device's record, or `batch` children's records in turn ----------------------
  const values = airQualityValues(keys, () => rnd.next());
  const nextChild = new Int32Array(nSockets);
  const gatewayMessage = (i: number) => {
    const kids = children[i]!;
    const ts = Date.now();
    const n = Math.min(batch, kids.length);
    let s = '{';
    for (let k = 0; k < n; k++) {
      const child = kids[nextChild[i]!]!;
      nextChild[i] = (nextChild[i]! + 1) % kids.length;
      s += `${k ? ',' : ''}"${child}":[{"ts":${ts},"values":${values()}}]`;
    }
    return `${s}}`;
  };
  const pub = createPublisher({
    sockets: nSockets,
    window,
    qos,
    topic: perDevice ? TELEMETRY_TOPIC : GATEWAY_TELEMETRY_TOPIC,
    payload: perDevice ? values : gatewayMessage,
    readingsPerMessage: (i) => keys * Math.min(batch, children[i]!.length),
    onError: noteError,
  });

  // ---- connections -----------------------------------------------------------------------------
  const connectOne = async (i: number): Promise<void> => {
    let client: Awaited<ReturnType<typeof openMqttSocket>>;
    try {
      client = await openMqttSocket(opts.mqttUrl, {
        username: tokens[i],
        connectTimeoutMs: 30_000,
        onError: (err) => noteError(`connection: ${err.message}`),
      });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'number') {
        c.connack++;
        noteError(`CONNACK ${code}: ${(err as Error).message}`);
      } else noteError(`connect: ${(err as Error).message}`);
      return;
    }
    pub.attach(i, client);
    client.once('close', () => {
      if (phase === 'close' || phase === 'done' || closedCounted[i]) return;
      closedCounted[i] = 1;
      c.closed++;
      noteError('connection closed by the hub');
      pub.closed(i); // no reconnection: what it had in flight will never be acknowledged
    });
    if (opts.subscribe === false) return;
    const topic = perDevice ? 'v1/devices/me/attributes' : 'v1/gateway/attributes';
    await new Promise<void>((resolve) => {
      if (!client.connected) return resolve();
      client.subscribe(topic, { qos: 1 }, (err, granted) => {
        if (err) noteError(`subscribe: ${err.message}`);
        else if (granted?.some((g) => g.qos === 128)) {
          c.suback++;
          noteError(`SUBACK refused ${topic}`);
        }
        resolve();
      });
    });
  };

  const indices = [...ids.keys()];
  const aborted = () => opts.signal?.aborted === true;
  let publishStart = 0;
  let publishEnd = 0;

  async function run(): Promise<LoadReport> {
    const t0 = performance.now();
    // 1. Provision: every device, or the gateways (their children come with v1/gateway/connect).
    phase = 'provision';
    step.done = 0;
    step.total = nSockets;
    await eachLimit(indices, opts.registerConcurrency ?? 32, async (i) => {
      if (aborted()) return;
      tokens[i] = await api.provisionDevice({
        id: ids[i]!,
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
    await eachLimit(indices, opts.connectConcurrency ?? 200, async (i) => {
      if (aborted()) return;
      await connectOne(i);
      step.done++;
    });
    const connectMs = performance.now() - t1;
    if (pub.connected() === 0 && !aborted()) {
      await pub.close();
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
      await eachLimit(indices, indices.length, async (i) => {
        const client = pub.client(i);
        if (!client?.connected) return;
        await eachLimit(children[i]!, 32, async (child) => {
          if (aborted() || !client.connected) return;
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
    publishStart = performance.now();
    if (!aborted()) pub.start(opts.rate ? { kind: 'rate', messagesPerSec: opts.rate } : { kind: 'closed' });
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

    // 5. Drain: the last acknowledgements, within a bound.
    publishEnd = performance.now();
    phase = 'drain';
    const { leftInflight } = await pub.stop(drainMs);
    const counts = pub.counts;
    const unacked = leftInflight + counts.failed + counts.lost;
    let after = before === null ? null : await hubAcceptedReadings(opts.apiUrl);
    let hubSettledAt = performance.now();
    if (qos === 0 && before !== null) {
      // QoS 0 has no acknowledgement: what was written may still sit in socket buffers. Wait until
      // the hub's count stops moving (or it has all of it), within the drain bound.
      const until = performance.now() + drainMs;
      let last = Number.NaN;
      while (performance.now() < until) {
        if (after !== null && (after === last || after - before >= counts.readings)) break;
        if (after !== null && after !== last) hubSettledAt = performance.now();
        last = after ?? Number.NaN;
        await sleep(500);
        after = (await hubAcceptedReadings(opts.apiUrl)) ?? after;
      }
    }

    // 6. Close.
    phase = 'close';
    const connected = pub.connected();
    await pub.close(true);
    phase = 'done';

    const hist = pub.hist;
    const windowMs = publishEnd - publishStart;
    const ackSpan = Math.max(windowMs, (pub.lastAckAt || publishEnd) - publishStart);
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
      sent: counts.sent,
      acknowledged: counts.acked,
      refused: { total: refused.connack + refused.suback + refused.closed + refused.unacked, ...refused },
      errors: c.errors,
      readings: counts.readings,
      messagesPerSec: ackSpan > 0 ? (counts.acked * 1000) / ackSpan : 0,
      readingsPerSec: ackSpan > 0 ? (counts.readings * 1000) / ackSpan : 0,
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
    await pub.stop(0).catch(() => {});
    await pub.close().catch(() => {});
    throw err;
  });

  return {
    snapshot: () => {
      const counts = pub.counts;
      return {
        phase,
        step: { ...step },
        sockets: nSockets,
        connected: pub.connected(),
        devices,
        sent: counts.sent,
        acked: counts.acked,
        readings: counts.readings,
        refused: c.connack + c.suback + c.closed + counts.failed + counts.lost,
        errors: c.errors,
        inflight: pub.inflight,
        elapsedMs: publishStart ? (publishEnd || performance.now()) - publishStart : 0,
      };
    },
    done,
  };
}

/** Runs a load and resolves with its report (see startLoad). */
export function runLoad(opts: LoadOptions): Promise<LoadReport> {
  return startLoad(opts).done;
}
