import { describe, expect, it } from 'vitest';
import {
  type BaseState,
  binModel,
  craneModel,
  dustModel,
  localTime,
  MODELS,
  type Model,
  noiseModel,
  PHYSICAL_RANGES,
  type Readings,
} from './models/index.ts';

const MINUTE = 60_000;
const WEEK_MINUTES = 7 * 24 * 60;
/** Monday 2025-11-24 00:00 in Shanghai. */
const T0 = Date.parse('2025-11-24T00:00:00+08:00');

interface Sample<S extends BaseState = BaseState> {
  ts: number;
  values: Readings;
  state: S;
}

/** A week at 1-minute steps. */
function simulate<S extends BaseState>(
  model: Model<S>,
  seed: number,
  timeZone?: string,
  minutes = WEEK_MINUTES,
) {
  const out: Sample<S>[] = [];
  let state = model.init(seed, T0, { timeZone } as Parameters<Model<S>['init']>[2]);
  for (let i = 1; i <= minutes; i++) {
    const ts = T0 + i * MINUTE;
    const r = model.step(state, ts);
    state = r.state;
    out.push({ ts, values: r.values, state });
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const SEEDS = [1, 2, 3, 4];

describe('local time', () => {
  it('follows the zone', () => {
    const ts = Date.parse('2025-11-24T02:30:00Z');
    expect(localTime(ts, 'Asia/Shanghai')).toEqual({ hour: 10.5, dow: 1, day: '2025-11-24' });
    expect(localTime(ts, 'America/New_York')).toEqual({ hour: 21.5, dow: 0, day: '2025-11-23' });
    expect(localTime(Date.parse('2025-07-01T02:30:00Z'), 'America/New_York').hour).toBe(22.5);
  });
});

const ALL = Object.values(MODELS).map((m) => [m.profile, m as unknown as Model<BaseState>] as const);

describe.each(ALL)('%s model', (_profile, model) => {
  const weeks = SEEDS.map((seed) => simulate(model, seed));

  it('stays inside the physical ranges over a week at 1-minute steps', () => {
    for (const week of weeks) {
      for (const { values } of week) {
        expect(Object.keys(values).sort()).toEqual([...model.keys].sort());
        for (const [k, v] of Object.entries(values)) {
          const range = PHYSICAL_RANGES[k];
          expect(range, k).toBeDefined();
          if (!(Number.isFinite(v) && v >= range![0] && v <= range![1])) {
            expect.fail(`${k} = ${v} outside [${range![0]}, ${range![1]}]`);
          }
        }
      }
    }
  });

  it('is deterministic for a seed, varies with it, and does not mutate its input', () => {
    const again = simulate(model, 1, undefined, 600);
    expect(again.map((s) => s.values)).toEqual(weeks[0]!.slice(0, 600).map((s) => s.values));
    expect(again.map((s) => s.values)).not.toEqual(weeks[1]!.slice(0, 600).map((s) => s.values));
    const s0 = model.init(5, T0);
    const copy = structuredClone(s0);
    const a = model.step(s0, T0 + 90 * MINUTE);
    expect(s0).toEqual(copy);
    expect(model.step(s0, T0 + 90 * MINUTE)).toEqual(a);
    expect(a.state.ts).toBe(T0 + 90 * MINUTE);
  });

  it('survives a long gap and odd timestamps', () => {
    const s0 = model.init(9, T0);
    const later = model.step(s0, T0 + 30 * 24 * 60 * MINUTE);
    for (const v of Object.values(later.values)) expect(Number.isFinite(v)).toBe(true);
    const back = model.step(later.state, T0); // time going backwards: no crash, no rewind
    expect(back.state.ts).toBe(later.state.ts);
  });

  it('rejects an unknown time zone', () => {
    expect(() => model.init(1, T0, { timeZone: 'Mars/Olympus' })).toThrow();
  });
});

describe('waste bin', () => {
  const weeks = SEEDS.map((seed) => simulate(binModel, seed));

  it('is emptied at least once every local day, and the drop shows in the readings', () => {
    for (const week of weeks) {
      const collectedDays = new Set(week.map((s) => localTime(s.state.lastCollectedAt, 'Asia/Shanghai').day));
      for (let d = 0; d < 7; d++) {
        const day = localTime(T0 + d * 24 * 60 * MINUTE + 12 * 60 * MINUTE, 'Asia/Shanghai').day;
        expect(collectedDays.has(day), day).toBe(true);
      }
      // Sudden drops to near empty, at least one a day.
      let drops = 0;
      for (let i = 1; i < week.length; i++) {
        const before = week[i - 1]!.values.fillingLevel!;
        const after = week[i]!.values.fillingLevel!;
        if (before - after >= 0.05 && after <= 0.1) drops++;
      }
      expect(drops).toBeGreaterThanOrEqual(7);
    }
  });

  it('collects in the morning in local time, whatever the zone', () => {
    for (const tz of ['Asia/Shanghai', 'Europe/Berlin']) {
      const week = simulate(binModel, 1, tz);
      const firstOfDay = new Map<string, number>();
      for (let i = 1; i < week.length; i++) {
        const at = week[i]!.state.lastCollectedAt;
        if (at === week[i - 1]!.state.lastCollectedAt) continue;
        const lt = localTime(at, tz);
        // Only days simulated from their start (T0 is afternoon in Berlin).
        if (lt.day !== localTime(T0, tz).day && !firstOfDay.has(lt.day)) firstOfDay.set(lt.day, lt.hour);
      }
      expect(firstOfDay.size).toBeGreaterThanOrEqual(6);
      for (const hour of firstOfDay.values()) {
        expect(hour).toBeGreaterThanOrEqual(6);
        expect(hour).toBeLessThan(7.6);
      }
    }
  });

  it('fills faster at lunch than before dawn', () => {
    const rise = (from: number, to: number) => {
      const deltas: number[] = [];
      for (const week of weeks) {
        for (let i = 1; i < week.length; i++) {
          const h = localTime(week[i]!.ts, 'Asia/Shanghai').hour;
          const d = week[i]!.state.fill - week[i - 1]!.state.fill;
          if (h >= from && h < to && d >= 0) deltas.push(d);
        }
      }
      return mean(deltas);
    };
    expect(rise(11.5, 12.5)).toBeGreaterThan(5 * rise(2, 4));
  });

  it('has rare fires and tip-overs over many bin-weeks', () => {
    let fires = 0;
    let tipped = 0;
    let readings = 0;
    for (let seed = 10; seed < 40; seed++) {
      const week = simulate(binModel, seed);
      readings += week.length;
      fires += week.filter((s) => s.values.temperature! >= 60).length;
      tipped += week.filter((s) => s.values.tilt! >= 60).length;
    }
    expect(fires).toBeGreaterThan(0);
    expect(fires / readings).toBeLessThan(0.01);
    expect(tipped).toBeGreaterThan(0);
    expect(tipped / readings).toBeLessThan(0.05);
  });

  it('drains the battery slowly', () => {
    for (const week of weeks) {
      const first = week[0]!.values.batteryLevel!;
      const lastB = week[week.length - 1]!.values.batteryLevel!;
      expect(first - lastB).toBeGreaterThan(0);
      expect(first - lastB).toBeLessThan(0.1);
    }
  });
});

describe('dust monitor', () => {
  const weeks = SEEDS.map((seed) => simulate(dustModel, seed));
  const atHour = (week: Sample[], hour: number, tz = 'Asia/Shanghai') =>
    week.filter((s) => Math.floor(localTime(s.ts, tz).hour) === hour).map((s) => s.values.pm10!);

  it('is higher at 10:00 than at 03:00 on average', () => {
    for (const week of weeks) expect(mean(atHour(week, 10))).toBeGreaterThan(1.3 * mean(atHour(week, 3)));
  });

  it('follows working hours in local time for another zone', () => {
    const week = simulate(dustModel, 1, 'America/New_York');
    expect(mean(atHour(week, 10, 'America/New_York'))).toBeGreaterThan(
      1.3 * mean(atHour(week, 3, 'America/New_York')),
    );
  });

  it('keeps PM2.5 at 0.4–0.6 of PM10', () => {
    for (const week of weeks) {
      for (const { values } of week) {
        if (values.pm10! < 10) continue;
        const ratio = values.pm25! / values.pm10!;
        expect(ratio).toBeGreaterThanOrEqual(0.39);
        expect(ratio).toBeLessThanOrEqual(0.61);
      }
    }
  });

  it('has episodes above 80 µg/m³ lasting tens of minutes, but not all day', () => {
    for (const week of weeks) {
      const high = week.map((s) => s.values.pm10! > 80);
      const share = high.filter(Boolean).length / high.length;
      expect(share).toBeGreaterThan(0);
      expect(share).toBeLessThan(0.15);
      let longest = 0;
      let run = 0;
      for (const h of high) {
        run = h ? run + 1 : 0;
        longest = Math.max(longest, run);
      }
      expect(longest).toBeGreaterThanOrEqual(10);
    }
  });

  it('reports wind direction and humidity that vary', () => {
    const dirs = weeks[0]!.map((s) => s.values.windDirection!);
    expect(Math.max(...dirs) - Math.min(...dirs)).toBeGreaterThan(45);
    const rh = weeks[0]!.map((s) => s.values.relativeHumidity!);
    expect(Math.max(...rh) - Math.min(...rh)).toBeGreaterThan(0.1);
  });
});

describe('noise monitor', () => {
  const weeks = SEEDS.map((seed) => simulate(noiseModel, seed));
  const hourOf = (s: Sample) => localTime(s.ts, 'Asia/Shanghai').hour;

  it('is lower at night than by day', () => {
    for (const week of weeks) {
      const night = mean(week.filter((s) => hourOf(s) >= 23 || hourOf(s) < 5).map((s) => s.values.LAeq!));
      const day = mean(week.filter((s) => hourOf(s) >= 8 && hourOf(s) < 11).map((s) => s.values.LAeq!));
      expect(night).toBeGreaterThan(43);
      expect(night).toBeLessThan(52);
      expect(day).toBeGreaterThan(59);
      expect(day).toBeLessThan(69);
      expect(day - night).toBeGreaterThan(8);
    }
  });

  it('keeps LAmax at or above LAeq', () => {
    for (const week of weeks)
      for (const { values } of week) expect(values.LAmax!).toBeGreaterThanOrEqual(values.LAeq!);
  });
});

describe('tower crane', () => {
  const weeks = SEEDS.map((seed) => simulate(craneModel, seed));
  const hourOf = (s: Sample) => localTime(s.ts, 'Asia/Shanghai').hour;

  it('lifts by day, mostly at 30–85 % of the rated moment, rarely ≥ 90 %', () => {
    let loaded = 0;
    let normal = 0;
    let high = 0;
    for (const week of weeks) {
      for (const s of week) {
        const lmr = s.values.loadMomentRatio!;
        if (hourOf(s) < 6 || hourOf(s) >= 19) {
          expect(s.values.load).toBe(0);
          continue;
        }
        // Steady carrying (not the moment the load is taken or set down).
        if (s.values.load! <= 0) continue;
        loaded++;
        if (lmr >= 0.3 && lmr <= 0.85) normal++;
        if (lmr >= 0.9) high++;
      }
    }
    expect(loaded).toBeGreaterThan(1000);
    expect(normal / loaded).toBeGreaterThan(0.6);
    expect(high).toBeGreaterThan(0);
    expect(high / loaded).toBeLessThan(0.05);
  });

  it('moves in cycles of a few minutes', () => {
    const week = weeks[0]!;
    let pickups = 0;
    for (let i = 1; i < week.length; i++) {
      if (week[i - 1]!.values.load === 0 && week[i]!.values.load! > 0) pickups++;
    }
    // ~10 h of work a day, a lift every 4–10 min.
    expect(pickups).toBeGreaterThan(7 * 30);
    expect(pickups).toBeLessThan(7 * 200);
  });

  it('has load and radius consistent with the moment ratio', () => {
    for (const { values } of weeks[1]!) {
      if (values.load === 0) expect(values.loadMomentRatio).toBe(0);
      else expect(values.loadMomentRatio!).toBeGreaterThan(0);
    }
  });
});
