import { describe, expect, it } from 'vitest';
import { CAMERA_EVENT_TYPES as HUB_TYPES } from '../domain/index.ts';
import { cameraEventSchema } from '../ingest/validate.ts';
import {
  CAMERA_EVENT_TYPES,
  type CameraEvent,
  type CameraScene,
  cameraModel,
  cameraRate,
  localTime,
} from './models/index.ts';

const MINUTE = 60_000;
const DAY = 86_400_000;
/** Monday 2025-11-24 00:00 in Shanghai. */
const T0 = Date.parse('2025-11-24T00:00:00+08:00');

interface Detection {
  ts: number;
  event: CameraEvent;
}

function run(seed: number, scene: CameraScene, days: number, stepMs = 5000) {
  let state = cameraModel.init(seed, T0, {
    scene,
    snapshotBase: `http://camera.local/snapshots/cam-${seed}`,
  });
  const events: Detection[] = [];
  const status: { ts: number; values: Record<string, number> }[] = [];
  let prev = T0;
  for (let ts = T0 + stepMs; ts <= T0 + days * DAY; ts += stepMs) {
    const r = cameraModel.step(state, ts);
    for (const e of r.events) {
      expect(e.ts).toBeGreaterThan(prev);
      expect(e.ts).toBeLessThanOrEqual(ts);
    }
    expect(r.events.map((e) => e.ts)).toEqual([...r.events.map((e) => e.ts)].sort((a, b) => a - b));
    events.push(...r.events);
    if (Object.keys(r.values).length) status.push({ ts, values: r.values });
    state = r.state;
    prev = ts;
  }
  return { events, status, state };
}

const hourOf = (ts: number) => localTime(ts).hour;
const count = (events: Detection[], type: string, from: number, to: number) =>
  events.filter((e) => e.event.type === type && hourOf(e.ts) >= from && hourOf(e.ts) < to).length;

describe('camera model', () => {
  const street = [1, 2, 3, 4, 5, 6].map((seed) => run(seed, 'street', 7));
  const site = [1, 2, 3, 4, 5, 6].map((seed) => run(seed, 'site', 7));
  const all = [...street, ...site].flatMap((r) => r.events);

  it('knows the same event types as the hub', () => {
    expect([...CAMERA_EVENT_TYPES].sort()).toEqual([...HUB_TYPES].sort());
  });

  it('emits detections the hub accepts: type, confidence mostly 0.6–0.99, a snapshot URL', () => {
    expect(all.length).toBeGreaterThan(500);
    for (const e of all) {
      expect(cameraEventSchema.safeParse(e.event).success, JSON.stringify(e.event)).toBe(true);
      expect(e.event.confidence).toBeGreaterThanOrEqual(0.3);
      expect(e.event.confidence).toBeLessThanOrEqual(0.99);
    }
    const inBand = all.filter((e) => e.event.confidence >= 0.6).length / all.length;
    expect(inBand).toBeGreaterThan(0.8);
    const e = street[0]!.events[0]!;
    expect(e.event.snapshot).toBe(`http://camera.local/snapshots/cam-1/${e.ts}.jpg`);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const a = run(42, 'street', 1);
    const b = run(42, 'street', 1);
    const c = run(43, 'street', 1);
    expect(b.events).toEqual(a.events);
    expect(b.status).toEqual(a.status);
    expect(c.events).not.toEqual(a.events);
  });

  it('never mutates the state it is given', () => {
    const s0 = cameraModel.init(7, T0, { scene: 'site' });
    const copy = structuredClone(s0);
    cameraModel.step(s0, T0 + 6 * 3_600_000);
    expect(s0).toEqual(copy);
  });

  it('sees street vending around meal times, rarely before dawn', () => {
    const ev = street.flatMap((r) => r.events);
    const meals = count(ev, 'street_vending', 11, 13) + count(ev, 'street_vending', 17, 19);
    const night = count(ev, 'street_vending', 2, 5) * (4 / 3); // per 4 hours, like the meals
    expect(meals).toBeGreaterThan(5 * night);
    expect(cameraRate('street_vending', 'street', 12, 1)).toBeGreaterThan(
      5 * cameraRate('street_vending', 'street', 3, 1),
    );
  });

  it('sees workers without a helmet on sites only in working hours', () => {
    const ev = site.flatMap((r) => r.events);
    const working = count(ev, 'no_helmet', 8, 17);
    const night = count(ev, 'no_helmet', 20, 24) + count(ev, 'no_helmet', 0, 6);
    expect(working).toBeGreaterThan(100);
    // (a spurious detection of any type can happen at any hour)
    expect(night).toBeLessThan(working / 20);
    expect(cameraRate('no_helmet', 'site', 3, 2)).toBe(0);
    // and fewer on a Sunday
    expect(cameraRate('no_helmet', 'site', 10, 0)).toBeLessThan(cameraRate('no_helmet', 'site', 10, 2));
  });

  it('sees muck trucks mostly at night', () => {
    const ev = [...street, ...site].flatMap((r) => r.events);
    const night = count(ev, 'uncovered_muck_truck', 21, 24) + count(ev, 'uncovered_muck_truck', 0, 5);
    const day = count(ev, 'uncovered_muck_truck', 8, 16);
    expect(night).toBeGreaterThan(2 * day);
  });

  it('re-detects a lasting situation every few minutes (a vendor stays a while)', () => {
    const ev = street.flatMap((r) => r.events).filter((e) => e.event.type === 'street_vending');
    const gaps = ev.slice(1).map((e, i) => e.ts - ev[i]!.ts);
    const close = gaps.filter((g) => g >= 5 * MINUTE && g <= 13 * MINUTE).length;
    expect(close / gaps.length).toBeGreaterThan(0.5);
  });

  it('reports battery and signal strength about every 10 minutes, in range', () => {
    for (const r of street) {
      expect(r.status.length).toBeGreaterThan(7 * 24 * 4);
      expect(r.status.length).toBeLessThan(7 * 24 * 8);
      for (const s of r.status) {
        expect(Object.keys(s.values).sort()).toEqual(['batteryLevel', 'rssi']);
        expect(s.values.batteryLevel).toBeGreaterThanOrEqual(0);
        expect(s.values.batteryLevel).toBeLessThanOrEqual(1);
        expect(s.values.rssi).toBeGreaterThanOrEqual(-120);
        expect(s.values.rssi).toBeLessThanOrEqual(-30);
        expect(Number.isInteger(s.values.rssi)).toBe(true);
      }
    }
  });

  it('does not depend on the step size', () => {
    const fine = [11, 12, 13, 14].map((seed) => run(seed, 'street', 3, 5000).events.length);
    const coarse = [11, 12, 13, 14].map((seed) => run(seed, 'street', 3, 60_000).events.length);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(sum(coarse) / sum(fine)).toBeGreaterThan(0.7);
    expect(sum(coarse) / sum(fine)).toBeLessThan(1.4);
  });

  it('skips a dormant gap longer than a day', () => {
    const s = cameraModel.init(5, T0, { scene: 'street' });
    const r = cameraModel.step(s, T0 + 30 * DAY);
    expect(r.events.every((e) => e.ts > T0 + 29 * DAY)).toBe(true);
  });
});
