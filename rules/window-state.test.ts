// Saved rule states keep no window samples; the engine reads them back from telemetry. Checked
// here on the pure part: what is saved, what is listed to fill, and that a state saved and filled
// from the readings decides exactly as the state that never left memory.
import { describe, expect, it } from 'vitest';
import { MIN, MONDAY_UTC, mkCtx, mkRule, runSteps } from '../test/support/rules.ts';
import { evaluate, type RuleState, WINDOW_MAX_SAMPLES, WindowSamples } from './evaluate.ts';
import { builtInRules } from './templates.ts';
import {
  collectUnwritten,
  FILL_LIMIT,
  fillWindow,
  mergeNewest,
  samplesOf,
  toSaved,
  windowsToFill,
} from './window-state.ts';

const T = MONDAY_UTC;
const pm10Rule = builtInRules().find((r) => r.id === 'site-pm10-daily')!;
const window15 = mkRule({ kind: 'window', key: 'pm10', agg: 'avg', window: '15m', op: '>', value: 80 });

/** Saved as the engine saves it, read back as the database gives it, filled from `readings`. */
function restart(rule: typeof window15, state: RuleState, readings: [number, number][]): RuleState {
  const loaded = JSON.parse(JSON.stringify(toSaved(state))) as RuleState;
  for (const w of windowsToFill(rule, loaded))
    fillWindow(loaded, w, samplesOf(readings.filter(([t]) => t > w.after).slice(-WINDOW_MAX_SAMPLES), w.agg));
  return loaded;
}

describe('saved window state', () => {
  it('keeps the decision and the span held, not the samples; the state in memory is untouched', () => {
    const evs = runSteps(
      window15,
      [0, 1, 2, 3].map((i) => ({ ts: T + i * MIN, values: { pm10: 70 + i } })),
    );
    const state = evs.at(-1)!.state;
    const saved = toSaved(state);
    const node = saved.nodes['0'] as Record<string, unknown>;
    expect(node).not.toHaveProperty('s');
    expect(node).not.toHaveProperty('sum');
    expect(node.sw).toEqual({ n: 4, from: T, to: T + 3 * MIN });
    expect(node).toMatchObject({ k: 'window', v: false, ts: T + 3 * MIN, x: 71.5 });
    // The live state still holds its samples.
    expect((state.nodes['0'] as { s: WindowSamples }).s).toBeInstanceOf(WindowSamples);
    expect((state.nodes['0'] as { s: WindowSamples }).s.length).toBe(4);
    // The saved text is small whatever the window holds.
    const many = runSteps(
      window15,
      Array.from({ length: 900 }, (_, i) => ({ ts: T + i * 1000, values: { pm10: 50 } })),
    ).at(-1)!.state;
    expect(JSON.stringify(toSaved(many)).length).toBeLessThan(400);
    expect(JSON.stringify(many).length).toBeGreaterThan(900 * 10);
  });

  it('lists each window node to fill with its key, span and lower bound (nested windows too)', () => {
    const state = runSteps(pm10Rule, [{ ts: T + 20 * MIN, values: { pm10: 90 } }], mkCtx()).at(-1)!.state;
    const loaded = JSON.parse(JSON.stringify(toSaved(state))) as RuleState;
    const list = windowsToFill(pm10Rule, loaded);
    expect(list).toEqual([
      { path: '0.0', key: 'pm10', ms: 15 * MIN, agg: 'avg', after: T + 20 * MIN - 15 * MIN },
    ]);
    // A state with samples in memory, or one that never decided, needs nothing.
    expect(windowsToFill(pm10Rule, state)).toEqual([]);
    expect(windowsToFill(pm10Rule, { active: false, since: null, lastTs: null, nodes: {} })).toEqual([]);
  });

  it('a damaged saved span (NaN, 1e20, a string) is not read back: that window starts empty', () => {
    const state = runSteps(window15, [{ ts: T, values: { pm10: 100 } }]).at(-1)!.state;
    for (const to of [Number.NaN, 1e20, -1e20, 'soon'] as unknown[]) {
      const saved = JSON.parse(JSON.stringify(toSaved(state))) as RuleState;
      const node = saved.nodes['0'] as Record<string, unknown>;
      node.sw = { n: 1, from: T, to };
      node.ts = to;
      expect(windowsToFill(window15, saved)).toEqual([]);
    }
  });

  it('still reads states saved with their samples as pairs (before this change)', () => {
    const state = runSteps(window15, [{ ts: T, values: { pm10: 100 } }]).at(-1)!.state;
    const old = JSON.parse(JSON.stringify(state)) as RuleState;
    expect(Array.isArray((old.nodes['0'] as { s: unknown }).s)).toBe(true);
    expect(windowsToFill(window15, old)).toEqual([]);
  });

  for (const agg of ['avg', 'max', 'min'] as const) {
    it(`${agg}: saved mid-stream and filled from the readings, decides as the state that stayed in memory`, () => {
      const rule = mkRule({ kind: 'window', key: 'pm10', agg, window: '10m', op: '>', value: 60, clear: 50 });
      // Readings every 20 s, wandering across the limits; a late one every 7th.
      const readings: [number, number][] = [];
      let x = 40;
      for (let i = 0; i < 120; i++) {
        x = Math.max(0, x + (((i * 7919) % 23) - 11) * 1.5);
        readings.push([T + i * 20_000 - (i % 7 === 6 ? 50_000 : 0), x]);
      }
      const steps = readings.map(([ts, v]) => ({ ts, values: { pm10: v } }));
      const straight = runSteps(rule, steps, mkCtx());
      const cut = 70;
      const before = straight[cut - 1]!.state;
      // Telemetry holds what was ingested up to the cut (one value per time, the later kept).
      const stored = new Map<number, number>();
      for (const [t, v] of readings.slice(0, cut)) stored.set(t, v);
      const restored = restart(
        rule,
        before,
        [...stored].sort((a, b) => a[0] - b[0]),
      );
      let state = restored;
      for (let i = cut; i < steps.length; i++) {
        const ev = evaluate(rule, state, { ts: steps[i]!.ts, values: steps[i]!.values, events: [] }, mkCtx());
        expect([ev.active, ev.transition, ev.observed]).toEqual([
          straight[i]!.active,
          straight[i]!.transition,
          straight[i]!.observed,
        ]);
        const samples = (st: RuleState) => [...(st.nodes['0'] as { s: WindowSamples }).s];
        expect(samples(ev.state)).toEqual(samples(straight[i]!.state));
        state = ev.state;
      }
    });
  }

  it('a window with no readings left in telemetry starts empty and fills again', () => {
    const state = runSteps(window15, [{ ts: T, values: { pm10: 500 } }]).at(-1)!.state;
    expect(state.active).toBe(true);
    const restored = restart(window15, state, []);
    expect(restored.nodes['0']).not.toHaveProperty('s');
    expect(restored.nodes['0']).not.toHaveProperty('sw');
    // Still active (the decision was kept); the next reading decides on itself alone.
    expect(restored.active).toBe(true);
    const ev = evaluate(window15, restored, { ts: T + MIN, values: { pm10: 10 }, events: [] }, mkCtx());
    expect([ev.active, ev.transition, ev.observed]).toEqual([false, 'clear', { pm10_avg_15m: 10 }]);
  });
});

