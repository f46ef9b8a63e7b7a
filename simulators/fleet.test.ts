import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { demoDistrict, gridAt } from './district.ts';
import { createFleet } from './fleet.ts';
import { FleetError } from './hub-api.ts';
import { TokenBucket } from './pacing.ts';
import { type FleetDeviceSpec, fleetDevices } from './roster.ts';

// A fake MQTT client (no network): connects on the next tick unless its token is listed in
// `failing`, and acknowledges every publish.
const mq = vi.hoisted(() => {
  return {
    clients: [] as {
      url: string;
      options: Record<string, unknown>;
      published: { topic: string; payload: string; qos: number }[];
      ended: boolean;
    }[],
    failing: new Set<string>(),
  };
});

vi.mock('mqtt', async () => {
  const { EventEmitter } = await import('node:events');
  class FakeClient extends EventEmitter {
    connected = false;
    record: (typeof mq.clients)[number];
    constructor(url: string, options: Record<string, unknown>) {
      super();
      this.record = { url, options, published: [], ended: false };
      mq.clients.push(this.record);
      setTimeout(() => {
        if (this.record.ended) return;
        if (mq.failing.has(String(options.username))) {
          for (let i = 0; i < 3; i++) this.emit('error', new Error('Connection refused: Not authorized'));
          return;
        }
        this.connected = true;
        this.emit('connect', { returnCode: 0 });
      }, 1);
    }
    publish(topic: string, payload: string, opts: { qos: number }, cb?: (err?: Error) => void) {
      if (this.record.ended) {
        cb?.(new Error('client disconnecting'));
        return this;
      }
      this.record.published.push({ topic, payload, qos: opts.qos });
      setTimeout(() => cb?.(), 0);
      return this;
    }
    async endAsync() {
      this.record.ended = true;
      this.connected = false;
      this.emit('close');
    }
  }
  return { connect: (url: string, options: Record<string, unknown>) => new FakeClient(url, options) };
});

const district = demoDistrict(1);
const API = 'http://hub.test:8080';

interface Call {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fake hub API: devices listed in `existing` answer 409 on create. */
function fakeApi(existing: string[] = []) {
  const calls: Call[] = [];
  const fetchFn = vi.fn(async (url: string, init: RequestInit) => {
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ method: String(init.method), url, headers: init.headers as Record<string, string>, body });
    const json = (status: number, b: unknown) =>
      new Response(JSON.stringify(b), { status, headers: { 'content-type': 'application/json' } });
    if (url === `${API}/api/grids` && init.method === 'PUT')
      return json(200, { upserted: body.features.length });
    if (url === `${API}/api/devices` && init.method === 'POST') {
      if (existing.includes(body.id)) {
        return json(409, { error: { code: 'GRIDHUB_ERR_CONFLICT', message: `device '${body.id}' exists` } });
      }
      return json(201, { ...body, accessToken: `tok-${body.id}` });
    }
    const m = /\/api\/devices\/([^/]+)\/token$/.exec(url);
    if (m && init.method === 'POST') return json(200, { accessToken: `rotated-${m[1]}` });
    if (/\/api\/devices\/[^/]+$/.test(url) && init.method === 'PATCH') return json(200, body);
    return json(404, { error: { code: 'GRIDHUB_ERR_NOT_FOUND', message: 'no route' } });
  });
  vi.stubGlobal('fetch', fetchFn);
  return { calls, fetchFn };
}

