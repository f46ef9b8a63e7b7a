/**
 * A fleet publisher: provisions devices through the HTTP API, then runs every device as a
 * ThingsBoard-style MQTT client publishing the models' readings.
 *
 *   const fleet = createFleet({ mqttUrl, apiUrl, adminToken });
 *   await fleet.provision(); await fleet.start(); … await fleet.stop();
 *
 * The devices are the demo district's by default: a bin per bin location (`bin-01`…,
 * waste-container); per site `site-N-dust` (air-quality), `site-N-noise` (noise-level) and
 * `site-N-camera` (camera watching the site); sites 1–2 also `site-N-crane` (tower-crane); street
 * cameras `cam-01`… next to some bins. Site 3 reports its dust and noise through the gateway
 * `site-3-gateway` (its monitors are the gateway's children, created by `v1/gateway/connect`).
 * `devices` replaces them (see fleet-file.ts).
 *
 * Timing. Every device publishes every `everyMs` (default `intervalMs`) at a seeded phase, with the
 * reading's own timestamp. Live, a device publishes when its time comes; with `fastForwardMs` the
 * schedule starts that far in the past and the backlog goes out as fast as the hub acknowledges
 * (several records per message, at most `inflight` unacknowledged messages per connection, and
 * at most `rate` messages per second overall), until it has caught up with the end of the window
 * (`live: false`) or with now, after which it runs live. Same seed and same window ⇒ same readings.
 *
 * Why one file: `createFleet` is one closure over the connections, the schedule heap and the
 * counters, which its provisioning, MQTT and pacing halves all read on every message; its helpers
 * live apart (roster.ts, device-sim.ts, pacing.ts, hub-api.ts, topics.ts).
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { type Logger, pino } from 'pino';
import { makeSim, type Sim, type TelemetryRecord } from './device-sim.ts';
import { demoDistrict } from './district.ts';
import { createHubApi, FleetError } from './hub-api.ts';
import { DEFAULT_TIME_ZONE } from './models/index.ts';
import { eachLimit, Heap, settleWithin, sleep, TokenBucket } from './pacing.ts';
import { type FleetChildSpec, type FleetDeviceSpec, fleetDevices } from './roster.ts';
import {
  GATEWAY_CONNECT_TOPIC,
  GATEWAY_DISCONNECT_TOPIC,
  GATEWAY_TELEMETRY_TOPIC,
  TELEMETRY_TOPIC,
} from './topics.ts';

export type { SimProfile } from './models/index.ts';

export interface FleetOptions {
  mqttUrl: string;
  apiUrl: string;
  adminToken: string;
  seed?: number;
  /** Publishing period of every device that sets none (ms); default 5000. */
  intervalMs?: number;
  district?: ReturnType<typeof demoDistrict>;
  /** The devices to simulate instead of the district's (their grids are not uploaded). */
  devices?: FleetDeviceSpec[];
  logger?: Logger;
  /** IANA zone for the models' time of day; default Asia/Shanghai. */
  timeZone?: string;
  /** Attempts per HTTP request while the hub is unreachable (default 5, backoff 0.5 s doubling). */
  attempts?: number;
  /** Told before each retry of an unreachable hub (the CLI prints it). */
  onRetry?: (message: string) => void;
  /** Replay this much history (ms) ending now, with its timestamps, before or instead of live. */
  fastForwardMs?: number;
  /** After a replay, go on in real time (default false: the fleet is done once it has caught up). */
  thenLive?: boolean;
  /** Messages per second, all devices together (token bucket); default unlimited. */
  rate?: number;
  /** QoS of the telemetry (default 1). */
  qos?: 0 | 1;
  /** Unacknowledged telemetry messages per connection (default 16). */
  inflight?: number;
  /** Records per device and message while catching up (default 10). */
  batch?: number;
  /** Clock (ms since epoch); for tests. */
  now?: () => number;
}

export interface FleetStats {
  /** Simulated devices, gateways and gateway children included. */
  devices: number;
  /** Of those, how many have their MQTT connection (or their gateway's) up. */
  connected: number;
  /** Telemetry PUBLISHes handed to the MQTT clients. */
  sent: number;
  /** Telemetry PUBLISHes acknowledged by the hub (QoS 1) or written to the socket (QoS 0). */
  messages: number;
  /** Readings (key values; a camera detection is one) in acknowledged telemetry. */
  readings: number;
  /** Telemetry messages sent and not acknowledged (yet). */
  inflight: number;
  /** Connection, publish and provisioning errors. */
  errors: number;
  /** `replay` while catching up on the fast-forward window, then `live` (or `done`). */
  phase: 'idle' | 'replay' | 'live' | 'done' | 'stopped';
  /** How far the most-behind device is behind the window's end or now (ms); 0 live. */
  behindMs: number;
  /** The fast-forward window, when there is one. */
  replay?: { from: number; to: number };
}

