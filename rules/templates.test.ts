import { describe, expect, it } from 'vitest';
import { DEFAULT_CATEGORIES, PROFILE_NAMES, type Rule, ruleSchema } from '../domain/index.ts';
import { actives, HOUR, last, MIN, mkCtx, runSteps, type Step, trace } from '../test/support/rules.ts';
import { builtInRules } from './templates.ts';

const rules = builtInRules();
const byId = (id: string, list: Rule[] = rules): Rule => {
  const r = list.find((x) => x.id === id);
  if (!r) throw new Error(`no template ${id}`);
  return r;
};
/** Local Shanghai time on Monday 2026-01-05 (UTC+8). */
const local = (h: number, m = 0, s = 0) => Date.UTC(2026, 0, 5, h, m, s) - 8 * HOUR;
const read = (ts: number, values: Record<string, number>): Step => ({ ts, values });
const T = local(10);

describe('builtInRules', () => {
  it('every template validates unchanged (defaults filled in), with unique ids', () => {
    for (const r of rules) {
      const res = ruleSchema.safeParse(r);
      expect(res.success ? 'ok' : `${r.id}: ${JSON.stringify(res.error.issues)}`).toBe('ok');
      expect(res.data).toEqual(r);
      expect(ruleSchema.parse(JSON.parse(JSON.stringify(r)))).toEqual(r);
    }
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
  });

  it('uses known category codes and the urgencies asked for', () => {
    const codes = new Set(DEFAULT_CATEGORIES.map((c) => c.code));
    for (const r of rules) expect(codes.has(r.category), `${r.id} ${r.category}`).toBe(true);
    const expected: Record<string, [string, Rule['urgency']]> = {
      'bin-full': ['0102', 'normal'],
      'bin-fire': ['0501', 'urgent'],
      'bin-tilted': ['0904', 'normal'],
      'site-pm10-15min': ['0303', 'normal'],
      'site-pm10-daily': ['0303', 'urgent'],
      'noise-day-laeq': ['0301', 'normal'],
      'noise-night-laeq': ['0301', 'normal'],
      'noise-night-lamax': ['0301', 'normal'],
      'crane-load-90': ['0902', 'normal'],
      'crane-load-100': ['0902', 'urgent'],
      'crane-wind': ['0902', 'urgent'],
      'camera-street-vending': ['0401', 'normal'],
      'camera-exposed-garbage': ['0101', 'normal'],
      'camera-no-helmet': ['0903', 'normal'],
      'camera-smoke-fire': ['0501', 'urgent'],
      'camera-uncovered-muck-truck': ['0305', 'normal'],
      ...Object.fromEntries(PROFILE_NAMES.map((p) => [`offline-${p}`, ['0901', 'low']])),
    };
    for (const [id, [category, urgency]] of Object.entries(expected)) {
      const r = byId(id);
      expect([id, r.category, r.urgency]).toEqual([id, category, urgency]);
      expect(r.enabled).toBe(true);
    }
  });

  it('pm10Limit option changes the default limit', () => {
    const strict = builtInRules({ pm10Limit: 60 });
    const steps = [read(T, { pm10: 70 })];
    expect(runSteps(byId('site-pm10-15min', strict), steps)[0]!.active).toBe(true);
    expect(runSteps(byId('site-pm10-15min'), steps)[0]!.active).toBe(false);
  });
});

