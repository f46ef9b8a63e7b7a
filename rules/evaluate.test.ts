import { describe, expect, it } from 'vitest';
import type { ConditionInput, Rule } from '../domain/index.ts';
import {
  actives,
  HOUR,
  last,
  MIN,
  MONDAY_UTC,
  mkCtx,
  mkRule,
  runSteps,
  type Step,
  trace,
} from '../test/support/rules.ts';
import {
  evaluate,
  fmtDuration,
  initialState,
  inSchedule,
  localDay,
  localIso,
  needsTick,
  type RuleState,
  usesKeys,
  WINDOW_MAX_SAMPLES,
} from './evaluate.ts';

const T = MONDAY_UTC; // Monday 08:00 in Shanghai
const at = (ms: number, values: Record<string, number>): Step => ({ ts: T + ms, values });

describe('threshold', () => {
  const bin = mkRule({ kind: 'threshold', key: 'fillingLevel', op: '>=', value: 0.8, clear: 0.2 });

  it('opens at the value, stays open between clear and value, clears at the clear level', () => {
    const evs = runSteps(bin, [
      at(0, { fillingLevel: 0.5 }),
      at(MIN, { fillingLevel: 0.79 }),
      at(2 * MIN, { fillingLevel: 0.8 }),
      at(3 * MIN, { fillingLevel: 0.5 }),
      at(4 * MIN, { fillingLevel: 0.21 }),
      at(5 * MIN, { fillingLevel: 0.2 }),
      at(6 * MIN, { fillingLevel: 0.5 }),
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [false, null],
      [true, 'open'],
      [true, null],
      [true, null],
      [false, 'clear'],
      [false, null],
    ]);
    expect(evs[2]!.explanation).toBe('fillingLevel 0.8 ≥ 0.8');
    expect(evs[2]!.observed).toEqual({ fillingLevel: 0.8 });
    expect(evs[2]!.state.since).toBe(T + 2 * MIN);
    expect(evs[3]!.explanation).toMatch(/not yet back to the clear level .*clears at ≤ 0\.2/);
    expect(evs[5]!.explanation).toBe('fillingLevel 0.2 ≤ 0.2 (back to the clear level)');
    expect(evs[5]!.state.since).toBeNull();
  });

  it('without a clear level clears as soon as the comparison fails', () => {
    const r = mkRule({ kind: 'threshold', key: 'x', op: '>', value: 10 });
    expect(actives(runSteps(r, [at(0, { x: 11 }), at(MIN, { x: 10 }), at(2 * MIN, { x: 10.5 })]))).toEqual([
      true,
      false,
      true,
    ]);
  });

  it('works downwards (< with clear ≥)', () => {
    const r = mkRule({ kind: 'threshold', key: 'batteryLevel', op: '<', value: 0.1, clear: 0.2 });
    const evs = runSteps(r, [
      at(0, { batteryLevel: 0.5 }),
      at(MIN, { batteryLevel: 0.05 }),
      at(2 * MIN, { batteryLevel: 0.15 }),
      at(3 * MIN, { batteryLevel: 0.2 }),
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
    expect(evs[1]!.explanation).toBe('batteryLevel 0.05 < 0.1');
  });

  it('keeps its truth when the message does not carry the key', () => {
    const evs = runSteps(bin, [
      at(0, { fillingLevel: 0.9 }),
      at(MIN, { batteryLevel: 0.3 }),
      at(2 * MIN, {}),
    ]);
    expect(trace(evs)).toEqual([
      [true, 'open'],
      [true, null],
      [true, null],
    ]);
    expect(evs[1]!.explanation).toBe('fillingLevel 0.9 ≥ 0.8');
    expect(evs[2]!.state.lastTs).toBe(T + 2 * MIN);
  });

  it('is unknown (inactive) before any reading of its key', () => {
    const evs = runSteps(bin, [at(0, { batteryLevel: 0.3 })]);
    expect(evs[0]!.active).toBe(false);
    expect(evs[0]!.explanation).toBe('fillingLevel: no reading yet');
  });

  it('never flips on a late (out-of-order) reading', () => {
    const r = mkRule({ kind: 'threshold', key: 'x', op: '>=', value: 10 });
    const evs = runSteps(r, [at(10 * MIN, { x: 20 }), at(5 * MIN, { x: 0 }), at(11 * MIN, { x: 0 })]);
    expect(trace(evs)).toEqual([
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
    expect(evs[1]!.state.lastTs).toBe(T + 10 * MIN);
  });
});

describe('attribute thresholds', () => {
  const r = mkRule({
    kind: 'threshold',
    key: 'LAmax',
    op: '>',
    value: { attribute: 'noiseNightLimit', default: 55, offset: 15 },
  });

  it('uses the default (+ offset) when the attribute is not set', () => {
    const evs = runSteps(r, [at(0, { LAmax: 70 }), at(MIN, { LAmax: 70.5 })]);
    expect(actives(evs)).toEqual([false, true]);
    expect(evs[1]!.explanation).toBe('LAmax 70.5 > 70 (default 55 + 15, attribute noiseNightLimit not set)');
  });

  it('uses the attribute (+ offset) when set, also as a numeric string', () => {
    for (const limit of [50, '50']) {
      const evs = runSteps(
        r,
        [at(0, { LAmax: 65 }), at(MIN, { LAmax: 66 })],
        mkCtx({ attributes: { noiseNightLimit: limit } }),
      );
      expect(actives(evs)).toEqual([false, true]);
      expect(evs[1]!.explanation).toBe('LAmax 66 > 65 (limit from attribute noiseNightLimit + 15)');
    }
  });

  it('falls back to the default when the attribute is not a number', () => {
    const evs = runSteps(r, [at(0, { LAmax: 66 })], mkCtx({ attributes: { noiseNightLimit: 'loud' } }));
    expect(evs[0]!.active).toBe(false);
  });

  it('without attribute nor default keeps the previous state and says why', () => {
    const noDefault = mkRule({ kind: 'threshold', key: 'pm10', op: '>', value: { attribute: 'pm10Limit' } });
    const evs = runSteps(noDefault, [at(0, { pm10: 100 }), at(MIN, { pm10: 10 })], mkCtx({ attributes: {} }));
    expect(actives(evs)).toEqual([false, false]);
    expect(evs[1]!.explanation).toBe('pm10: attribute pm10Limit is not set and the rule gives no default');
    const withIt = runSteps(noDefault, [at(0, { pm10: 100 })], mkCtx({ attributes: { pm10Limit: 80 } }));
    expect(withIt[0]!.active).toBe(true);
  });

  it('takes the clear level from an attribute too', () => {
    const h = mkRule({
      kind: 'threshold',
      key: 'x',
      op: '>=',
      value: { attribute: 'hi' },
      clear: { attribute: 'lo', default: 0 },
    });
    const ctx = mkCtx({ attributes: { hi: 10, lo: 5 } });
    expect(actives(runSteps(h, [at(0, { x: 10 }), at(MIN, { x: 6 }), at(2 * MIN, { x: 5 })], ctx))).toEqual([
      true,
      true,
      false,
    ]);
  });
});

describe('sustained', () => {
  const tilted = mkRule(
    {
      kind: 'sustained',
      for: '1m',
      condition: { kind: 'threshold', key: 'tilt', op: '>=', value: 45, clear: 20 },
    },
    { appliesTo: { profile: 'waste-container' } },
  );

  it('needs the full duration of event time', () => {
    const evs = runSteps(tilted, [
      at(0, { tilt: 50 }),
      at(30_000, { tilt: 60 }),
      at(59_999, { tilt: 60 }),
      at(60_000, { tilt: 60 }),
      at(90_000, { tilt: 30 }), // inner still active (hysteresis)
      at(120_000, { tilt: 10 }),
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [false, null],
      [false, null],
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
    expect(evs[2]!.explanation).toBe('tilt 60° ≥ 45 for 59s of the 1m needed');
    expect(evs[3]!.explanation).toBe('tilt 60° ≥ 45 for 1m');
  });

  it('starts over when the inner condition clears', () => {
    const evs = runSteps(tilted, [
      at(0, { tilt: 50 }),
      at(40_000, { tilt: 10 }),
      at(50_000, { tilt: 50 }),
      at(100_000, { tilt: 50 }),
      at(110_000, { tilt: 50 }),
    ]);
    expect(actives(evs)).toEqual([false, false, false, false, true]);
  });

  it('counts time only on readings of its own keys', () => {
    const evs = runSteps(tilted, [
      at(0, { tilt: 50 }),
      at(5 * MIN, { batteryLevel: 0.5 }),
      at(5 * MIN + 1000, { tilt: 50 }),
    ]);
    expect(actives(evs)).toEqual([false, false, true]);
  });

  it('a late reading neither resets nor advances it', () => {
    const evs = runSteps(tilted, [
      at(0, { tilt: 50 }),
      at(50_000, { tilt: 50 }),
      at(10_000, { tilt: 0 }),
      at(60_000, { tilt: 50 }),
    ]);
    expect(actives(evs)).toEqual([false, false, false, true]);
  });
});

describe('window', () => {
  const avg = mkRule(
    { kind: 'window', key: 'pm10', agg: 'avg', window: '15m', op: '>', value: 80 },
    { appliesTo: { profile: 'air-quality' } },
  );

  it('averages exactly the last 15 minutes (a reading 15 minutes old has left)', () => {
    const steps = [at(0, { pm10: 1000 })];
    for (let m = 1; m <= 15; m++) steps.push(at(m * MIN, { pm10: 20 }));
    const evs = runSteps(avg, steps);
    // at 14 minutes: (1000 + 14 × 20) / 15 = 85.33 > 80; at 15 minutes the 1000 is out: 20
    expect(evs[14]!.active).toBe(true);
    expect(evs[14]!.observed).toEqual({ pm10_avg_15m: 85.3333 });
    expect(evs[14]!.explanation).toBe('pm10 15-minute average 85.33 µg/m³ > 80');
    expect(evs[15]!.transition).toBe('clear');
    expect(evs[15]!.observed).toEqual({ pm10_avg_15m: 20 });
    expect(evs.findIndex((e) => e.active)).toBe(0);
  });

  it('a gap longer than the window leaves only the new reading', () => {
    const evs = runSteps(avg, [at(0, { pm10: 200 }), at(16 * MIN, { pm10: 10 })]);
    expect(actives(evs)).toEqual([true, false]);
    expect(evs[1]!.observed).toEqual({ pm10_avg_15m: 10 });
  });

  it('max and min', () => {
    const max = mkRule({ kind: 'window', key: 'x', agg: 'max', window: '10m', op: '>=', value: 5 });
    const min = mkRule({ kind: 'window', key: 'x', agg: 'min', window: '10m', op: '<', value: 2 });
    const steps = [at(0, { x: 6 }), at(5 * MIN, { x: 3 }), at(10 * MIN, { x: 3 }), at(12 * MIN, { x: 1 })];
    expect(actives(runSteps(max, steps))).toEqual([true, true, false, false]);
    expect(actives(runSteps(min, steps))).toEqual([false, false, false, true]);
  });

  it('with hysteresis on the aggregate', () => {
    const h = mkRule({ kind: 'window', key: 'x', agg: 'avg', window: '2m', op: '>=', value: 10, clear: 5 });
    const evs = runSteps(h, [
      at(0, { x: 10 }),
      at(MIN, { x: 6 }),
      at(2 * MIN, { x: 5.5 }),
      at(3 * MIN, { x: 4 }),
    ]);
    // window (t − 2m, t]: averages 10, 8, 5.75 (the 10 has left), 4.75
    expect(actives(evs)).toEqual([true, true, true, false]);
  });

  it('files a late reading into the window without re-deciding on it', () => {
    const evs = runSteps(avg, [
      at(0, { pm10: 50 }),
      at(2 * MIN, { pm10: 50 }),
      at(1 * MIN, { pm10: 500 }), // late
      at(3 * MIN, { pm10: 50 }),
    ]);
    expect(actives(evs)).toEqual([false, false, false, true]);
    expect(evs[3]!.observed).toEqual({ pm10_avg_15m: 162.5 });
  });

  it(`keeps at most ${WINDOW_MAX_SAMPLES} samples, dropping the oldest`, () => {
    const r = mkRule({ kind: 'window', key: 'x', agg: 'max', window: '1d', op: '>=', value: 100 });
    const steps: Step[] = [at(0, { x: 100 })];
    for (let i = 1; i <= WINDOW_MAX_SAMPLES + 50; i++) steps.push(at(i * 1000, { x: 1 }));
    const evs = runSteps(r, steps);
    const node = last(evs).state.nodes['0'] as { s: unknown[] };
    expect(node.s).toHaveLength(WINDOW_MAX_SAMPLES);
    // the 100 was dropped with the oldest samples
    expect(last(evs).active).toBe(false);
    expect(evs[WINDOW_MAX_SAMPLES - 1]!.active).toBe(true);
  });
});

describe('dailyCount', () => {
  const r = mkRule({
    kind: 'dailyCount',
    moreThan: 2,
    condition: { kind: 'threshold', key: 'pm10', op: '>', value: 80 },
  });
  const SH_MIDNIGHT = Date.UTC(2026, 0, 5, 16); // Tuesday 00:00 in Shanghai

  it('counts openings (not readings) in the local day and resets at local midnight', () => {
    const u = (ms: number, pm10: number): Step => ({ ts: ms, values: { pm10 } });
    const evs = runSteps(r, [
      u(Date.UTC(2026, 0, 5, 1), 100), // 09:00 local: 1st opening
      u(Date.UTC(2026, 0, 5, 1, 5), 120), // still the same exceedance
      u(Date.UTC(2026, 0, 5, 2), 10),
      u(Date.UTC(2026, 0, 5, 3), 90), // 2nd
      u(Date.UTC(2026, 0, 5, 4), 10),
      u(Date.UTC(2026, 0, 5, 5), 90), // 3rd: more than 2
      u(Date.UTC(2026, 0, 5, 6), 10),
      u(SH_MIDNIGHT - 1000, 10), // 23:59:59 local: still today
      u(SH_MIDNIGHT, 10), // 00:00 local: a new day
      u(SH_MIDNIGHT + HOUR, 90),
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [false, null],
      [false, null],
      [false, null],
      [false, null],
      [true, 'open'],
      [true, null],
      [true, null],
      [false, 'clear'],
      [false, null],
    ]);
    expect(evs[5]!.observed).toEqual({ pm10: 90, opened_today: 3 });
    expect(evs[5]!.explanation).toBe('pm10 90 > 80; opened 3 times on 2026-01-05, more than 2 allowed');
    expect(evs[9]!.observed.opened_today).toBe(1);
  });

  it('does not reset at UTC midnight', () => {
    const u = (ms: number, pm10: number): Step => ({ ts: ms, values: { pm10 } });
    const steps: Step[] = [];
    // 3 exceedances on Tuesday 02:00–06:00 local (Monday 18:00–22:00 UTC)
    for (let h = 18; h < 24; h += 2)
      steps.push(u(Date.UTC(2026, 0, 5, h), 100), u(Date.UTC(2026, 0, 5, h, 30), 0));
    steps.push(u(Date.UTC(2026, 0, 6, 0, 30), 0)); // UTC midnight passed, still Tuesday local
    const evs = runSteps(r, steps);
    expect(last(evs).active).toBe(true);
  });
});

describe('rate', () => {
  const rise = mkRule({ kind: 'rate', key: 'temperature', perMinute: 10, direction: 'rise' });

  it('compares consecutive readings per minute of event time', () => {
    const evs = runSteps(rise, [
      at(0, { temperature: 20 }),
      at(MIN, { temperature: 25 }), // +5/min
      at(2 * MIN, { temperature: 40 }), // +15/min
      at(2 * MIN + 30_000, { temperature: 45 }), // +10/min
      at(3 * MIN + 30_000, { temperature: 47 }), // +2/min
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [false, null],
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
    expect(evs[2]!.observed).toEqual({ temperature_rate_per_min: 15 });
    expect(evs[2]!.explanation).toBe('temperature rising 15/min (25 → 40 in 1m), a rise of at least 10/min');
  });

  it('ignores pairs less than 1 s apart (keeps the older reading) and more than 30 min apart', () => {
    const evs = runSteps(rise, [
      at(0, { temperature: 20 }),
      at(500, { temperature: 80 }), // too close: ignored
      at(MIN, { temperature: 25 }), // vs the reading at 0: +5/min
      at(32 * MIN, { temperature: 300 }), // 31 min later: no rate
      at(33 * MIN, { temperature: 305 }), // +5/min vs 300
    ]);
    expect(actives(evs)).toEqual([false, false, false, false, false]);
    expect(evs[2]!.observed).toEqual({ temperature_rate_per_min: 5 });
    expect(evs[4]!.observed).toEqual({ temperature_rate_per_min: 5 });
  });

  it('minSpan measures against a reading at least that much older, so noise seconds apart is no rise', () => {
    const slow = mkRule({
      kind: 'rate',
      key: 'temperature',
      perMinute: 10,
      direction: 'rise',
      minSpan: '1m',
    });
    const noisy = [20, 21, 20.2, 21.1, 20.4, 21, 20.5, 21.2, 20.6, 21, 20.8, 21.3, 21];
    const steps = noisy.map((v, i) => at(i * 5000, { temperature: v }));
    // Without minSpan, 20 → 21 in 5 s reads as +12/min.
    expect(actives(runSteps(rise, steps)).some(Boolean)).toBe(true);
    expect(actives(runSteps(slow, steps)).some(Boolean)).toBe(false);
    // A real rise over a minute still opens.
    expect(actives(runSteps(slow, [...steps, at(2 * MIN, { temperature: 35 })])).at(-1)).toBe(true);
  });

  it('falls and either', () => {
    const fall = mkRule({ kind: 'rate', key: 'fillingLevel', perMinute: 0.3, direction: 'fall' });
    const either = mkRule({ kind: 'rate', key: 'fillingLevel', perMinute: 0.3, direction: 'either' });
    const steps = [
      at(0, { fillingLevel: 0.9 }),
      at(MIN, { fillingLevel: 0.1 }),
      at(2 * MIN, { fillingLevel: 0.5 }),
    ];
    expect(actives(runSteps(fall, steps))).toEqual([false, true, false]);
    expect(actives(runSteps(either, steps))).toEqual([false, true, true]);
  });

  it('ignores late readings', () => {
    const evs = runSteps(rise, [
      at(MIN, { temperature: 20 }),
      at(0, { temperature: 0 }),
      at(2 * MIN, { temperature: 25 }),
    ]);
    expect(actives(evs)).toEqual([false, false, false]);
  });
});

describe('reference', () => {
  const r = mkRule(
    {
      kind: 'reference',
      key: 'pm10',
      referenceDevice: 'bg-station',
      op: '>',
      value: { attribute: 'pm10DiffLimit', default: 50 },
      clear: 30,
    },
    { appliesTo: { profile: 'air-quality' } },
  );

  it('compares own value minus the reference latest value', () => {
    const ctx = mkCtx({ references: { 'bg-station/pm10': { ts: T, value: 40 } } });
    const evs = runSteps(
      r,
      [at(0, { pm10: 80 }), at(MIN, { pm10: 95 }), at(2 * MIN, { pm10: 80 }), at(3 * MIN, { pm10: 70 })],
      ctx,
    );
    expect(trace(evs)).toEqual([
      [false, null],
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
    expect(evs[1]!.observed).toEqual({ pm10: 95, pm10_reference: 40, pm10_difference: 55 });
    expect(evs[1]!.explanation).toBe(
      'pm10 95 µg/m³ minus pm10 40 µg/m³ at bg-station = 55 µg/m³ > 50 (default, attribute pm10DiffLimit not set)',
    );
  });

  it('uses referenceKey for the other device', () => {
    const r2 = mkRule({
      kind: 'reference',
      key: 'a',
      referenceDevice: 'd2',
      referenceKey: 'b',
      op: '>=',
      value: 5,
    });
    const ctx = mkCtx({ references: { 'd2/b': { ts: T, value: 10 } } });
    expect(actives(runSteps(r2, [at(0, { a: 15 })], ctx))).toEqual([true]);
  });

  it('keeps its previous state when the reference is missing or more than 2 h old', () => {
    let refs: Record<string, { ts: number; value: number }> = { 'bg-station/pm10': { ts: T, value: 40 } };
    const ctx = { ...mkCtx(), reference: (d: string, k: string) => refs[`${d}/${k}`] };
    let state: RuleState | undefined;
    const step = (ms: number, pm10: number) => {
      const e = evaluate(r, state, { ts: T + ms, values: { pm10 }, events: [] }, ctx);
      state = e.state;
      return e.active;
    };
    expect(step(0, 100)).toBe(true);
    refs = {};
    expect(step(MIN, 0)).toBe(true); // missing: unchanged
    refs = { 'bg-station/pm10': { ts: T, value: 40 } };
    expect(step(2 * HOUR + 1000, 0)).toBe(true); // stale: unchanged
    expect(step(2 * HOUR, 0)).toBe(true); // late reading: unchanged
    expect(step(2 * HOUR + 2000, 0)).toBe(true); // still stale
    refs = { 'bg-station/pm10': { ts: T + 2 * HOUR, value: 40 } };
    expect(step(2 * HOUR + 3000, 0)).toBe(false);
  });

  it('before any usable reference it is unknown and says why', () => {
    const evs = runSteps(r, [at(0, { pm10: 200 })]);
    expect(evs[0]!.active).toBe(false);
    expect(evs[0]!.explanation).toBe(
      'pm10: reference bg-station.pm10 missing or more than 2h from the reading',
    );
  });
});

describe('absence (hub time, via tick)', () => {
  const r = mkRule({ kind: 'absence', expectedEvery: '5m', intervals: 3 });

  it('opens after intervals × expectedEvery without a reading; any reading clears it', () => {
    const evs = runSteps(r, [
      { ts: T, values: { x: 1 } },
      { tick: T + 5 * MIN },
      { tick: T + 15 * MIN - 1 },
      { tick: T + 15 * MIN },
      { tick: T + 20 * MIN },
      { ts: T + 21 * MIN, values: {} },
      { tick: T + 22 * MIN },
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [false, null],
      [false, null],
      [true, 'open'],
      [true, null],
      [false, 'clear'],
      [false, null],
    ]);
    expect(evs[3]!.explanation).toBe(
      'no data for 3 intervals of 5m (last reading 2026-01-05T08:00:00+08:00)',
    );
    expect(evs[3]!.observed).toEqual({ silent_minutes: 15 });
    expect(evs[3]!.state.since).toBe(T + 15 * MIN);
  });

  it('counts from the arrival (receivedAt), not from the reading timestamp', () => {
    const evs = runSteps(r, [
      { ts: T - 2 * HOUR, receivedAt: T, values: { x: 1 } }, // buffered upload
      { tick: T + 10 * MIN },
      { tick: T + 15 * MIN },
    ]);
    expect(actives(evs)).toEqual([false, false, true]);
  });

  it('evaluate never opens it, whatever the event time', () => {
    const evs = runSteps(r, [
      { ts: T, values: { x: 1 } },
      { ts: T + 5 * HOUR, values: { x: 1 } },
    ]);
    expect(actives(evs)).toEqual([false, false]);
  });

  it('a device never heard of opens counted from the first tick', () => {
    const evs = runSteps(r, [{ tick: T }, { tick: T + 14 * MIN }, { tick: T + 15 * MIN }]);
    expect(actives(evs)).toEqual([false, false, true]);
    expect(evs[2]!.explanation).toMatch(
      /^no data for 3 intervals of 5m \(no reading since watching began 2026-01-05T08:00:00\+08:00\)/,
    );
  });
});

describe('event', () => {
  const r = mkRule(
    { kind: 'event', type: 'street_vending', minConfidence: 0.8, clearAfter: '30m' },
    { appliesTo: { profile: 'camera' } },
  );
  const ev = (ms: number, type: string, confidence: number, snapshot: string | null = null): Step => ({
    ts: T + ms,
    values: {},
    events: [{ type, confidence, snapshot }],
  });

  it('opens on a matching event with enough confidence', () => {
    const evs = runSteps(r, [
      ev(0, 'street_vending', 0.79),
      ev(MIN, 'exposed_garbage', 0.99),
      ev(2 * MIN, 'street_vending', 0.8, 'snap/1.jpg'),
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [false, null],
      [true, 'open'],
    ]);
    expect(evs[2]!.snapshots).toEqual(['snap/1.jpg']);
    expect(evs[2]!.observed).toEqual({ street_vending_confidence: 0.8 });
    expect(evs[2]!.explanation).toBe(
      'street vending detected with confidence 0.8 at 2026-01-05T08:02:00+08:00',
    );
  });

  it('clears when no matching event was seen for clearAfter (event time of later readings)', () => {
    const evs = runSteps(r, [
      ev(0, 'street_vending', 0.9),
      ev(20 * MIN, 'street_vending', 0.9), // renews
      { ts: T + 49 * MIN, values: { batteryLevel: 0.9 } },
      ev(49 * MIN + 30_000, 'street_vending', 0.5), // too unsure: does not renew
      { ts: T + 50 * MIN, values: { batteryLevel: 0.9 } },
    ]);
    expect(trace(evs)).toEqual([
      [true, 'open'],
      [true, null],
      [true, null],
      [true, null],
      [false, 'clear'],
    ]);
    expect(evs[4]!.explanation).toBe(
      'no street vending (confidence ≥ 0.8) since 2026-01-05T08:20:00+08:00 for 30m',
    );
  });

  it('clears by hub time in tick', () => {
    const evs = runSteps(r, [ev(0, 'street_vending', 0.9), { tick: T + 29 * MIN }, { tick: T + 30 * MIN }]);
    expect(trace(evs)).toEqual([
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
  });

  it('a late detection within clearAfter of the latest time still opens; an older one does not', () => {
    const late = runSteps(r, [
      { ts: T + 10 * MIN, values: { batteryLevel: 1 } },
      ev(MIN, 'street_vending', 0.9),
    ]);
    expect(actives(late)).toEqual([false, true]);
    const tooOld = runSteps(r, [
      { ts: T + 40 * MIN, values: { batteryLevel: 1 } },
      ev(MIN, 'street_vending', 0.9),
    ]);
    expect(actives(tooOld)).toEqual([false, false]);
  });

  it('uses the default clearAfter of 30m', () => {
    const d = mkRule(
      { kind: 'event', type: 'no_helmet', minConfidence: 0.5 },
      { appliesTo: { profile: 'camera' } },
    );
    const evs = runSteps(d, [ev(0, 'no_helmet', 0.6), { tick: T + 30 * MIN - 1 }, { tick: T + 30 * MIN }]);
    expect(actives(evs)).toEqual([true, true, false]);
  });
});

describe('schedule', () => {
  const night = mkRule({ kind: 'schedule', from: '22:00', to: '06:00' });
  const u = (h: number, m = 0): Step => ({ ts: Date.UTC(2026, 0, 5, h, m), values: {} });

  it('wraps past midnight in the city zone', () => {
    // Shanghai = UTC+8: 22:00 local = 14:00 UTC, 06:00 local = 22:00 UTC
    const evs = runSteps(night, [u(13, 59), u(14), u(18), u(21, 59), u(22), u(23)]);
    expect(actives(evs)).toEqual([false, true, true, true, false, false]);
    expect(evs[1]!.explanation).toBe('during 22:00–06:00');
    expect(evs[4]!.explanation).toBe('outside 22:00–06:00');
  });

  it('follows the zone of the context', () => {
    const evs = runSteps(night, [u(14), u(22, 30)], mkCtx({ timezone: 'UTC' }));
    expect(actives(evs)).toEqual([false, true]);
  });

  it('a night belongs to the day it starts on', () => {
    const mondayNight: Rule = mkRule({ kind: 'schedule', from: '22:00', to: '06:00', days: [1] });
    const local = (d: number, h: number) => Date.UTC(2026, 0, d, h) - 8 * HOUR; // Jan 5 = Monday
    const check = (d: number, h: number) =>
      inSchedule(mondayNight.condition as never, local(d, h), 'Asia/Shanghai');
    expect(check(5, 23)).toBe(true); // Monday 23:00
    expect(check(6, 2)).toBe(true); // Tuesday 02:00, Monday night
    expect(check(6, 23)).toBe(false); // Tuesday night
    expect(check(5, 2)).toBe(false); // Monday 02:00 is Sunday night
    expect(check(5, 12)).toBe(false);
  });

  it('a plain day window, with days', () => {
    const weekdays = mkRule({ kind: 'schedule', from: '06:00', to: '22:00', days: [1, 2, 3, 4, 5] });
    const local = (d: number, h: number, m = 0): Step => ({
      ts: Date.UTC(2026, 0, d, h, m) - 8 * HOUR,
      values: {},
    });
    // Mon 05:59, Mon 06:00, Mon 21:59, Mon 22:00, Sat 12:00, Sun 12:00
    const evs = runSteps(weekdays, [
      local(5, 5, 59),
      local(5, 6),
      local(5, 21, 59),
      local(5, 22),
      local(10, 12),
      local(11, 12),
    ]);
    expect(actives(evs)).toEqual([false, true, true, false, false, false]);
  });
});

describe('all / any / not', () => {
  const both = mkRule({
    kind: 'all',
    conditions: [
      { kind: 'threshold', key: 'pm10', op: '>', value: 80 },
      { kind: 'threshold', key: 'windSpeed', op: '<', value: 2 },
    ],
  });

  it('all composes keys arriving in different messages', () => {
    const evs = runSteps(both, [
      at(0, { pm10: 100 }),
      at(MIN, { windSpeed: 1 }),
      at(2 * MIN, { pm10: 90 }),
      at(3 * MIN, { windSpeed: 3 }),
    ]);
    expect(trace(evs)).toEqual([
      [false, null],
      [true, 'open'],
      [true, null],
      [false, 'clear'],
    ]);
    expect(evs[1]!.explanation).toBe('pm10 100 > 80 and windSpeed 1 < 2');
    expect(evs[1]!.observed).toEqual({ pm10: 100, windSpeed: 1 });
    expect(evs[3]!.explanation).toBe('windSpeed 3 ≥ 2');
  });

  it('any is active when one is', () => {
    const either = mkRule({
      kind: 'any',
      conditions: [
        { kind: 'threshold', key: 'a', op: '>', value: 1 },
        { kind: 'threshold', key: 'b', op: '>', value: 1 },
      ],
    });
    const evs = runSteps(either, [
      at(0, { a: 0 }),
      at(MIN, { b: 2 }),
      at(2 * MIN, { a: 2, b: 0 }),
      at(3 * MIN, { a: 0 }),
    ]);
    expect(actives(evs)).toEqual([false, true, true, false]);
    expect(evs[1]!.explanation).toBe('b 2 > 1');
    expect(evs[3]!.explanation).toBe('none of: a 0 ≤ 1; b 0 ≤ 1');
  });

  it('not negates, and stays unknown before its inner condition has been seen', () => {
    const n = mkRule({ kind: 'not', condition: { kind: 'threshold', key: 'a', op: '>', value: 10 } });
    const evs = runSteps(n, [at(0, { other: 1 }), at(MIN, { a: 5 }), at(2 * MIN, { a: 20 })]);
    expect(actives(evs)).toEqual([false, true, false]);
    expect(evs[1]!.explanation).toBe('not (a 5 ≤ 10)');
  });

  it('all with an unknown part is not active; a false part decides', () => {
    const evs = runSteps(both, [at(0, { pm10: 10 })]);
    expect(evs[0]!.active).toBe(false);
    expect(evs[0]!.explanation).toBe('pm10 10 ≤ 80');
  });
});

describe('tick', () => {
  it('changes nothing but absence and events', () => {
    const r = mkRule({ kind: 'threshold', key: 'x', op: '>', value: 1 });
    const evs = runSteps(r, [at(0, { x: 5 }), { tick: T + 10 * HOUR }]);
    expect(evs[1]!.active).toBe(true);
    expect(evs[1]!.state).toEqual(evs[0]!.state);
  });
});

describe('usesKeys / needsTick', () => {
  it('lists the keys a rule reads', () => {
    const r = mkRule({
      kind: 'any',
      conditions: [
        { kind: 'sustained', for: '1m', condition: { kind: 'threshold', key: 'a', op: '>', value: 1 } },
        { kind: 'window', key: 'b', agg: 'avg', window: '5m', op: '>', value: 1 },
        { kind: 'rate', key: 'c', perMinute: 1, direction: 'rise' },
        { kind: 'reference', key: 'd', referenceDevice: 'x', referenceKey: 'zz', op: '>', value: 1 },
        { kind: 'not', condition: { kind: 'schedule', from: '01:00', to: '02:00' } },
      ],
    });
    expect(usesKeys(r)).toEqual(new Set(['a', 'b', 'c', 'd']));
    expect(needsTick(r)).toBe(false);
    const cam = mkRule(
      { kind: 'event', type: 'intrusion', minConfidence: 0.5 },
      { appliesTo: { profile: 'camera' } },
    );
    expect(usesKeys(cam)).toEqual(new Set(['event']));
    expect(needsTick(cam)).toBe(true);
    expect(usesKeys(mkRule({ kind: 'absence', expectedEvery: '1m', intervals: 2 }))).toEqual(new Set(['*']));
  });
});

describe('restart safety and robustness', () => {
  const complex = mkRule({
    kind: 'any',
    conditions: [
      {
        kind: 'sustained',
        for: '10m',
        condition: {
          kind: 'all',
          conditions: [
            { kind: 'threshold', key: 'LAeq', op: '>', value: { attribute: 'noiseNightLimit', default: 55 } },
            { kind: 'schedule', from: '22:00', to: '06:00' },
          ],
        },
      },
      {
        kind: 'dailyCount',
        moreThan: 1,
        condition: { kind: 'window', key: 'LAeq', agg: 'avg', window: '5m', op: '>=', value: 75, clear: 70 },
      },
      { kind: 'rate', key: 'LAmax', perMinute: 30, direction: 'either' },
      { kind: 'absence', expectedEvery: '1m', intervals: 5 },
    ],
  } satisfies ConditionInput);

  function sequence(): Step[] {
    const steps: Step[] = [];
    const start = Date.UTC(2026, 0, 5, 13, 30); // 21:30 local
    let x = 1;
    for (let i = 0; i < 240; i++) {
      x = (x * 48271) % 2147483647; // deterministic pseudo-random
      const t = start + i * 30_000 + (i % 7 === 3 ? -45_000 : 0); // some late readings
      const values: Record<string, number> = {};
      if (i % 3 !== 1) values.LAeq = 40 + (x % 45);
      if (i % 4 === 0) values.LAmax = 50 + (x % 60);
      steps.push({ ts: t, values });
      if (i % 50 === 49) steps.push({ tick: start + i * 30_000 + 6 * MIN });
    }
    return steps;
  }

  it('gives the same results when the state goes through JSON between every step', () => {
    const steps = sequence();
    const plain = runSteps(complex, steps);
    const restarted = runSteps(complex, steps, mkCtx(), { roundTrip: true });
    expect(restarted).toEqual(plain);
    // explanation and observed are getters (written when read): compared on their own
    expect(restarted.map((e) => [e.explanation, e.observed])).toEqual(
      plain.map((e) => [e.explanation, e.observed]),
    );
    // the sequence does exercise the rule
    expect(plain.filter((e) => e.transition === 'open').length).toBeGreaterThan(1);
    expect(plain.filter((e) => e.transition === 'clear').length).toBeGreaterThan(1);
  });

  it('resuming from a mid-sequence state equals running through', () => {
    const steps = sequence();
    const all = runSteps(complex, steps);
    const mid = 120;
    const saved = JSON.parse(JSON.stringify(all[mid - 1]!.state)) as RuleState;
    const resumed = runSteps(complex, steps.slice(mid), mkCtx(), { state: saved });
    expect(resumed).toEqual(all.slice(mid));
    expect(resumed.map((e) => [e.explanation, e.observed])).toEqual(
      all.slice(mid).map((e) => [e.explanation, e.observed]),
    );
  });

  it('starts afresh from a malformed state instead of throwing', () => {
    const r = mkRule({ kind: 'threshold', key: 'x', op: '>', value: 1 });
    for (const bad of [null, 42, { active: 'yes' }, { active: true, since: 1, lastTs: 1, nodes: [] }])
      expect(evaluate(r, bad as never, { ts: T, values: { x: 5 }, events: [] }, mkCtx()).transition).toBe(
        'open',
      );
    // a node stored by another kind of condition (the rule was edited) is replaced
    const state = { ...initialState(), nodes: { '0': { k: 'window', v: true, s: 'junk' } } };
    expect(evaluate(r, state, { ts: T, values: { x: 0 }, events: [] }, mkCtx()).active).toBe(false);
  });

  it('ignores non-finite values and throws on structural impossibilities', () => {
    const r = mkRule({ kind: 'threshold', key: 'x', op: '>', value: 1 });
    expect(evaluate(r, undefined, { ts: T, values: { x: Number.NaN }, events: [] }, mkCtx()).active).toBe(
      false,
    );
    expect(() => evaluate(r, undefined, { ts: Number.NaN, values: {}, events: [] }, mkCtx())).toThrow(
      /input\.ts must be a finite epoch/,
    );
    const bogus = { ...r, condition: { kind: 'median', key: 'x' } } as unknown as Rule;
    expect(() => evaluate(bogus, undefined, { ts: T, values: { x: 1 }, events: [] }, mkCtx())).toThrow(
      /unknown condition kind 'median' at condition path 0/,
    );
    const sched = mkRule({ kind: 'schedule', from: '22:00', to: '06:00' });
    expect(() =>
      evaluate(sched, undefined, { ts: T, values: {}, events: [] }, mkCtx({ timezone: 'Mars/Olympus' })),
    ).toThrow(/invalid time zone 'Mars\/Olympus'/);
  });
});

describe('formatting helpers', () => {
  it('local day, local ISO and durations', () => {
    expect(localDay(Date.UTC(2026, 0, 5, 15, 59), 'Asia/Shanghai')).toBe('2026-01-05');
    expect(localDay(Date.UTC(2026, 0, 5, 16), 'Asia/Shanghai')).toBe('2026-01-06');
    expect(localIso(Date.UTC(2026, 0, 5, 16), 'Asia/Shanghai')).toBe('2026-01-06T00:00:00+08:00');
    expect(localIso(Date.UTC(2026, 6, 1, 12), 'America/New_York')).toBe('2026-07-01T08:00:00-04:00');
    expect(fmtDuration(90 * MIN)).toBe('1h 30m');
    expect(fmtDuration(45_000)).toBe('45s');
  });
});
