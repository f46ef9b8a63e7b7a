// The cheap-evaluation machinery of evaluate.ts: incremental windows (shared append-only storage,
// running sums, max/min deques), windows shared between rules on one message, sentences and
// observations written when read, cached local days. Checked against brute force and JSON restarts.
import { describe, expect, it } from 'vitest';
import { zoneOffsetMs } from '../kernel/index.ts';
import { MIN, MONDAY_UTC, mkCtx, mkRule, runSteps, type Step } from '../test/support/rules.ts';
import {
  type Evaluation,
  evaluate,
  localDay,
  type RuleInput,
  type RuleState,
  WINDOW_MAX_SAMPLES,
  type WindowSamples,
} from './evaluate.ts';
import { builtInRules } from './templates.ts';

const T = MONDAY_UTC;

/** Deterministic pseudo-random numbers. */
function lcg(seed: number) {
  let x = seed;
  return () => {
    x = (x * 48271) % 2147483647;
    return x;
  };
}

/**
 * The documented window semantics by brute force: samples in time order (a reading at a stored
 * time replaces it), the window is (newest − span, newest] and at most WINDOW_MAX_SAMPLES; a late
 * reading (older than the latest decided one) is filed without re-deciding.
 */
function bruteForce(steps: { ts: number; x: number }[], span: number, agg: 'avg' | 'max' | 'min') {
  let samples: [number, number][] = [];
  let decidedAt: number | null = null;
  let last: number | undefined;
  return steps.map(({ ts, x }) => {
    const i = samples.findIndex(([t]) => t >= ts);
    if (i >= 0 && samples[i]![0] === ts) samples[i] = [ts, x];
    else if (i < 0) samples.push([ts, x]);
    else samples.splice(i, 0, [ts, x]);
    const newest = samples[samples.length - 1]![0];
    samples = samples.filter(([t]) => t > newest - span).slice(-WINDOW_MAX_SAMPLES);
    if (decidedAt !== null && ts < decidedAt) return { value: last, length: samples.length };
    decidedAt = ts;
    const vs = samples.map(([, v]) => v);
    last =
      agg === 'avg'
        ? vs.reduce((a, b) => a + b, 0) / vs.length
        : agg === 'max'
          ? Math.max(...vs)
          : Math.min(...vs);
    return { value: last, length: samples.length };
  });
}

