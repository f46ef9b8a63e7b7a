import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestHub, type TestHub } from '../test/support/hub.ts';
import { metricTotal } from './api-client.ts';
import { LatencyHistogram } from './latency.ts';
import { runLoad, startLoad } from './load.ts';

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
});

describe('runLoad against a hub', () => {
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
