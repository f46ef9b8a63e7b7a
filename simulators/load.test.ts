import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestHub, type TestHub } from '../test/support/hub.ts';
import { metricTotal } from './api-client.ts';
import { LatencyHistogram } from './latency.ts';
import { runLoad, startLoad } from './load.ts';
import { LoadGenerator, type LoadGeneratorOptions } from './load-generator.ts';
import { airQualityValues, LOAD_KEYS } from './load-payload.ts';
import { Random } from './random.ts';

describe('helpers', () => {
  it('sums a metric over its labels', () => {
    const text = [
      '# HELP gridhub_readings_accepted_total x',
      'gridhub_readings_accepted_total 12',
      'gridhub_readings_accepted_total{kind="a"} 30',
      'gridhub_readings_accepted_total_other 1000',
      'other_metric 5',
    ].join('\n');
    expect(metricTotal(text, 'gridhub_readings_accepted_total')).toBe(42);
  });

  it('gives latency percentiles within 2 %', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i);
    expect(h.percentile(50)).toBeGreaterThanOrEqual(500);
    expect(h.percentile(50)).toBeLessThanOrEqual(510);
    expect(h.percentile(99)).toBeGreaterThanOrEqual(990);
    expect(h.percentile(99)).toBeLessThanOrEqual(1000);
    expect(h.max).toBe(1000);
    expect(new LatencyHistogram().percentile(50)).toBeNaN();
  });

  it('merges histograms from several processes, counts and max', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (let i = 1; i <= 500; i++) a.record(i);
    for (let i = 501; i <= 1000; i++) b.record(i);
    const m = new LatencyHistogram();
    m.merge(Array.from(a.counts), a.max);
    m.merge(Array.from(b.counts), b.max);
    expect(m.n).toBe(1000);
    expect(m.max).toBe(1000);
    expect(m.percentile(50)).toBeGreaterThanOrEqual(500);
    expect(m.percentile(50)).toBeLessThanOrEqual(510);
    // the top bucket's edge is above 1000; the exact max is reported instead
    expect(m.percentile(100)).toBe(1000);
    m.reset();
    expect(m.n).toBe(0);
    expect(m.max).toBe(0);
    expect(m.percentile(50)).toBeNaN();
  });

  it('builds air-quality records of 1-6 readings, in range, reproducible for a seed', () => {
    for (let keys = 0; keys <= 7; keys++) {
      const rnd = new Random(7);
      const make = airQualityValues(keys, () => rnd.next());
      const record = JSON.parse(make()) as Record<string, number>;
      const want = LOAD_KEYS.slice(0, Math.min(6, Math.max(1, keys)));
      expect(Object.keys(record)).toEqual(want);
      for (const v of Object.values(record)) expect(Number.isFinite(v)).toBe(true);
    }
    const lo = JSON.parse(airQualityValues(6, () => 0)());
    const hi = JSON.parse(airQualityValues(6, () => 0.999999)());
    expect(lo).toEqual({
      pm10: 20,
      pm25: 5,
      windSpeed: 0,
      windDirection: 0,
      relativeHumidity: 0.3,
      temperature: 5,
    });
    expect(hi).toEqual({
      pm10: 200,
      pm25: 100,
      windSpeed: 15,
      windDirection: 359,
      relativeHumidity: 0.9,
      temperature: 30,
    });
    // the default record (3 readings) has its own fast path
    expect(JSON.parse(airQualityValues(3, () => 0.999999)())).toEqual({
      pm10: 200,
      pm25: 100,
      windSpeed: 15,
    });
    const r1 = new Random(3);
    const r2 = new Random(3);
    expect(airQualityValues(3, () => r1.next())()).toBe(airQualityValues(3, () => r2.next())());
  });
});

let t: TestHub;
beforeAll(async () => {
  // The load runs as fast as the hub acknowledges: per-device rate limits (issue 9) lifted.
  t = await startTestHub({
    overrides: {
      gateway: { limits: { messagesPerSecond: 1_000_000, bytesPerSecond: 1e9, maxInflight: 10_000 } },
    },
  });
});
afterAll(async () => {
  await t?.stop();
});

