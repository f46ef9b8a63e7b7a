/**
 * A small fleet publisher for the demo district: provisions the grids and devices through the HTTP
 * API, then runs every device as a ThingsBoard-style MQTT client publishing the models' readings.
 *
 *   const fleet = createFleet({ mqttUrl, apiUrl, adminToken });
 *   await fleet.provision(); await fleet.start(); … await fleet.stop();
 *
 * Devices: a bin per bin location (`bin-01`…, waste-container); per site `site-N-dust`
 * (air-quality) and `site-N-noise` (noise-level); sites 1–2 also `site-N-crane` (tower-crane).
 * Site 3 reports through the gateway `site-3-gateway` (its dust and noise monitors are the
 * gateway's children, created by `v1/gateway/connect`).
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { type Logger, pino } from 'pino';
import { type DemoDistrict, demoDistrict, type LngLat } from './district.ts';
import {
  type BaseState,
  DEFAULT_TIME_ZONE,
  MODELS,
  type Model,
  type Profile,
  type Readings,
} from './models.ts';
import { deriveSeed, Random } from './random.ts';

export interface FleetOptions {
  mqttUrl: string;
  apiUrl: string;
  adminToken: string;
  seed?: number;
  /** Publishing period of every device (ms); default 5000. */
  intervalMs?: number;
  district?: ReturnType<typeof demoDistrict>;
  logger?: Logger;
  /** IANA zone for the models' time of day; default Asia/Shanghai. */
  timeZone?: string;
  /** Attempts per HTTP request while the hub is unreachable (default 5, backoff 0.5 s doubling). */
  attempts?: number;
}

export interface FleetStats {
  /** Simulated devices, gateways and gateway children included. */
  devices: number;
  /** Of those, how many have their MQTT connection (or their gateway's) up. */
  connected: number;
  /** MQTT PUBLISHes acknowledged by the hub. */
  messages: number;
  /** Readings (key values) in acknowledged telemetry. */
  readings: number;
  /** Connection, publish and provisioning errors. */
  errors: number;
}

export interface Fleet {
  provision(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): FleetStats;
}

export type SimProfile = Profile;

export interface FleetChildSpec {
  id: string;
  profile: SimProfile;
}

export interface FleetDeviceSpec {
  id: string;
  name: string;
  /** `generic` for a gateway. */
  profile: SimProfile | 'generic';
  location: LngLat;
  gateway?: true;
  /** A gateway's children (they publish through it). */
  children?: FleetChildSpec[];
}

/** A user-facing failure (hub unreachable, token refused…): the message says it all, no stack. */
export class FleetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FleetError';
    this.stack = `${this.name}: ${message}`;
  }
}

export const TELEMETRY_TOPIC = 'v1/devices/me/telemetry';
export const GATEWAY_CONNECT_TOPIC = 'v1/gateway/connect';
export const GATEWAY_DISCONNECT_TOPIC = 'v1/gateway/disconnect';
export const GATEWAY_TELEMETRY_TOPIC = 'v1/gateway/telemetry';

/** The sites whose monitors go through a gateway, and those with a tower crane. */
const GATEWAY_SITES = new Set(['site-3']);
const CRANE_SITES = new Set(['site-1', 'site-2']);

/** The devices of the fleet for a district (pure). */
export function fleetDevices(district: DemoDistrict): FleetDeviceSpec[] {
  const out: FleetDeviceSpec[] = district.bins.map((location, i) => {
    const n = String(i + 1).padStart(2, '0');
    return { id: `bin-${n}`, name: `智能垃圾桶 ${n}`, profile: 'waste-container', location };
  });
  for (const site of district.sites) {
    const monitors: { id: string; name: string; profile: SimProfile }[] = [
      { id: `${site.id}-dust`, name: `${site.name} 扬尘监测`, profile: 'air-quality' },
      { id: `${site.id}-noise`, name: `${site.name} 噪声监测`, profile: 'noise-level' },
    ];
    if (GATEWAY_SITES.has(site.id)) {
      out.push({
        id: `${site.id}-gateway`,
        name: `${site.name} 数据采集网关`,
        profile: 'generic',
        location: site.location,
        gateway: true,
        children: monitors.map(({ id, profile }) => ({ id, profile })),
      });
      continue;
    }
    if (CRANE_SITES.has(site.id)) {
      monitors.push({ id: `${site.id}-crane`, name: `${site.name} 塔吊安全监测`, profile: 'tower-crane' });
    }
    for (const m of monitors) out.push({ ...m, location: site.location });
  }
  return out;
}

interface Sim {
  id: string;
  model: Model<BaseState>;
  state: BaseState;
}