export interface Fleet {
  provision(): Promise<void>;
  start(): Promise<void>;
  /** Stops publishing, waits up to `drainMs` (default 5000) for acknowledgements, disconnects. */
  stop(opts?: { drainMs?: number }): Promise<void>;
  stats(): FleetStats;
  /** Resolves once every device has caught up with the replay window (at once without one). */
  caughtUp(): Promise<void>;
}

interface Conn {
  spec: FleetDeviceSpec;
  token?: string;
  client?: MqttClient;
  connected: boolean;
  errorLogged: boolean;
  sims: Sim[];
  /** Heap key: the earliest next record of its sims. */
  key: number;
  /** In the heap, or waiting (disconnected, window full). */
  queued: boolean;
  inflight: number;
  /** Gateways: where the next message starts among the children (fairness). */
  rr: number;
  /** Children whose location was set after their creation. */
  located: boolean;
  /** Connected, and (a gateway) its children announced: telemetry may flow. */
  ready: boolean;
}

/** Largest payload the fleet builds (the hub's default limit is 64 KiB). */
const MAX_PAYLOAD_BYTES = 48 * 1024;
/** Model steps at most per message build (a quiet camera may step far without a record). */
const MAX_STEPS_PER_BUILD = 20_000;

const countReadings = (records: readonly TelemetryRecord[]) => {
  let n = 0;
  for (const r of records) for (const _ in r.values) n++;
  return n;
};