describe('runLoad against a hub', () => {
  const base = () => ({ mqttUrl: t.mqttUrl, apiUrl: t.httpUrl, adminToken: ADMIN_TOKEN });

  it('one socket per device: every message acknowledged, readings stored', async () => {
    const r = await runLoad({ ...base(), devices: 40, sockets: 'per-device', qos: 1, durationMs: 800 });
    expect(r.layout).toBe('per-device');
    expect(r.connected).toBe(40);
    expect(r.sent).toBeGreaterThan(0);
    expect(r.acknowledged).toBe(r.sent);
    expect(r.refused.total).toBe(0);
    expect(r.readings).toBe(r.acknowledged * 3);
    expect(r.hubAccepted).toBe(r.readings);
    expect(r.ackLatencyMs!.p50).toBeGreaterThan(0);
    const s = await t.api('GET', '/api/devices/load-d00001/series?key=pm25');
    expect(s.body.points.length).toBeGreaterThan(0);
  });

  it('multiplexed over gateways, at a target rate', async () => {
    const r = await runLoad({
      ...base(),
      devices: 60,
      sockets: 3,
      qos: 1,
      rate: 200,
      keys: 2,
      batch: 2,
      durationMs: 1000,
      prefix: 'mux',
    });
    expect(r.layout).toBe('gateways');
    expect(r.announced).toBe(60);
    expect(r.acknowledged).toBe(r.sent);
    expect(r.refused.total).toBe(0);
    expect(r.sent).toBeLessThanOrEqual(200 * 1.1 + 10 + 1);
    expect(r.sent).toBeGreaterThan(100);
    expect(r.readings).toBe(r.acknowledged * 2 * 2);
    const child = await t.api('GET', '/api/devices/mux-gw001-0001');
    expect(child.body).toMatchObject({ profile: 'air-quality', parentId: 'mux-gw001' });
  });

  it('stops at the signal, and at QoS 0 reports what was written', async () => {
    const ac = new AbortController();
    const run = startLoad({
      ...base(),
      devices: 10,
      sockets: 2,
      qos: 0,
      rate: 500,
      signal: ac.signal,
      prefix: 'q0',
    });
    setTimeout(() => ac.abort(), 1200);
    const r = await run.done;
    expect(r.durationMs).toBeLessThan(1500);
    expect(r.sent).toBeGreaterThan(0);
    expect(r.acknowledged).toBe(r.sent);
    expect(r.refused.total).toBe(0);
    expect(run.snapshot().phase).toBe('done');
  });

  it('QoS 0 as fast as written: no rate, every written message counted', async () => {
    const r = await runLoad({
      ...base(),
      devices: 4,
      sockets: 'per-device',
      qos: 0,
      durationMs: 500,
      prefix: 'w0',
    });
    expect(r.sent).toBeGreaterThan(0);
    expect(r.acknowledged).toBe(r.sent);
    expect(r.readings).toBe(r.sent * 3);
    expect(r.refused.total).toBe(0);
  });

  it('counts the connections the hub closes and what they left unacknowledged', async () => {
    const run = startLoad({
      ...base(),
      devices: 3,
      sockets: 'per-device',
      qos: 1,
      durationMs: 1500,
      prefix: 'cut',
    });
    for (let i = 0; i < 500 && run.snapshot().phase !== 'publish'; i++)
      await new Promise((r) => setTimeout(r, 5));
    // a deleted device is cut off at its next publish (a refused publish closes the connection)
    expect((await t.api('DELETE', '/api/devices/cut-d00001')).status).toBeLessThan(300);
    const r = await run.done;
    expect(r.refused.closed).toBe(1);
    expect(r.refused.unacked).toBeGreaterThan(0);
    expect(r.refused.total).toBe(r.refused.closed + r.refused.unacked);
    expect(r.acknowledged + r.refused.unacked).toBe(r.sent);
    expect(r.connected).toBe(2);
  });
});