describe('readings read back from the store and the spool, merged', () => {
  it('a time in both counts once with the stored value; the result is oldest first', () => {
    expect(
      mergeNewest(
        [
          [3, 30],
          [1, 10],
        ],
        [
          [3, 99],
          [2, 20],
          [4, 40],
          [4, 41],
        ],
      ),
    ).toEqual([
      [1, 10],
      [2, 20],
      [3, 30],
      [4, 40],
    ]);
  });

  it('keeps at most FILL_LIMIT readings, the newest', () => {
    const stored = Array.from({ length: FILL_LIMIT }, (_, i): [number, number] => [i, i]);
    const merged = mergeNewest(stored, [[FILL_LIMIT + 5, 1]]);
    expect(merged).toHaveLength(FILL_LIMIT);
    expect(merged[0]).toEqual([1, 1]);
    expect(merged.at(-1)).toEqual([FILL_LIMIT + 5, 1]);
  });
});

describe('readings not stored yet, for the windows to fill', () => {
  it('keeps only the keys and devices of the windows to fill, in scan order', async () => {
    const w = (key: string) => ({ path: '0', key, ms: 15 * MIN, agg: 'avg' as const, after: 0 });
    const got = await collectUnwritten(
      [
        { deviceId: 'a', w: w('pm10') },
        { deviceId: 'b', w: w('noise') },
      ],
      async (visit) => {
        visit({
          ts: [1, 2, 3],
          deviceId: ['a', 'b', 'a'],
          key: ['pm10', 'pm10', 'noise'],
          value: [10, 20, 30],
        });
        visit({ ts: [4, 5], deviceId: ['a', 'b'], key: ['pm10', 'noise'], value: [40, 50] });
      },
    );
    expect([...got.entries()].map(([k, m]) => [k, [...m.entries()]])).toEqual([
      [
        'pm10',
        [
          [
            'a',
            [
              [1, 10],
              [4, 40],
            ],
          ],
        ],
      ],
      ['noise', [['b', [[5, 50]]]]],
    ]);
  });

  it('keeps only readings after the oldest window start, and at most the newest FILL_LIMIT', async () => {
    const w = { path: '0', key: 'pm10', ms: 15 * MIN, agg: 'avg' as const, after: 100 };
    const n = 3 * FILL_LIMIT;
    const got = await collectUnwritten(
      [
        { deviceId: 'a', w },
        { deviceId: 'a', w: { ...w, after: 50 } },
      ],
      async (visit) => {
        visit({
          ts: [10, 50, 51],
          deviceId: ['a', 'a', 'a'],
          key: ['pm10', 'pm10', 'pm10'],
          value: [1, 2, 3],
        });
        for (let i = 0; i < n; i++) visit({ ts: [1000 + i], deviceId: ['a'], key: ['pm10'], value: [i] });
      },
    );
    const pairs = mergeNewest([], got.get('pm10')!.get('a')!);
    expect(pairs).toHaveLength(FILL_LIMIT);
    expect(pairs[0]).toEqual([1000 + n - FILL_LIMIT, n - FILL_LIMIT]);
    expect(pairs.at(-1)).toEqual([1000 + n - 1, n - 1]);
    expect(got.get('pm10')!.get('a')!.length).toBeLessThan(2 * FILL_LIMIT);
    // Before the cap took the old ones out: 51 was after the oldest start (50), 10 and 50 were not.
    const few = await collectUnwritten([{ deviceId: 'a', w: { ...w, after: 50 } }], async (visit) =>
      visit({ ts: [10, 50, 51], deviceId: ['a', 'a', 'a'], key: ['pm10', 'pm10', 'pm10'], value: [1, 2, 3] }),
    );
    expect(few.get('pm10')!.get('a')).toEqual([[51, 3]]);
  });
});