describe('incremental windows', () => {
  for (const agg of ['avg', 'max', 'min'] as const) {
    for (const roundTrip of [false, true]) {
      it(`${agg} equals brute force over in-order, late, re-sent and gapped readings${roundTrip ? ' (JSON between steps)' : ''}`, () => {
        const r = mkRule({ kind: 'window', key: 'x', agg, window: '5m', op: '>', value: 50 });
        const next = lcg(agg.length * 7 + (roundTrip ? 1 : 0) + 11);
        const raw: { ts: number; x: number }[] = [];
        let t = T;
        for (let i = 0; i < 1500; i++) {
          const k = next();
          t += 5_000 + (k % 40_000);
          if (k % 97 === 0) t += 7 * MIN; // a gap longer than the window
          let ts = t;
          if (k % 13 === 0) ts = t - (k % 200_000); // late
          if (k % 29 === 0 && raw.length) ts = raw[raw.length - 1]!.ts; // re-send at a stored time
          raw.push({ ts, x: (k % 1000) - 400 });
        }
        const expected = bruteForce(raw, 5 * MIN, agg);
        const steps: Step[] = raw.map(({ ts, x }) => ({ ts, values: { x } }));
        const evs = runSteps(r, steps, mkCtx(), { roundTrip });
        evs.forEach((ev, i) => {
          const want = expected[i]!;
          const node = ev.state.nodes['0'] as { s: { length: number } };
          expect(node.s.length, `samples at step ${i}`).toBe(want.length);
          const got = ev.state.nodes['0'] as { x?: number };
          // integer readings: the running sum is exact, so is every aggregate
          expect(got.x, `aggregate at step ${i}`).toBe(want.value);
          expect(ev.active).toBe((want.value as number) > 50);
        });
      });
    }
  }

  it('a running average of decimals stays within rounding of the exact mean over a long run', () => {
    const r = mkRule({ kind: 'window', key: 'x', agg: 'avg', window: '1m', op: '>', value: 1e9 });
    const next = lcg(5);
    let state: RuleState | undefined;
    const kept: number[] = [];
    let ev: Evaluation | undefined;
    for (let i = 0; i < 50_000; i++) {
      const x = (next() % 100_000) / 1000 + 0.1;
      kept.push(x);
      if (kept.length > 60) kept.shift();
      ev = evaluate(r, state, { ts: T + i * 1000, values: { x }, events: [] }, mkCtx());
      state = ev.state;
    }
    const exact = kept.reduce((a, b) => a + b, 0) / kept.length;
    expect(Math.abs((ev!.state.nodes['0'] as { x: number }).x - exact)).toBeLessThan(1e-9);
  });

  it('keeps a bounded store however long it runs (the JSON holds the window only)', () => {
    const r = mkRule({ kind: 'window', key: 'x', agg: 'max', window: '10s', op: '>', value: 5 });
    let state: RuleState | undefined;
    for (let i = 0; i < 20_000; i++)
      state = evaluate(r, state, { ts: T + i * 1000, values: { x: i % 7 }, events: [] }, mkCtx()).state;
    const json = JSON.parse(JSON.stringify(state)) as RuleState;
    expect((json.nodes['0'] as { s: unknown[] }).s).toHaveLength(10);
  });

  it('never changes the state it was given, even when two evaluations branch from it', () => {
    const r = mkRule({ kind: 'window', key: 'x', agg: 'max', window: '15m', op: '>=', value: 100 });
    let state: RuleState | undefined;
    for (let i = 0; i < 30; i++)
      state = evaluate(r, state, { ts: T + i * MIN, values: { x: 200 - i }, events: [] }, mkCtx()).state;
    const before = JSON.stringify(state);
    const a = evaluate(r, state, { ts: T + 30 * MIN, values: { x: 500 }, events: [] }, mkCtx());
    const b = evaluate(r, state, { ts: T + 30 * MIN, values: { x: 1 }, events: [] }, mkCtx());
    const c = evaluate(r, a.state, { ts: T + 31 * MIN, values: { x: 2 }, events: [] }, mkCtx());
    const d = evaluate(r, b.state, { ts: T + 31 * MIN, values: { x: 3 }, events: [] }, mkCtx());
    expect(JSON.stringify(state)).toBe(before);
    expect(a.observed).toEqual({ x_max_15m: 500 });
    // (t − 15m, t]: 184 … 171 are the 14 readings left from before, plus the new one
    expect(b.observed).toEqual({ x_max_15m: 184 });
    expect(c.observed).toEqual({ x_max_15m: 500 });
    expect(d.observed).toEqual({ x_max_15m: 183 });
    expect([...(b.state.nodes['0'] as { s: WindowSamples }).s].at(-1)).toEqual([T + 30 * MIN, 1]);
    expect([...(a.state.nodes['0'] as { s: WindowSamples }).s].at(-1)).toEqual([T + 30 * MIN, 500]);
  });

  it('reads states persisted before running sums (pairs only, sentences as text)', () => {
    const r = mkRule(
      { kind: 'window', key: 'pm10', agg: 'avg', window: '15m', op: '>', value: 80 },
      { appliesTo: { profile: 'air-quality' } },
    );
    const legacy = {
      active: true,
      since: T,
      lastTs: T + MIN,
      nodes: {
        '0': {
          k: 'window',
          v: true,
          ts: T + MIN,
          text: 'pm10 15-minute average 100 µg/m³ > 80',
          obs: { pm10_avg_15m: 100 },
          s: [
            [T, 90],
            [T + MIN, 110],
          ],
        },
      },
    };
    // a message without the key keeps the stored sentence and observations
    const kept = evaluate(r, legacy, { ts: T + 2 * MIN, values: {}, events: [] }, mkCtx());
    expect(kept.explanation).toBe('pm10 15-minute average 100 µg/m³ > 80');
    expect(kept.observed).toEqual({ pm10_avg_15m: 100 });
    const next = evaluate(r, legacy, { ts: T + 2 * MIN, values: { pm10: 10 }, events: [] }, mkCtx());
    expect(next.observed).toEqual({ pm10_avg_15m: 70 });
    expect(next.transition).toBe('clear');
    expect(next.explanation).toBe('pm10 15-minute average 70 µg/m³ ≤ 80');
  });
});