describe('LoadGenerator against a hub', () => {
  const tokens = async (prefix: string, n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await t.device({ id: `${prefix}-${i}`, profile: 'air-quality' }));
    return out;
  };
  const options = (list: string[], inflight: number): LoadGeneratorOptions => ({
    url: t.mqttUrl,
    tokens: list,
    clientIdPrefix: 'gen-',
    inflight,
    keepalive: 60,
    connectConcurrency: 4,
    noDelay: true,
  });

  it('closed loop: a bounded window per connection, every message acknowledged after the drain', async () => {
    const gen = new LoadGenerator(options(await tokens('gen-closed', 4), 3));
    try {
      const progress: number[] = [];
      const conn = await gen.connect((done) => progress.push(done), 2);
      expect(conn).toMatchObject({ connected: 4, failed: 0 });
      expect(progress).toEqual([2, 4]);
      gen.start();
      await new Promise((r) => setTimeout(r, 400));
      const mid = gen.snapshot();
      expect(mid.connected).toBe(4);
      expect(mid.inflight).toBeLessThanOrEqual(4 * 3);
      expect(mid.acked).toBeGreaterThan(0);
      const stop = await gen.stopPublishing(10_000);
      expect(stop).toEqual({ drained: true, leftInflight: 0 });
      const s = gen.snapshot();
      expect(s.acked).toBe(s.sent);
      expect(s.errors).toBe(0);
      expect(s.hist.reduce((a, b) => a + b, 0)).toBe(s.acked);
      expect(s.max).toBeGreaterThan(0);
      gen.mark();
      expect(gen.snapshot()).toMatchObject({ sent: 0, acked: 0, errors: 0, max: 0 });
    } finally {
      await gen.close();
    }
  });

  it('open-loop schedule: the asked rate, and a full window skips its turn', async () => {
    const gen = new LoadGenerator(options(await tokens('gen-sched', 2), 50));
    try {
      await gen.connect();
      const t0 = performance.now();
      gen.start({ kind: 'schedule', messagesPerSec: 400 });
      await new Promise((r) => setTimeout(r, 1000));
      const due = ((performance.now() - t0) / 1000) * 400;
      await gen.stopPublishing(10_000);
      const s = gen.snapshot();
      // never ahead of the schedule; behind it only by the ticks a loaded machine delays
      expect(s.sent + s.skipped).toBeLessThanOrEqual(due + 1);
      expect(s.sent + s.skipped).toBeGreaterThanOrEqual(due * 0.5);
      expect(s.acked).toBe(s.sent);
    } finally {
      await gen.close();
    }
    // One connection, one message in flight, 20,000 due per second: at most one leaves per 5 ms tick.
    const busy = new LoadGenerator(options(await tokens('gen-busy', 1), 1));
    try {
      await busy.connect();
      busy.start({ kind: 'schedule', messagesPerSec: 20_000 });
      await new Promise((r) => setTimeout(r, 300));
      await busy.stopPublishing(10_000);
      const s = busy.snapshot();
      expect(s.skipped).toBeGreaterThan(s.sent);
      expect(s.acked).toBe(s.sent);
    } finally {
      await busy.close();
    }
  });

  it('idle connections publish nothing; a refused token is counted, not thrown', async () => {
    const [good] = await tokens('gen-idle', 1);
    const gen = new LoadGenerator(options([good!, 'not-a-token'], 0));
    try {
      const conn = await gen.connect();
      expect(conn.connected).toBe(1);
      expect(conn.failed).toBe(1);
      expect(conn.firstError).toMatch(/not authori|bad user|refused/i);
      gen.start();
      await new Promise((r) => setTimeout(r, 200));
      expect(gen.snapshot()).toMatchObject({ sent: 0, connected: 1, inflight: 0 });
    } finally {
      await gen.close();
    }
    expect(gen.snapshot().connected).toBe(0);
  });
});
