// `evaluate(…, own)`: the runtime hands its state over and the evaluator updates it in place (issue
// 13: a message allocates no new rule state, so states stop surviving young-generation collections).
// Checked against the pure evaluation step by step, over every built-in rule and the composite kinds.
import { describe, expect, it } from 'vitest';
import { MIN, MONDAY_UTC, mkCtx, mkRule } from '../test/support/rules.ts';
import { type Evaluation, evaluate, type RuleState, tick } from './evaluate.ts';
import { usesKeys } from './index.ts';
import { builtInRules } from './templates.ts';

const T = MONDAY_UTC;
const EVENT_TYPES = [
  'street_vending',
  'exposed_garbage',
  'no_helmet',
  'smoke_fire',
  'uncovered_muck_truck',
  'intrusion',
];

function lcg(seed: number) {
  let x = seed;
  return () => {
    x = (x * 48271) % 2147483647;
    return x / 2147483647;
  };
}

/** What an evaluation says, read right after it (as the runtime's hooks do). */
const said = (ev: Evaluation) => ({
  state: JSON.stringify(ev.state),
  transition: ev.transition,
  active: ev.active,
  explanation: ev.explanation,
  observed: ev.observed,
  snapshots: ev.snapshots,
});

const extraRules = [
  mkRule(
    {
      kind: 'sustained',
      for: '2m',
      condition: {
        kind: 'all',
        conditions: [
          { kind: 'threshold', key: 'x', op: '>', value: 50, clear: 40 },
          { kind: 'not', condition: { kind: 'threshold', key: 'y', op: '<', value: 20 } },
        ],
      },
    },
    { id: 'sustained-all-not' },
  ),
  mkRule(
    {
      kind: 'any',
      conditions: [
        { kind: 'rate', key: 'x', perMinute: 30, direction: 'rise' },
        { kind: 'reference', key: 'x', referenceDevice: 'station', op: '>', value: 10 },
        { kind: 'threshold', key: 'y', op: '>=', value: { attribute: 'yLimit', default: 70 } },
      ],
    },
    { id: 'any-rate-reference' },
  ),
  mkRule(
    {
      kind: 'dailyCount',
      moreThan: 1,
      condition: { kind: 'window', key: 'x', agg: 'max', window: '3m', op: '>', value: 80, clear: 60 },
    },
    { id: 'daily-window-max' },
  ),
  mkRule({ kind: 'absence', expectedEvery: '1m', intervals: 2 }, { id: 'absence' }),
];

describe('evaluate with an owned state', () => {
  const rules = [...builtInRules(), ...extraRules];
  for (const rule of rules) {
    it(`${rule.id}: says and stores what the pure evaluation does, step by step`, () => {
      const keys = [...usesKeys(rule)].filter((k) => k !== '*' && k !== 'event');
      if (keys.length === 0) keys.push('x');
      const next = lcg(rule.id.length * 131 + 7);
      const ctx = mkCtx({
        attributes: { yLimit: 60 },
        references: { 'station/x': { ts: T, value: 30 } },
      });
      let pure: RuleState | undefined;
      let own: RuleState | undefined;
      // 18:00 in Shanghai, for about 13 hours: day and night schedules both apply.
      let t = T + 10 * 3_600_000;
      let transitions = 0;
      for (let i = 0; i < 800; i++) {
        const r = next();
        let a: Evaluation;
        let b: Evaluation;
        if (r < 0.05) {
          // The hub clock: ticks stay pure; the runtime stores the state they return.
          const now = t + Math.floor(next() * 20 * MIN);
          a = tick(rule, pure, now, ctx);
          b = tick(rule, own, now, ctx);
        } else {
          t += Math.floor(next() * 120_000);
          // Late readings, and readings at a time already stored.
          const ts = r < 0.12 ? t - Math.floor(next() * 5 * MIN) : r < 0.15 ? t - 0 : t;
          const values: Record<string, number> = {};
          // Long high and low phases, so windows, sustained and daily counts open and clear.
          const level = 60 + 60 * Math.sin(i / 15);
          for (const k of keys) if (next() < 0.8) values[k] = Math.floor(level + (next() - 0.5) * 30);
          const events =
            next() < 0.3
              ? [
                  {
                    type: EVENT_TYPES[Math.floor(next() * EVENT_TYPES.length)]!,
                    confidence: 0.5 + next() / 2,
                    snapshot: `s-${i}`,
                  },
                ]
              : [];
          const input = { ts, values, events, receivedAt: t };
          a = evaluate(rule, pure, input, ctx);
          b = evaluate(rule, own, input, ctx, true);
          if (own !== undefined && b.state !== own)
            // Only a missing state, or one a tick replaced with another shape, is made anew.
            expect(JSON.stringify(own)).not.toBe(JSON.stringify(b.state));
        }
        expect(said(b), `step ${i}`).toEqual(said(a));
        if (a.transition) transitions++;
        pure = a.state;
        own = b.state;
        if (r > 0.99) {
          // A restart in between: both read the state back from JSON.
          pure = JSON.parse(JSON.stringify(pure)) as RuleState;
          own = JSON.parse(JSON.stringify(own)) as RuleState;
        }
      }
      // The sequence is not trivial: the rule opened (and mostly cleared) along the way.
      expect(transitions).toBeGreaterThan(0);
    });
  }

  it('updates the state, its window, daily count and absence nodes in place: no new state per message', () => {
    const rules = builtInRules().filter((r) => r.appliesTo.profile === 'air-quality');
    expect(rules.map((r) => r.id).sort()).toEqual([
      'offline-air-quality',
      'site-pm10-15min',
      'site-pm10-daily',
    ]);
    const ctx = mkCtx();
    for (const rule of rules) {
      let state = evaluate(rule, undefined, { ts: T, values: { pm10: 50 }, events: [] }, ctx, true).state;
      state = evaluate(rule, state, { ts: T + 1000, values: { pm10: 60 }, events: [] }, ctx, true).state;
      const nodes = { ...state.nodes };
      for (let i = 2; i < 50; i++) {
        const ev = evaluate(
          rule,
          state,
          { ts: T + i * 1000, values: { pm10: 40 + i * 3 }, events: [] },
          ctx,
          true,
        );
        expect(ev.state).toBe(state);
        for (const path in nodes) expect(ev.state.nodes[path], `${rule.id} node ${path}`).toBe(nodes[path]);
      }
      expect(state.lastTs).toBe(T + 49_000);
    }
  });

  it('leaves the state alone without `own`, and takes a malformed state as a fresh one either way', () => {
    const rule = builtInRules().find((r) => r.id === 'site-pm10-15min')!;
    const ctx = mkCtx();
    const state = evaluate(rule, undefined, { ts: T, values: { pm10: 50 }, events: [] }, ctx).state;
    const before = JSON.stringify(state);
    const ev = evaluate(rule, state, { ts: T + 1000, values: { pm10: 500 }, events: [] }, ctx);
    expect(ev.state).not.toBe(state);
    expect(JSON.stringify(state)).toBe(before);
    const broken = { active: 'yes', nodes: [] } as unknown as RuleState;
    const fresh = evaluate(rule, broken, { ts: T, values: { pm10: 10 }, events: [] }, ctx, true);
    expect(fresh.state).not.toBe(broken);
    expect(broken).toEqual({ active: 'yes', nodes: [] });
    expect(fresh.active).toBe(false);
  });
});