interface Conn {
  spec: FleetDeviceSpec;
  token?: string;
  client?: MqttClient;
  connected: boolean;
  errorLogged: boolean;
  sims: Sim[];
  phase?: ReturnType<typeof setTimeout>;
  timer?: ReturnType<typeof setInterval>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The most useful words of a fetch failure: `connect ECONNREFUSED 127.0.0.1:8080`, `timeout`… */
function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'request timed out';
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof AggregateError && cause.errors.length > 0) return reasonOf(cause.errors[0]);
  if (cause instanceof Error) return cause.message || (cause as { code?: string }).code || err.message;
  return err.message;
}

function errorMessageOf(body: unknown): string | undefined {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return e && typeof e.message === 'string' ? e.message : undefined;
}

export function createFleet(opts: FleetOptions): Fleet {
  const apiUrl = opts.apiUrl.replace(/\/+$/, '');
  const seed = opts.seed ?? 1;
  const intervalMs = opts.intervalMs ?? 5000;
  if (!(intervalMs > 0)) throw new FleetError(`intervalMs must be a positive number, got ${opts.intervalMs}`);
  const attempts = Math.max(1, opts.attempts ?? 5);
  const timeZone = opts.timeZone ?? DEFAULT_TIME_ZONE;
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'fleet' });
  const district = opts.district ?? demoDistrict(seed);
  const specs = fleetDevices(district);
  const conns: Conn[] = specs.map((spec) => ({ spec, connected: false, errorLogged: false, sims: [] }));
  const counters = { messages: 0, readings: 0, errors: 0 };
  let provisioned = false;
  let running = false;

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

  // ---- HTTP ------------------------------------------------------------------------------------

  async function call(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    let reason = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const res = await fetch(`${apiUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${opts.adminToken}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        let parsed: unknown = null;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          parsed = { error: { message: text.slice(0, 200) } };
        }
        if (res.status !== 502 && res.status !== 503 && res.status !== 504)
          return { status: res.status, body: parsed };
        reason = `HTTP ${res.status}${errorMessageOf(parsed) ? `: ${errorMessageOf(parsed)}` : ''}`;
      } catch (err) {
        reason = reasonOf(err);
      }
      if (attempt < attempts) {
        const wait = Math.min(5000, 500 * 2 ** (attempt - 1));
        log.info({ attempt, reason }, `hub not reachable at ${apiUrl}, retrying in ${wait} ms`);
        await sleep(wait);
      }
    }
    counters.errors++;
    throw new FleetError(
      `cannot reach the hub at ${apiUrl} (${reason}) after ${attempts} attempt${attempts > 1 ? 's' : ''}; is it running?`,
    );
  }

  function refused(what: string, res: { status: number; body: unknown }): FleetError {
    counters.errors++;
    const detail = errorMessageOf(res.body);
    if (res.status === 401 || res.status === 403) {
      return new FleetError(
        `${what}: the hub refused the admin token (HTTP ${res.status}${detail ? `: ${detail}` : ''})`,
      );
    }
    return new FleetError(`${what}: HTTP ${res.status}${detail ? `: ${detail}` : ''}`);
  }

  const tokenOf = (body: unknown): string | undefined => {
    const b = body as { accessToken?: unknown; device?: { accessToken?: unknown } } | null;
    const t = b?.accessToken ?? b?.device?.accessToken;
    return typeof t === 'string' && t.length > 0 ? t : undefined;
  };

  async function provisionDevice(conn: Conn): Promise<void> {
    const { id, name, profile, location, gateway } = conn.spec;
    const res = await call('POST', '/api/devices', {
      id,
      name,
      profile,
      location: { lng: location.lng, lat: location.lat },
      ...(gateway ? { gateway: true } : {}),
    });
    let token: string | undefined;
    if (res.status === 200 || res.status === 201) {
      token = tokenOf(res.body);
    } else if (res.status === 409) {
      const rotated = await call('POST', `/api/devices/${encodeURIComponent(id)}/token`);
      if (rotated.status !== 200 && rotated.status !== 201)
        throw refused(`rotating the token of ${id}`, rotated);
      token = tokenOf(rotated.body);
    } else {
      throw refused(`creating device ${id}`, res);
    }
    if (!token) {
      counters.errors++;
      throw new FleetError(`the hub's answer for device ${id} carries no accessToken`);
    }
    conn.token = token;
  }

  async function provision(): Promise<void> {
    const grids = await call('PUT', '/api/grids', district.grids);
    if (grids.status < 200 || grids.status >= 300)
      throw refused('uploading the grids (PUT /api/grids)', grids);
    log.info({ grids: district.grids.features.length }, 'grids uploaded');
    // A few requests at a time.
    const queue = conns.slice();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let conn = queue.shift(); conn; conn = queue.shift()) await provisionDevice(conn);
      }),
    );
    provisioned = true;
    log.info({ devices: conns.length }, 'devices provisioned');
  }

  // ---- MQTT ------------------------------------------------------------------------------------

  const publish = (conn: Conn, topic: string, payload: unknown, readings: number) => {
    conn.client?.publish(topic, JSON.stringify(payload), { qos: 1 }, (err) => {
      if (err) {
        if (running) fail(conn, `publish on ${topic}`, err);
        return;
      }
      counters.messages++;
      counters.readings += readings;
    });
  };

  const announceChildren = (conn: Conn) => {
    for (const child of conn.spec.children ?? []) {
      publish(conn, GATEWAY_CONNECT_TOPIC, { device: child.id, type: child.profile }, 0);
    }
  };

  const tick = (conn: Conn) => {
    try {
      if (!running || !conn.client || !conn.connected) return;
      const ts = Date.now();
      const batch: { id: string; values: Readings }[] = conn.sims.map((sim) => {
        const r = sim.model.step(sim.state, ts);
        sim.state = r.state;
        return { id: sim.id, values: r.values };
      });
      let n = 0;
      for (const b of batch) n += Object.keys(b.values).length;
      if (conn.spec.gateway) {
        const payload: Record<string, { ts: number; values: Readings }[]> = {};
        for (const b of batch) payload[b.id] = [{ ts, values: b.values }];
        publish(conn, GATEWAY_TELEMETRY_TOPIC, payload, n);
      } else if (batch[0]) {
        publish(conn, TELEMETRY_TOPIC, { ts, values: batch[0].values }, n);
      }
    } catch (err) {
      fail(conn, 'publishing', err);
    }
  };

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
      const settle = (err?: string) => {
        if (!settled) {
          settled = true;
          resolve(err);
        }
      };
      client.on('connect', () => {
        conn.connected = true;
        log.debug({ device: conn.spec.id }, 'connected');
        if (conn.spec.gateway) announceChildren(conn);
        settle();
      });
      client.on('close', () => {
        conn.connected = false;
      });
      client.on('error', (err) => {
        if (running) fail(conn, 'MQTT connection', err);
        settle(err.message);
      });
      setTimeout(() => settle('no CONNACK within 10 s'), 10_000).unref();
    });
  }

  async function start(): Promise<void> {
    if (running) return;
    if (!provisioned) await provision();
    running = true;
    const t0 = Date.now();
    for (const conn of conns) {
      const children = conn.spec.children ?? [];
      const simulated: { id: string; profile: SimProfile | 'generic' }[] = conn.spec.gateway
        ? children
        : [{ id: conn.spec.id, profile: conn.spec.profile }];
      conn.sims = simulated.flatMap(({ id, profile }) =>
        profile === 'generic'
          ? []
          : [
              {
                id,
                model: MODELS[profile],
                state: MODELS[profile].init(deriveSeed(seed, id), t0, { timeZone }),
              },
            ],
      );
      conn.errorLogged = false;
    }
    const results = await Promise.all(conns.map((conn) => connectDevice(conn)));
    if (!running) return; // stopped meanwhile
    const up = conns.filter((c) => c.connected).length;
    if (up === 0) {
      const reason = results.find((r) => r !== undefined) ?? 'unknown error';
      await stop();
      throw new FleetError(`cannot connect any device to the MQTT broker at ${opts.mqttUrl} (${reason})`);
    }
    if (up < conns.length)
      log.warn({ up, total: conns.length }, 'some devices could not connect yet (retrying)');
    const rnd = new Random(deriveSeed(seed, 'phase'));
    for (const conn of conns) {
      conn.phase = setTimeout(
        () => {
          conn.phase = undefined;
          if (!running) return;
          conn.timer = setInterval(() => tick(conn), intervalMs);
          tick(conn);
        },
        rnd.range(0, intervalMs),
      );
    }
    log.info({ devices: stats().devices, connected: stats().connected, intervalMs }, 'fleet started');
  }

  async function stop(): Promise<void> {
    running = false;
    await Promise.all(
      conns.map(async (conn) => {
        if (conn.phase) clearTimeout(conn.phase);
        if (conn.timer) clearInterval(conn.timer);
        conn.phase = undefined;
        conn.timer = undefined;
        const client = conn.client;
        conn.client = undefined;
        if (!client) return;
        try {
          if (conn.connected && conn.spec.gateway) {
            for (const child of conn.spec.children ?? []) {
              client.publish(GATEWAY_DISCONNECT_TOPIC, JSON.stringify({ device: child.id }), { qos: 1 });
            }
          }
          // Let in-flight QoS 1 messages finish, but not forever.
          const ended = client.endAsync(false).then(() => true);
          if (!(await Promise.race([ended, sleep(3000).then(() => false)]))) await client.endAsync(true);
        } catch (err) {
          log.debug({ device: conn.spec.id, err: (err as Error).message }, 'closing the MQTT client failed');
        }
        conn.connected = false;
      }),
    );
  }

  function stats(): FleetStats {
    let devices = 0;
    let connected = 0;
    for (const conn of conns) {
      const n = 1 + (conn.spec.children?.length ?? 0);
      devices += n;
      if (conn.connected) connected += n;
    }
    return { devices, connected, ...counters };
  }

  return { provision, start, stop, stats };
}