export function createFleet(opts: FleetOptions): Fleet {
  const seed = opts.seed ?? 1;
  const intervalMs = opts.intervalMs ?? 5000;
  if (!(intervalMs > 0)) throw new FleetError(`intervalMs must be a positive number, got ${opts.intervalMs}`);
  const timeZone = opts.timeZone ?? DEFAULT_TIME_ZONE;
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'fleet' });
  const now = opts.now ?? Date.now;
  const qos = opts.qos ?? 1;
  const window = Math.max(1, opts.inflight ?? 16);
  const batch = Math.max(1, opts.batch ?? 10);
  const ffMs = Math.max(0, opts.fastForwardMs ?? 0);
  const thenLive = ffMs === 0 || (opts.thenLive ?? false);
  const bucket = opts.rate ? new TokenBucket(opts.rate) : undefined;
  const district = opts.devices ? undefined : (opts.district ?? demoDistrict(seed));
  const specs = opts.devices ?? fleetDevices(district!);
  const conns: Conn[] = specs.map((spec) => ({
    spec,
    connected: false,
    errorLogged: false,
    sims: [],
    key: 0,
    queued: false,
    inflight: 0,
    rr: 0,
    located: false,
    ready: false,
  }));
  const counters = { sent: 0, messages: 0, readings: 0, errors: 0 };
  let provisioned = false;
  let running = false;
  let phase: FleetStats['phase'] = 'idle';
  let replay: { from: number; to: number } | undefined;
  const heap = new Heap<Conn>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = Number.POSITIVE_INFINITY;
  let pumpQueued = false;
  let caughtUpResolve: (() => void) | undefined;
  const caughtUpPromise = new Promise<void>((resolve) => {
    caughtUpResolve = resolve;
  });
  let drained: (() => void) | undefined;
  let totalInflight = 0;

  const fail = (conn: Conn | undefined, what: string, err: unknown) => {
    counters.errors++;
    const message = err instanceof Error ? err.message : String(err);
    if (conn && !conn.errorLogged) {
      conn.errorLogged = true;
      log.warn(
        { device: conn.spec.id, err: message },
        `${what} failed (further errors of this device are counted)`,
      );
    } else {
      log.debug({ device: conn?.spec.id, err: message }, `${what} failed`);
    }
  };

  const api = createHubApi({
    apiUrl: opts.apiUrl,
    adminToken: opts.adminToken,
    attempts: opts.attempts,
    onRetry: opts.onRetry,
    logger: log,
    onError: () => {
      counters.errors++;
    },
  });

  async function provision(): Promise<void> {
    if (district) {
      const grids = await api.call('PUT', '/api/grids', district.grids);
      if (grids.status < 200 || grids.status >= 300)
        throw api.refused('uploading the grids (PUT /api/grids)', grids);
      log.info({ grids: district.grids.features.length }, 'grids uploaded');
    }
    await eachLimit(conns, district ? 4 : 16, async (conn) => {
      const { id, name, profile, location, gateway } = conn.spec;
      conn.token = await api.provisionDevice({ id, name, profile, location, gateway });
    });
    provisioned = true;
    log.info({ devices: conns.length }, 'devices provisioned');
  }

  // ---- MQTT ------------------------------------------------------------------------------------

  const settle = (conn: Conn) => {
    conn.inflight--;
    totalInflight--;
    if (running) {
      wake(conn);
      if (phase === 'replay') schedulePump(); // the last acknowledgement ends a replay
    } else if (totalInflight === 0) drained?.();
  };

  /** Puts a waiting connection back in the heap when it can send again. */
  const wake = (conn: Conn) => {
    if (!running || conn.queued || !conn.ready || conn.inflight >= window || conn.sims.length === 0) return;
    conn.queued = true;
    heap.push(conn);
    schedulePump();
  };

  const schedulePump = () => {
    if (pumpQueued || !running) return;
    pumpQueued = true;
    setImmediate(pump);
  };

  const armTimer = (at: number) => {
    if (timer && timerAt <= at) return;
    if (timer) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(
      () => {
        timer = undefined;
        timerAt = Number.POSITIVE_INFINITY;
        pump();
      },
      Math.max(0, at - now()),
    );
  };

  const publishTelemetry = (conn: Conn, topic: string, payload: string, readings: number) => {
    const client = conn.client;
    if (!client) return;
    conn.inflight++;
    totalInflight++;
    counters.sent++;
    client.publish(topic, payload, { qos }, (err) => {
      if (err) {
        if (running) fail(conn, `publish on ${topic}`, err);
        else counters.errors++;
      } else {
        counters.messages++;
        counters.readings += readings;
      }
      settle(conn);
    });
  };

  /** The records of a sim due by `horizon`, at most `max` of them (advances its schedule). */
  const take = (sim: Sim, horizon: number, max: number): TelemetryRecord[] => {
    const out: TelemetryRecord[] = [];
    for (let steps = 0; sim.nextTs <= horizon && out.length < max && steps < MAX_STEPS_PER_BUILD; steps++) {
      for (const r of sim.gen(sim.nextTs)) out.push(r);
      sim.nextTs += sim.everyMs;
    }
    return out;
  };

  const keyOf = (conn: Conn) => {
    let k = Number.POSITIVE_INFINITY;
    for (const s of conn.sims) if (s.nextTs < k) k = s.nextTs;
    return k;
  };

  /** Builds and sends the next message of a connection; false if it had nothing to say. */
  const sendNext = (conn: Conn, horizon: number): boolean => {
    // Live, one record per device and message; catching up, up to `batch`.
    if (conn.spec.gateway) {
      const parts: string[] = [];
      let bytes = 2;
      let readings = 0;
      const n = conn.sims.length;
      const start = conn.rr % n;
      for (let k = 0; k < n && bytes < MAX_PAYLOAD_BYTES; k++) {
        const sim = conn.sims[(start + k) % n]!;
        if (sim.nextTs > horizon) continue;
        const behind = horizon - sim.nextTs >= Math.max(sim.everyMs, 1000);
        const records = take(sim, horizon, behind ? batch : 1);
        if (records.length === 0) continue;
        const part = `${JSON.stringify(sim.id)}:${JSON.stringify(records)}`;
        parts.push(part);
        bytes += part.length + 1;
        readings += countReadings(records);
        conn.rr = (start + k + 1) % n;
      }
      if (parts.length === 0) return false;
      publishTelemetry(conn, GATEWAY_TELEMETRY_TOPIC, `{${parts.join(',')}}`, readings);
      return true;
    }
    const sim = conn.sims[0];
    if (!sim) return false;
    const behind = horizon - sim.nextTs >= Math.max(sim.everyMs, 1000);
    const records = take(sim, horizon, behind ? batch : 1);
    if (records.length === 0) return false;
    const payload = JSON.stringify(records.length === 1 ? records[0] : records);
    publishTelemetry(conn, TELEMETRY_TOPIC, payload, countReadings(records));
    return true;
  };

  const horizonAt = (t: number) => (thenLive ? t : (replay?.to ?? t));

  function pump(): void {
    pumpQueued = false;
    if (!running) return;
    const t = now();
    const horizon = horizonAt(t);
    let budget = 2000; // messages per turn of the event loop
    for (;;) {
      const conn = heap.peek();
      if (!conn || conn.key > horizon) break;
      if (!conn.ready || conn.inflight >= window || !conn.client) {
        heap.pop();
        conn.queued = false; // woken by its acknowledgement or its reconnection
        continue;
      }
      if (bucket && bucket.available < 1) {
        armTimer(t + bucket.waitMs(1));
        return;
      }
      if (budget-- <= 0) {
        schedulePump();
        return;
      }
      heap.pop();
      conn.queued = false;
      try {
        if (sendNext(conn, horizon)) bucket?.take(1);
      } catch (err) {
        fail(conn, 'publishing', err);
      }
      conn.key = keyOf(conn);
      if (Number.isFinite(conn.key)) wake(conn);
    }
    updatePhase(t);
    const next = heap.peek();
    if (next && thenLive) armTimer(next.key);
  }

  /** Replay → live (or done): when no device is a period or more behind. */
  function updatePhase(t: number): void {
    if (phase !== 'replay') return;
    const horizon = horizonAt(t);
    for (const c of conns) {
      for (const s of c.sims) {
        if (thenLive ? horizon - s.nextTs >= s.everyMs : s.nextTs <= horizon) return;
      }
    }
    if (!thenLive && totalInflight > 0) return; // done once the last ones are acknowledged
    phase = thenLive ? 'live' : 'done';
    log.info({ phase }, 'replay caught up');
    caughtUpResolve?.();
  }

  /**
   * A gateway announces its children (`v1/gateway/connect` with their profile) and starts their
   * telemetry once the hub has acknowledged them all: the hub handles the PUBLISHes of one read
   * concurrently, and telemetry for a child it has not created yet would create it as `generic`.
   */
  const announceChildren = (conn: Conn) => {
    const client = conn.client;
    const children = conn.spec.children ?? [];
    if (!client) return;
    let pending = children.length;
    const oneDone = () => {
      if (--pending > 0 || client !== conn.client || !conn.connected) return;
      conn.ready = true;
      wake(conn);
    };
    if (pending === 0) {
      pending = 1;
      oneDone();
      return;
    }
    for (const child of children) {
      client.publish(
        GATEWAY_CONNECT_TOPIC,
        JSON.stringify({ device: child.id, type: child.profile }),
        { qos: 1 },
        (err) => {
          if (err) {
            if (running) fail(conn, `announcing ${child.id}`, err);
          } else if (child.location && !conn.located) void locateChild(conn, child);
          oneDone();
        },
      );
    }
  };

  /** A gateway child is created at its gateway's location; move it where the fleet says. */
  async function locateChild(conn: Conn, child: FleetChildSpec) {
    try {
      const res = await api.call('PATCH', `/api/devices/${encodeURIComponent(child.id)}`, {
        location: child.location,
      });
      if (res.status >= 300) fail(conn, `locating ${child.id}`, new Error(`HTTP ${res.status}`));
    } catch (err) {
      fail(conn, `locating ${child.id}`, err);
    }
    if (child === conn.spec.children?.at(-1)) conn.located = true;
  }

  /** Connects one device; resolves at its first CONNACK or first error (it keeps retrying after). */
  function connectDevice(conn: Conn): Promise<string | undefined> {
    const options: IClientOptions = {
      username: conn.token,
      // ThingsBoard SDK style: empty client id + clean session (MQTT 3.1.1 lets the broker assign
      // one; mqtt.js sends '' as is when given a string, instead of generating `mqttjs_…`).
      clientId: '',
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      keepalive: 60,
    };
    const client = connect(opts.mqttUrl, options);
    conn.client = client;
    return new Promise((resolve) => {
      let settled = false;
      const done = (err?: string) => {
        if (!settled) {
          settled = true;
          resolve(err);
        }
      };
      client.on('connect', () => {
        conn.connected = true;
        log.debug({ device: conn.spec.id }, 'connected');
        if (conn.spec.gateway) announceChildren(conn);
        else conn.ready = true;
        wake(conn);
        done();
      });
      client.on('close', () => {
        conn.connected = false;
        conn.ready = false;
      });
      client.on('error', (err) => {
        if (running) fail(conn, 'MQTT connection', err);
        done(err.message);
      });
      setTimeout(() => done('no CONNACK within 10 s'), 10_000).unref();
    });
  }

  async function start(): Promise<void> {
    if (running) return;
    if (!provisioned) await provision();
    running = true;
    const t = now();
    const from = t - ffMs;
    if (ffMs > 0) {
      replay = { from, to: t };
      phase = 'replay';
    } else phase = 'live';
    for (const conn of conns) {
      const { spec } = conn;
      const devices: FleetChildSpec[] = spec.gateway
        ? (spec.children ?? [])
        : spec.profile === 'generic'
          ? []
          : [{ id: spec.id, profile: spec.profile, everyMs: spec.everyMs, scene: spec.scene }];
      conn.sims = devices.map((d) =>
        makeSim(
          { id: d.id, profile: d.profile, everyMs: d.everyMs ?? intervalMs, scene: d.scene },
          seed,
          spec.id,
          from,
          timeZone,
        ),
      );
      conn.key = keyOf(conn);
      conn.errorLogged = false;
    }
    const results = await Promise.all(conns.map((conn) => connectDevice(conn)));
    if (!running) return; // stopped meanwhile
    const up = conns.filter((c) => c.connected).length;
    if (up === 0) {
      const reason = results.find((r) => r !== undefined) ?? 'unknown error';
      await stop({ drainMs: 0 });
      throw new FleetError(`cannot connect any device to the MQTT broker at ${opts.mqttUrl} (${reason})`);
    }
    if (up < conns.length)
      log.warn({ up, total: conns.length }, 'some devices could not connect yet (retrying)');
    for (const conn of conns) wake(conn);
    if (phase === 'replay') updatePhase(now());
    else caughtUpResolve?.();
    log.info(
      { devices: stats().devices, connected: stats().connected, intervalMs, fastForwardMs: ffMs },
      'fleet started',
    );
  }

  async function stop(stopOpts: { drainMs?: number } = {}): Promise<void> {
    const wasRunning = running;
    running = false;
    if (phase !== 'idle') phase = 'stopped';
    if (timer) clearTimeout(timer);
    timer = undefined;
    timerAt = Number.POSITIVE_INFINITY;
    heap.clear();
    for (const c of conns) c.queued = false;
    // Let in-flight messages be acknowledged, but not forever.
    const drainMs = stopOpts.drainMs ?? 5000;
    if (wasRunning && totalInflight > 0 && drainMs > 0) {
      await settleWithin(drainMs, (done) => {
        drained = done;
      });
      drained = undefined;
    }
    await Promise.all(
      conns.map(async (conn) => {
        const client = conn.client;
        conn.client = undefined;
        if (!client) return;
        try {
          if (conn.connected && conn.spec.gateway) {
            for (const child of conn.spec.children ?? []) {
              client.publish(GATEWAY_DISCONNECT_TOPIC, JSON.stringify({ device: child.id }), { qos: 1 });
            }
          }
          const ended = client.endAsync(false).then(() => true);
          if (!(await Promise.race([ended, sleep(3000).then(() => false)]))) await client.endAsync(true);
        } catch (err) {
          log.debug({ device: conn.spec.id, err: (err as Error).message }, 'closing the MQTT client failed');
        }
        conn.connected = false;
        conn.ready = false;
      }),
    );
  }

  function stats(): FleetStats {
    let devices = 0;
    let connected = 0;
    let oldest = Number.POSITIVE_INFINITY;
    for (const conn of conns) {
      const n = conn.spec.gateway ? 1 + (conn.spec.children?.length ?? 0) : 1;
      devices += n;
      if (conn.connected) connected += n;
      for (const s of conn.sims) if (s.nextTs < oldest) oldest = s.nextTs;
    }
    const t = now();
    const horizon = horizonAt(t);
    const behindMs =
      phase === 'replay' && Number.isFinite(oldest) ? Math.max(0, Math.min(horizon, t) - oldest) : 0;
    return {
      devices,
      connected,
      ...counters,
      inflight: totalInflight,
      phase,
      behindMs,
      ...(replay ? { replay } : {}),
    };
  }

  return { provision, start, stop, stats, caughtUp: () => caughtUpPromise };
}