describe('template sequences', () => {
  it('bin-full: opens at 80 %, stays while not emptied, clears under 20 %', () => {
    const evs = runSteps(byId('bin-full'), [
      read(T, { fillingLevel: 0.6 }),
      read(T + HOUR, { fillingLevel: 0.82 }),
      read(T + 2 * HOUR, { fillingLevel: 0.5 }),
      read(T + 3 * HOUR, { fillingLevel: 0.05 }),
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
  });

  it('bin-fire: opens on 60 °C, or on a jump of ≥ 10 °C/min', () => {
    const hot = runSteps(byId('bin-fire'), [
      read(T, { temperature: 30 }),
      read(T + 10 * MIN, { temperature: 61 }),
      read(T + 20 * MIN, { temperature: 55 }),
      read(T + 30 * MIN, { temperature: 40 }),
    ]);
    expect(trace(hot)).toEqual([
      [false, null],
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
    expect(hot[1]!.explanation).toBe('temperature 61 °C ≥ 60');
    // The rise is measured over at least a minute (minSpan): half a minute in, nothing yet.
    const jump = runSteps(byId('bin-fire'), [
      read(T, { temperature: 20 }),
      read(T + 30_000, { temperature: 28 }),
      read(T + 60_000, { temperature: 36 }),
    ]);
    expect(jump[1]!.transition).toBeNull();
    expect(last(jump).transition).toBe('open');
    expect(last(jump).observed).toEqual({ temperature: 36, temperature_rate_per_min: 16 });
    expect(last(jump).explanation).toMatch(/^temperature rising 16 °C\/min/);
  });

  it('bin-tilted: 45° for a minute, clears under 20°', () => {
    const evs = runSteps(byId('bin-tilted'), [
      read(T, { tilt: 80 }),
      read(T + 30_000, { tilt: 80 }),
      read(T + 60_000, { tilt: 80 }),
      read(T + 5 * MIN, { tilt: 30 }),
      read(T + 6 * MIN, { tilt: 5 }),
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [false, null],
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
  });

  it('site-pm10-15min: the 15-minute average over the limit (default 80, attribute pm10Limit)', () => {
    const steps: Step[] = [];
    // a dusty quarter hour (100 µg/m³) after a clean one (40), then clean again
    for (let m = 0; m < 60; m++) steps.push(read(T + m * MIN, { pm10: m >= 15 && m < 30 ? 100 : 40 }));
    const evs = runSteps(byId('site-pm10-15min'), steps);
    const opened = evs.findIndex((e) => e.transition === 'open');
    const cleared = evs.findIndex((e) => e.transition === 'clear');
    // avg > 80 once 11 of the last 15 readings are 100: (11·100 + 4·40)/15 = 84
    expect(opened).toBe(25);
    expect(evs[opened]!.observed).toEqual({ pm10_avg_15m: 84 });
    expect(evs[opened]!.explanation).toBe(
      'pm10 15-minute average 84 µg/m³ > 80 (default, attribute pm10Limit not set)',
    );
    // after 30: (n·100 + …)/15 ≤ 80 once only 10 hundreds are left
    expect(cleared).toBe(34);
    const site = runSteps(byId('site-pm10-15min'), steps, mkCtx({ attributes: { pm10Limit: 95 } }));
    expect(site.findIndex((e) => e.transition === 'open')).toBe(28);
    expect(site[28]!.explanation).toMatch(/> 95 \(limit from attribute pm10Limit\)$/);
  });

  it('site-pm10-daily: the third exceedance of the day opens it, local midnight resets it', () => {
    const steps: Step[] = [];
    // three dusty half hours in the day, each followed by a clean hour
    for (const startH of [9, 12, 15]) {
      for (let m = 0; m < 30; m++) steps.push(read(local(startH, m), { pm10: 150 }));
      for (let m = 30; m < 90; m++) steps.push(read(local(startH, m), { pm10: 30 }));
    }
    steps.push(read(local(23, 59), { pm10: 30 }));
    steps.push(read(local(24, 0), { pm10: 30 })); // Tuesday 00:00 local (Monday 16:00 UTC)
    const evs = runSteps(byId('site-pm10-daily'), steps);
    const opens = evs.flatMap((e, i) => (e.transition === 'open' ? [i] : []));
    expect(opens).toHaveLength(1);
    expect(evs[opens[0]!]!.observed.opened_today).toBe(3);
    expect(evs[opens[0]!]!.explanation).toMatch(/opened 3 times on 2026-01-05, more than 2 allowed$/);
    expect(evs[evs.length - 2]!.active).toBe(true);
    expect(last(evs).transition).toBe('clear');
  });

  it('noise-night-laeq: over 55 dB(A) for 10 minutes at night; the evening does not count', () => {
    const steps: Step[] = [];
    for (let m = 50; m <= 59; m++) steps.push(read(local(21, m), { LAeq: 62 }));
    for (let m = 0; m <= 12; m++) steps.push(read(local(22, m), { LAeq: 62 }));
    const evs = runSteps(byId('noise-night-laeq'), steps);
    const opened = evs.findIndex((e) => e.transition === 'open');
    expect(steps[opened]).toEqual(read(local(22, 10), { LAeq: 62 }));
    expect(evs[opened]!.explanation).toBe(
      'LAeq 62 dB(A) > 55 (default, attribute noiseNightLimit not set) during 22:00–06:00 for 10m',
    );
    // morning: 06:00 ends the night
    const morning = runSteps(
      byId('noise-night-laeq'),
      [
        ...Array.from({ length: 12 }, (_, i) => read(local(5, 48 + i), { LAeq: 62 })),
        read(local(6, 0), { LAeq: 62 }),
      ],
      mkCtx(),
    );
    expect(morning.findIndex((e) => e.transition === 'open')).toBe(10);
    expect(last(morning).transition).toBe('clear');
  });

  it('noise-night-laeq takes the night limit from the attribute', () => {
    const steps = Array.from({ length: 11 }, (_, i) => read(local(23, i), { LAeq: 52 }));
    expect(last(runSteps(byId('noise-night-laeq'), steps)).active).toBe(false);
    expect(
      last(runSteps(byId('noise-night-laeq'), steps, mkCtx({ attributes: { noiseNightLimit: 50 } }))).active,
    ).toBe(true);
  });

  it('noise-day-laeq: over 70 dB(A) for 10 minutes by day, clears when quieter', () => {
    const steps = [
      ...Array.from({ length: 11 }, (_, i) => read(local(14, i), { LAeq: 75 })),
      read(local(14, 11), { LAeq: 60 }),
    ];
    const evs = runSteps(byId('noise-day-laeq'), steps);
    expect(evs.findIndex((e) => e.transition === 'open')).toBe(10);
    expect(last(evs).transition).toBe('clear');
    // the same at night is the night rule's business
    const night = Array.from({ length: 11 }, (_, i) => read(local(23, i), { LAeq: 75 }));
    expect(runSteps(byId('noise-day-laeq'), night).some((e) => e.active)).toBe(false);
  });

  it('noise-night-lamax: LAmax more than 15 dB(A) over the night limit, at night only', () => {
    const r = byId('noise-night-lamax');
    const evs = runSteps(r, [
      read(local(23), { LAmax: 70 }),
      read(local(23, 1), { LAmax: 71 }),
      read(local(23, 2), { LAmax: 60 }),
      read(local(12), { LAmax: 90 }),
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [true, 'open'],
      [false, 'clear'],
      [false, null],
    ]);
    expect(evs[1]!.explanation).toBe(
      'LAmax 71 dB(A) > 70 (default 55 + 15, attribute noiseNightLimit not set) during 22:00–06:00',
    );
    const lower = runSteps(
      r,
      [read(local(23), { LAmax: 66 })],
      mkCtx({ attributes: { noiseNightLimit: 50 } }),
    );
    expect(lower[0]!.active).toBe(true);
  });

  it('crane-load-90 / crane-load-100: pre-alarm with hysteresis, alarm at the rated moment', () => {
    const steps = [
      read(T, { loadMomentRatio: 0.7 }),
      read(T + MIN, { loadMomentRatio: 0.92 }),
      read(T + 2 * MIN, { loadMomentRatio: 1.03 }),
      read(T + 3 * MIN, { loadMomentRatio: 0.87 }),
      read(T + 4 * MIN, { loadMomentRatio: 0.84 }),
    ];
    expect(actives(runSteps(byId('crane-load-90'), steps))).toEqual([false, true, true, true, false]);
    expect(actives(runSteps(byId('crane-load-100'), steps))).toEqual([false, false, true, false, false]);
  });

  it('crane-wind: force-6 wind, clears under 12 m/s', () => {
    const evs = runSteps(byId('crane-wind'), [
      read(T, { windSpeed: 9 }),
      read(T + MIN, { windSpeed: 14.2 }),
      read(T + 2 * MIN, { windSpeed: 12.5 }),
      read(T + 3 * MIN, { windSpeed: 11.9 }),
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
    expect(evs[1]!.explanation).toBe('windSpeed 14.2 m/s ≥ 13.8');
  });

  it.each([
    ['camera-street-vending', 'street_vending'],
    ['camera-exposed-garbage', 'exposed_garbage'],
    ['camera-no-helmet', 'no_helmet'],
    ['camera-smoke-fire', 'smoke_fire'],
    ['camera-uncovered-muck-truck', 'uncovered_muck_truck'],
    ['camera-intrusion', 'intrusion'],
  ])('%s: a confident detection opens it, 30 minutes without one clear it', (id, type) => {
    const evs = runSteps(byId(id), [
      { ts: T, values: {}, events: [{ type, confidence: 0.75, snapshot: null }] },
      { ts: T + MIN, values: {}, events: [{ type, confidence: 0.91, snapshot: 'snap/a.jpg' }] },
      { tick: T + 30 * MIN },
      { tick: T + 31 * MIN },
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
    expect(evs[1]!.snapshots).toEqual(['snap/a.jpg']);
  });

  it('camera-intrusion is off by default', () => {
    expect(byId('camera-intrusion').enabled).toBe(false);
  });

  it.each(PROFILE_NAMES)('offline-%s: 3 missed 5-minute intervals on the hub clock', (profile) => {
    const evs = runSteps(byId(`offline-${profile}`), [
      { ts: T, values: { batteryLevel: 0.8 } },
      { tick: T + 14 * MIN },
      { tick: T + 15 * MIN },
      { ts: T + 16 * MIN, values: { batteryLevel: 0.8 } },
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [false, null],
      [true, 'open'],
      [false, 'clear'],
    ]);
    expect(evs[2]!.explanation).toBe(
      'no data for 3 intervals of 5m (last reading 2026-01-05T10:00:00+08:00)',
    );
  });
});