describe('windows shared between rules on one message', () => {
  const rules = builtInRules();
  const site = rules.find((r) => r.id === 'site-pm10-15min')!;
  const daily = rules.find((r) => r.id === 'site-pm10-daily')!;
  const samplesOf = (s: RuleState, path: string) => (s.nodes[path] as { s: WindowSamples }).s;

  it('site-pm10-15min and site-pm10-daily hold one window, and decide as each alone would', () => {
    const ctx = mkCtx();
    const next = lcg(3);
    let a: RuleState | undefined;
    let b: RuleState | undefined;
    let soloA: RuleState | undefined;
    let soloB: RuleState | undefined;
    const opens = { a: 0, b: 0 };
    for (let i = 0; i < 3000; i++) {
      const pm10 = 40 + (next() % 90);
      const input: RuleInput = { ts: T + i * 10_000, values: { pm10 }, events: [] };
      const ea = evaluate(site, a, input, ctx);
      const eb = evaluate(daily, b, input, ctx);
      // the same inputs, one object per rule: nothing shared
      const sa = evaluate(site, soloA, { ...input }, ctx);
      const sb = evaluate(daily, soloB, { ...input }, ctx);
      expect([ea.active, ea.transition, ea.observed]).toEqual([sa.active, sa.transition, sa.observed]);
      expect([eb.active, eb.transition, eb.observed]).toEqual([sb.active, sb.transition, sb.observed]);
      expect(samplesOf(ea.state, '0')).toBe(samplesOf(eb.state, '0.0'));
      expect(samplesOf(sa.state, '0')).not.toBe(samplesOf(sb.state, '0.0'));
      if (ea.transition === 'open') opens.a++;
      if (eb.transition === 'open') opens.b++;
      [a, b, soloA, soloB] = [ea.state, eb.state, sa.state, sb.state];
    }
    expect(opens.a).toBeGreaterThan(3); // the sequence exercises the rules
    expect(opens.b).toBeGreaterThan(0);
  });

  it('after a restart (each state read back from JSON) the two windows become one again', () => {
    const ctx = mkCtx();
    let a: RuleState | undefined;
    let b: RuleState | undefined;
    for (let i = 0; i < 50; i++) {
      const input: RuleInput = { ts: T + i * MIN, values: { pm10: 50 + i }, events: [] };
      a = evaluate(site, a, input, ctx).state;
      b = evaluate(daily, b, input, ctx).state;
    }
    a = JSON.parse(JSON.stringify(a)) as RuleState;
    b = JSON.parse(JSON.stringify(b)) as RuleState;
    const input: RuleInput = { ts: T + 50 * MIN, values: { pm10: 100 }, events: [] };
    const ea = evaluate(site, a, input, ctx);
    const eb = evaluate(daily, b, input, ctx);
    expect(samplesOf(ea.state, '0')).toBe(samplesOf(eb.state, '0.0'));
    expect(samplesOf(ea.state, '0')).toHaveLength(15);
  });

  it('windows that differ stay apart', () => {
    const ctx = mkCtx();
    let a: RuleState | undefined;
    let b: RuleState | undefined;
    for (let i = 0; i < 20; i++) {
      const input: RuleInput = { ts: T + i * MIN, values: { pm10: 50 + i }, events: [] };
      a = evaluate(site, a, input, ctx).state;
      if (i >= 5) b = evaluate(daily, b, input, ctx).state; // the daily rule started later
    }
    const input: RuleInput = { ts: T + 20 * MIN, values: { pm10: 200 }, events: [] };
    const ea = evaluate(site, a, input, ctx);
    const eb = evaluate(daily, b, input, ctx);
    expect(samplesOf(ea.state, '0')).toHaveLength(15);
    expect(samplesOf(eb.state, '0.0')).toHaveLength(15);
    const avg = Math.round(((200 + (56 + 69) * 7) / 15) * 10_000) / 10_000;
    expect(ea.observed).toEqual({ pm10_avg_15m: avg });
    expect(eb.observed).toEqual({ pm10_avg_15m: avg, opened_today: 0 });
  });
});