function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeEach(() => {
  mq.clients.length = 0;
  mq.failing.clear();
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('fleet devices', () => {
  const specs = fleetDevices(district);
  const ids = specs.map((s) => s.id);

  it('has a bin per location, dust + noise per site, cranes on sites 1–2, a gateway on site 3', () => {
    expect(ids.filter((id) => id.startsWith('bin-'))).toHaveLength(district.bins.length);
    expect(ids).toContain('bin-01');
    expect(ids).toContain(`bin-${district.bins.length}`);
    for (const site of ['site-1', 'site-2', 'site-4']) {
      expect(ids).toContain(`${site}-dust`);
      expect(ids).toContain(`${site}-noise`);
    }
    expect(ids.filter((id) => id.endsWith('-crane')).sort()).toEqual(['site-1-crane', 'site-2-crane']);
    expect(ids).not.toContain('site-3-dust');
    const gw = specs.find((s) => s.id === 'site-3-gateway');
    expect(gw?.gateway).toBe(true);
    expect(gw?.children).toEqual([
      { id: 'site-3-dust', profile: 'air-quality' },
      { id: 'site-3-noise', profile: 'noise-level' },
    ]);
    expect(new Set(ids).size).toBe(ids.length);
    const profiles = Object.fromEntries(specs.map((s) => [s.id, s.profile]));
    expect(profiles['bin-01']).toBe('waste-container');
    expect(profiles['site-1-dust']).toBe('air-quality');
    expect(profiles['site-1-noise']).toBe('noise-level');
    expect(profiles['site-1-crane']).toBe('tower-crane');
  });

  it('puts every device inside a grid', () => {
    for (const s of specs) expect(gridAt(district.grids, s.location), s.id).toBeDefined();
  });
});

describe('provision', () => {
  it('uploads the grids, then creates the devices and keeps their tokens', async () => {
    const { calls } = fakeApi(['bin-02', 'site-1-crane']);
    const fleet = createFleet({ mqttUrl: 'mqtt://hub.test:1883', apiUrl: `${API}/`, adminToken: 'admintok' });
    await fleet.provision();
    expect(calls[0]!.method).toBe('PUT');
    expect(calls[0]!.url).toBe(`${API}/api/grids`);
    expect(calls[0]!.body).toEqual(district.grids);
    for (const c of calls) expect(c.headers.authorization).toBe('Bearer admintok');
    expect(calls[0]!.headers['content-type']).toBe('application/json');
    const creates = calls.filter((c) => c.url === `${API}/api/devices`);
    expect(creates).toHaveLength(fleetDevices(district).length);
    const bin = creates.find((c) => (c.body as { id: string }).id === 'bin-01')!.body;
    expect(bin).toEqual({
      id: 'bin-01',
      name: expect.any(String),
      profile: 'waste-container',
      location: district.bins[0],
    });
    const gw = creates.find((c) => (c.body as { id: string }).id === 'site-3-gateway')!.body;
    expect(gw).toMatchObject({ gateway: true, location: district.sites[2]!.location });
    const rotations = calls.filter((c) => c.url.endsWith('/token')).map((c) => c.url);
    expect(rotations.sort()).toEqual([
      `${API}/api/devices/bin-02/token`,
      `${API}/api/devices/site-1-crane/token`,
    ]);
    expect(fleet.stats().errors).toBe(0);
  });

  it('retries an unreachable hub, then fails with a clear message and no stack trace', async () => {
    const fetchFn = vi.fn(async () => {
      const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
      throw new TypeError('fetch failed', { cause });
    });
    vi.stubGlobal('fetch', fetchFn);
    const fleet = createFleet({
      mqttUrl: 'mqtt://x',
      apiUrl: 'http://127.0.0.1:9',
      adminToken: 't',
      attempts: 3,
    });
    const err = await fleet.provision().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FleetError);
    expect((err as Error).message).toMatch(
      /cannot reach the hub at http:\/\/127\.0\.0\.1:9 \(connect ECONNREFUSED 127\.0\.0\.1:9\) after 3 attempts/,
    );
    expect((err as Error).stack).not.toMatch(/\n\s+at /);
    expect(fetchFn).toHaveBeenCalledTimes(3);
  });

  it('says so when the admin token is refused (no retries)', async () => {
    const fetchFn = vi.fn(
      async () =>
        new Response(JSON.stringify({ error: { code: 'GRIDHUB_ERR_UNAUTHORIZED', message: 'bad token' } }), {
          status: 401,
        }),
    );
    vi.stubGlobal('fetch', fetchFn);
    const fleet = createFleet({ mqttUrl: 'mqtt://x', apiUrl: API, adminToken: 'wrong' });
    await expect(fleet.provision()).rejects.toThrow(/refused the admin token \(HTTP 401: bad token\)/);
    expect(fetchFn).toHaveBeenCalledTimes(1);
  });
});

describe('start / stop', () => {
  it('connects ThingsBoard-style and publishes telemetry at the interval', async () => {
    fakeApi();
    const fleet = createFleet({
      mqttUrl: 'mqtt://hub.test:1883',
      apiUrl: API,
      adminToken: 'a',
      intervalMs: 40,
    });
    await fleet.start(); // provisions first
    const specs = fleetDevices(district);
    expect(mq.clients).toHaveLength(specs.length);
    for (const c of mq.clients) {
      expect(c.url).toBe('mqtt://hub.test:1883');
      expect(c.options).toMatchObject({
        clientId: '',
        clean: true,
        protocolVersion: 4,
        reconnectPeriod: 1000,
      });
      expect(String(c.options.username)).toMatch(/^tok-/);
    }
    await sleep(200);
    const s = fleet.stats();
    expect(s.devices).toBe(specs.length + 2);
    expect(s.connected).toBe(s.devices);
    expect(s.errors).toBe(0);
    expect(s.messages).toBeGreaterThan(specs.length * 2);

    const bin = mq.clients.find((c) => String(c.options.username) === 'tok-bin-01')!;
    expect(bin.published.length).toBeGreaterThanOrEqual(3);
    for (const p of bin.published) {
      expect(p.topic).toBe('v1/devices/me/telemetry');
      expect(p.qos).toBe(1);
      const msg = JSON.parse(p.payload);
      expect(Object.keys(msg).sort()).toEqual(['ts', 'values']);
      expect(Math.abs(msg.ts - Date.now())).toBeLessThan(5000);
      expect(Object.keys(msg.values).sort()).toEqual(['batteryLevel', 'fillingLevel', 'temperature', 'tilt']);
    }

    const gw = mq.clients.find((c) => String(c.options.username) === 'tok-site-3-gateway')!;
    expect(gw.published.slice(0, 2).map((p) => [p.topic, JSON.parse(p.payload)])).toEqual([
      ['v1/gateway/connect', { device: 'site-3-dust', type: 'air-quality' }],
      ['v1/gateway/connect', { device: 'site-3-noise', type: 'noise-level' }],
    ]);
    const telemetry = gw.published.filter((p) => p.topic === 'v1/gateway/telemetry');
    expect(telemetry.length).toBeGreaterThanOrEqual(2);
    const batch = JSON.parse(telemetry[0]!.payload);
    expect(Object.keys(batch).sort()).toEqual(['site-3-dust', 'site-3-noise']);
    expect(batch['site-3-dust'][0].values).toHaveProperty('pm10');
    expect(batch['site-3-noise'][0].values).toHaveProperty('LAeq');
    expect(typeof batch['site-3-noise'][0].ts).toBe('number');

    // readings = values in acknowledged telemetry
    let values = 0;
    for (const c of mq.clients) {
      for (const p of c.published) {
        const msg = JSON.parse(p.payload);
        if (p.topic === 'v1/devices/me/telemetry')
          for (const r of [msg].flat()) values += Object.keys(r.values).length;
        if (p.topic === 'v1/gateway/telemetry') {
          for (const list of Object.values(msg) as { values: object }[][])
            for (const r of list) values += Object.keys(r.values).length;
        }
      }
    }
    await fleet.stop();
    await sleep(20);
    expect(fleet.stats().readings).toBe(values);

    // Stopped: clients ended, timers cleared.
    expect(mq.clients.every((c) => c.ended)).toBe(true);
    expect(fleet.stats().connected).toBe(0);
    const count = mq.clients.reduce((n, c) => n + c.published.length, 0);
    await sleep(150);
    expect(mq.clients.reduce((n, c) => n + c.published.length, 0)).toBe(count);
    expect(gw.published.filter((p) => p.topic === 'v1/gateway/disconnect')).toHaveLength(2);
  });

  it('staggers the devices instead of publishing all at once', async () => {
    fakeApi();
    const fleet = createFleet({ mqttUrl: 'mqtt://h', apiUrl: API, adminToken: 'a', intervalMs: 400 });
    await fleet.start();
    await sleep(100);
    const early = mq.clients.filter((c) => c.published.some((p) => p.topic.endsWith('telemetry'))).length;
    await fleet.stop();
    expect(early).toBeGreaterThan(0);
    expect(early).toBeLessThan(mq.clients.length);
  });

  it('counts connection errors and logs them once per device', async () => {
    fakeApi();
    const { logger, lines } = captureLogger();
    const fleet = createFleet({ mqttUrl: 'mqtt://h', apiUrl: API, adminToken: 'a', intervalMs: 50, logger });
    await fleet.provision();
    mq.failing.add('tok-bin-05');
    await fleet.start();
    await sleep(60);
    const s = fleet.stats();
    expect(s.errors).toBe(3);
    expect(s.connected).toBe(s.devices - 1);
    const warns = lines.filter((l) => l.device === 'bin-05' && l.level === 40);
    expect(warns).toHaveLength(1);
    expect(JSON.stringify(lines)).not.toContain('tok-');
    await fleet.stop();
  });

  it('fails start with a clear message when no device can connect', async () => {
    fakeApi();
    for (const spec of fleetDevices(district)) mq.failing.add(`tok-${spec.id}`);
    const fleet = createFleet({ mqttUrl: 'mqtt://h', apiUrl: API, adminToken: 'a' });
    await expect(fleet.start()).rejects.toThrow(/cannot connect any device to the MQTT broker at mqtt:\/\/h/);
    expect(mq.clients.every((c) => c.ended)).toBe(true);
  });
});

describe('TokenBucket', () => {
  it('starts full, spends, and refills at the rate up to the burst', () => {
    let t = 0;
    const b = new TokenBucket(10, { burst: 3, now: () => t });
    expect(b.take()).toBe(true);
    expect(b.take(2)).toBe(true);
    expect(b.take()).toBe(false);
    expect(b.waitMs()).toBe(100);
    t += 50;
    expect(b.take()).toBe(false);
    expect(b.waitMs()).toBe(50);
    t += 50;
    expect(b.take()).toBe(true);
    t += 10_000; // a long pause refills only up to the burst
    expect(b.available).toBe(3);
    expect(b.take(3)).toBe(true);
    expect(b.take()).toBe(false);
  });

  it('defaults the burst to a tenth of a second, at least one token', () => {
    expect(new TokenBucket(30_000).burst).toBe(3000);
    expect(new TokenBucket(2).burst).toBe(1);
    expect(() => new TokenBucket(0)).toThrow(RangeError);
  });
});

const here = { lng: 120.165, lat: 30.255 };
const smallFleet: FleetDeviceSpec[] = [
  { id: 'b1', name: 'b1', profile: 'waste-container', location: here },
  { id: 'c1', name: 'c1', profile: 'camera', location: here, scene: 'street' },
  {
    id: 'gw',
    name: 'gw',
    profile: 'generic',
    location: here,
    gateway: true,
    children: [
      { id: 'gw-dust', profile: 'air-quality' },
      { id: 'gw-noise', profile: 'noise-level', everyMs: 120_000, location: { lng: 120.17, lat: 30.26 } },
    ],
  },
];
const NOW = Date.parse('2025-11-24T12:00:00+08:00');
const HOUR = 3_600_000;

/** The telemetry records of one client, flattened: [device, ts, values]. */
function recordsOf(c: (typeof mq.clients)[number], self: string) {
  const out: { id: string; ts: number; values: Record<string, unknown> }[] = [];
  for (const p of c.published) {
    const msg = JSON.parse(p.payload);
    if (p.topic === 'v1/devices/me/telemetry') for (const r of [msg].flat()) out.push({ id: self, ...r });
    if (p.topic === 'v1/gateway/telemetry')
      for (const [id, list] of Object.entries(msg))
        for (const r of list as object[]) out.push({ id, ...(r as any) });
  }
  return out;
}

async function replay(seed: number, extra: Partial<Parameters<typeof createFleet>[0]> = {}) {
  mq.clients.length = 0;
  fakeApi();
  const fleet = createFleet({
    mqttUrl: 'mqtt://h',
    apiUrl: API,
    adminToken: 'a',
    devices: smallFleet,
    seed,
    intervalMs: 60_000,
    fastForwardMs: 2 * HOUR,
    now: () => NOW,
    ...extra,
  });
  await fleet.start();
  await fleet.caughtUp();
  const stats = fleet.stats();
  await fleet.stop();
  const by = (token: string) => mq.clients.find((c) => String(c.options.username) === token)!;
  return {
    stats,
    bin: recordsOf(by('tok-b1'), 'b1'),
    cam: recordsOf(by('tok-c1'), 'c1'),
    gw: recordsOf(by('tok-gw'), 'gw'),
    gwClient: by('tok-gw'),
    binClient: by('tok-b1'),
  };
}

describe('fast-forward', () => {
  it('replays the window with the readings timestamps, several records per message', async () => {
    const r = await replay(1);
    expect(r.stats.phase).toBe('done');
    expect(r.stats.replay).toEqual({ from: NOW - 2 * HOUR, to: NOW });
    expect(r.stats.errors).toBe(0);
    expect(r.stats.sent).toBe(r.stats.messages);
    // a bin every minute for two hours
    expect(r.bin).toHaveLength(120);
    const ts = r.bin.map((x) => x.ts);
    expect(ts[0]).toBeGreaterThanOrEqual(NOW - 2 * HOUR);
    expect(ts.at(-1)).toBeLessThanOrEqual(NOW);
    for (let i = 1; i < ts.length; i++) expect(ts[i]! - ts[i - 1]!).toBe(60_000);
    // batched: 10 records per message while catching up
    expect(r.binClient.published.length).toBe(12);
    expect(JSON.parse(r.binClient.published[0]!.payload)).toHaveLength(10);
    // gateway: its children announced first, then their records (each at its own period)
    expect(r.gwClient.published.slice(0, 2).map((p) => p.topic)).toEqual([
      'v1/gateway/connect',
      'v1/gateway/connect',
    ]);
    expect(r.gw.filter((x) => x.id === 'gw-dust')).toHaveLength(120);
    expect(r.gw.filter((x) => x.id === 'gw-noise')).toHaveLength(60);
    // the camera: detections and status reports, all inside the window
    expect(r.cam.length).toBeGreaterThan(5);
    for (const x of r.cam) {
      expect(x.ts).toBeGreaterThan(NOW - 2 * HOUR);
      expect(x.ts).toBeLessThanOrEqual(NOW);
      expect(Object.keys(x.values).sort()).toEqual(
        'event' in x.values ? ['event'] : ['batteryLevel', 'rssi'],
      );
    }
    // readings = every value acknowledged
    const n = [...r.bin, ...r.cam, ...r.gw].reduce((k, x) => k + Object.keys(x.values).length, 0);
    expect(r.stats.readings).toBe(n);
  });

  it('gives the same readings for the same seed and window, other readings for another seed', async () => {
    const a = await replay(7);
    const b = await replay(7);
    const c = await replay(8);
    expect(b.bin).toEqual(a.bin);
    expect(b.cam).toEqual(a.cam);
    expect(b.gw).toEqual(a.gw);
    expect(c.bin).not.toEqual(a.bin);
  });

  it('moves a gateway child to its own location once announced', async () => {
    const { calls } = fakeApi();
    mq.clients.length = 0;
    const fleet = createFleet({
      mqttUrl: 'mqtt://h',
      apiUrl: API,
      adminToken: 'a',
      devices: smallFleet,
      intervalMs: 60_000,
      fastForwardMs: HOUR,
      now: () => NOW,
    });
    await fleet.start();
    await fleet.caughtUp();
    await sleep(20);
    await fleet.stop();
    const patches = calls.filter((c) => c.method === 'PATCH');
    expect(patches.map((p) => [p.url, p.body])).toEqual([
      [`${API}/api/devices/gw-noise`, { location: { lng: 120.17, lat: 30.26 } }],
    ]);
  });

  it('keeps to the rate: messages per second over all devices', async () => {
    fakeApi();
    const fleet = createFleet({
      mqttUrl: 'mqtt://h',
      apiUrl: API,
      adminToken: 'a',
      devices: smallFleet,
      intervalMs: 1000,
      fastForwardMs: HOUR,
      batch: 1,
      rate: 40,
    });
    await fleet.start();
    const t0 = Date.now();
    const sent0 = fleet.stats().sent;
    await sleep(500);
    const sent = fleet.stats().sent - sent0;
    const elapsed = (Date.now() - t0) / 1000;
    await fleet.stop({ drainMs: 100 });
    expect(sent).toBeGreaterThan(40 * elapsed * 0.6);
    expect(sent).toBeLessThanOrEqual(40 * elapsed + 4 + 1);
  });
});