describe('sentences and observations written when read', () => {
  it('an evaluation read later says what it said then', () => {
    const r = mkRule({ kind: 'threshold', key: 'x', op: '>=', value: 5, clear: 2 });
    const evs = runSteps(r, [
      { ts: T, values: { x: 6 } },
      { ts: T + MIN, values: { x: 3 } },
      { ts: T + 2 * MIN, values: {} },
      { ts: T + 3 * MIN, values: { x: 1 } },
    ]);
    expect(evs.map((e) => e.explanation)).toEqual([
      'x 6 ≥ 5',
      'x 3 not yet back to the clear level (opened at ≥ 5, clears at ≤ 2)',
      'x 3 not yet back to the clear level (opened at ≥ 5, clears at ≤ 2)',
      'x 1 ≤ 2 (back to the clear level)',
    ]);
    expect(evs.map((e) => e.observed)).toEqual([{ x: 6 }, { x: 3 }, { x: 3 }, { x: 1 }]);
  });

  it('a kept decision keeps its own sentence when the node moves on without deciding', () => {
    const rise = mkRule({ kind: 'rate', key: 'temperature', perMinute: 10, direction: 'rise' });
    const evs = runSteps(rise, [
      { ts: T, values: { temperature: 25 } },
      { ts: T + MIN, values: { temperature: 40 } },
      { ts: T + 40 * MIN, values: { temperature: 100 } }, // too far apart: no rate, the truth stays
    ]);
    expect(evs[1]!.transition).toBe('open');
    const said = 'temperature rising 15/min (25 → 40 in 1m), a rise of at least 10/min';
    expect(evs[1]!.explanation).toBe(said);
    expect(evs[2]!.explanation).toBe(said);
    expect(evs[2]!.observed).toEqual({ temperature_rate_per_min: 15 });
  });

  it('JSON.stringify of an evaluation carries them', () => {
    const r = mkRule({ kind: 'threshold', key: 'x', op: '>', value: 1 });
    const ev = evaluate(r, undefined, { ts: T, values: { x: 2 }, events: [] }, mkCtx());
    const json = JSON.parse(JSON.stringify(ev));
    expect(json).toMatchObject({ transition: 'open', explanation: 'x 2 > 1', observed: { x: 2 } });
  });
});

describe('local days', () => {
  it('cached per zone and quarter hour, equal to a fresh computation across DST and zone switches', () => {
    const zones = ['America/New_York', 'Asia/Shanghai', 'Asia/Kathmandu', 'Europe/London'];
    const start = Date.UTC(2026, 2, 7, 0, 3); // the weekend of the US spring-forward
    for (let ts = start; ts < start + 3 * 86_400_000; ts += 7 * 60_000 + 13_000) {
      for (const zone of zones) {
        const want = new Date(ts + zoneOffsetMs(zone, ts)).toISOString().slice(0, 10);
        expect(localDay(ts, zone)).toBe(want);
        expect(localDay(ts + 1, zone)).toBe(
          new Date(ts + 1 + zoneOffsetMs(zone, ts + 1)).toISOString().slice(0, 10),
        );
      }
    }
  });
});
