// The engine's synchronous core without the engine: rules by profile, the key skip, state in the
// store, reference values, the tick pass, failures handed back, changes taken for saving.
import { describe, expect, it } from 'vitest';
import type { Rule } from '../domain/index.ts';
import type { Reading } from '../ingest/index.ts';
import { MIN, MONDAY_UTC, mkRule } from '../test/support/rules.ts';
import { evaluate as evaluateReal, needsTick, tick as tickReal, usesKeys } from './evaluate.ts';
import { type ActiveRule, createRuleRuntime, type RuleDevice, toInputs } from './runtime.ts';
import { createMemoryRuleStateStore } from './state-store.ts';

const T = MONDAY_UTC;
const dev = (id: string, extra: Partial<RuleDevice> = {}): RuleDevice => ({
  id,
  profile: 'generic',
  gridCode: '330102001001001',
  serverAttributes: {},
  sharedAttributes: {},
  ...extra,
});
const num = (key: string, ts: number, value: number): Reading => ({ kind: 'number', key, ts, value });
const active = (rule: Rule): ActiveRule => ({
  rule,
  keys: usesKeys(rule),
  ticks: needsTick(rule),
  disabledReason: null,
});

function setup(rules: Rule[], evaluator?: Parameters<typeof createRuleRuntime>[0]['evaluator']) {
  const seen: { rule: string; device: string; transition: string | null; ts: number; mark: number | null }[] =
    [];
  const ticked: { rule: string; device: string; transition: string | null }[] = [];
  const failed: { rule: string; err: string }[] = [];
  const store = createMemoryRuleStateStore();
  const runtime = createRuleRuntime<RuleDevice, ActiveRule>({
    timezone: 'Asia/Shanghai',
    store,
    evaluator,
    hooks: {
      evaluated: (l, d, ev, ts, mark) =>
        seen.push({ rule: l.rule.id, device: d.id, transition: ev.transition, ts, mark }),
      ticked: (l, d, ev) => ticked.push({ rule: l.rule.id, device: d.id, transition: ev.transition }),
      failed: (l, err) => failed.push({ rule: l.rule.id, err: (err as Error).message }),
    },
  });
  const list = rules.map(active);
  runtime.setRules(list);
  return { runtime, store, seen, ticked, failed, list };
}

describe('toInputs', () => {
  it('groups a message by timestamp, oldest first, numbers and detections', () => {
    const inputs = toInputs(
      [
        num('x', T + 1000, 2),
        num('y', T, 1),
        { kind: 'json', key: 'j', ts: T, value: { a: 1 } },
        { kind: 'event', key: 'event', ts: T, type: 'intrusion', confidence: 0.9, snapshot: null, data: {} },
      ],
      T + 5000,
    );
    expect(inputs).toEqual([
      {
        ts: T,
        values: { y: 1 },
        events: [{ type: 'intrusion', confidence: 0.9, snapshot: null }],
        receivedAt: T + 5000,
      },
      { ts: T + 1000, values: { x: 2 }, events: [], receivedAt: T + 5000 },
    ]);
  });
});

describe('rule runtime', () => {
  const hot = mkRule({ kind: 'threshold', key: 'x', op: '>', value: 10 }, { id: 'hot' });
  const quiet = mkRule({ kind: 'absence', expectedEvery: '1m', intervals: 2 }, { id: 'quiet' });

  it('evaluates the rules of the device profile that read the message keys, state in the store', () => {
    const onlyD2 = mkRule(
      { kind: 'threshold', key: 'x', op: '>', value: 0 },
      { id: 'only-d2', appliesTo: { profile: 'generic', deviceIds: ['d2'] } },
    );
    const other = mkRule({ kind: 'threshold', key: 'y', op: '>', value: 0 }, { id: 'reads-y' });
    const air = mkRule(
      { kind: 'threshold', key: 'pm10', op: '>', value: 0 },
      { id: 'air', appliesTo: { profile: 'air-quality' } },
    );
    const { runtime, store, seen } = setup([hot, onlyD2, other, air]);
    runtime.onReadings(dev('d1'), [num('x', T, 11)], T + 100, 7);
    expect(seen).toEqual([{ rule: 'hot', device: 'd1', transition: 'open', ts: T, mark: 7 }]);
    expect(store.get('hot', 'd1')?.active).toBe(true);
    expect(store.get('only-d2', 'd1')).toBeUndefined();
    expect(store.get('reads-y', 'd1')).toBeUndefined(); // skipped: no key of it in the message
    runtime.onReadings(dev('d1'), [num('x', T + MIN, 5)], T + MIN);
    expect(seen[1]).toMatchObject({ rule: 'hot', transition: 'clear', mark: null });
    expect(store.get('hot', 'd1')?.active).toBe(false);
  });

  it('a rule that throws is handed back and its state for the message dropped; the others go on', () => {
    const boom = mkRule({ kind: 'threshold', key: 'x', op: '>', value: 0 }, { id: 'boom' });
    const { runtime, store, seen, failed } = setup([boom, hot], {
      evaluate: (rule, state, input, ctx) => {
        if (rule.id === 'boom') throw new Error('kaboom');
        return evaluateReal(rule, state, input, ctx);
      },
      tick: tickReal,
    });
    runtime.onReadings(dev('d1'), [num('x', T, 11)], T);
    expect(failed).toEqual([{ rule: 'boom', err: 'kaboom' }]);
    expect(store.get('boom', 'd1')).toBeUndefined();
    expect(seen.map((s) => s.rule)).toEqual(['hot']);
  });

  it('a rule that throws after updating its state in place loses that state, not a half-updated one', () => {
    let fail = false;
    const { runtime, store, failed } = setup([hot], {
      evaluate: (rule, state, input, ctx, own) => {
        const ev = evaluateReal(rule, state, input, ctx, own);
        if (fail) throw new Error('after the update');
        return ev;
      },
      tick: tickReal,
    });
    runtime.onReadings(dev('d1'), [num('x', T, 11)], T);
    const state = store.get('hot', 'd1');
    expect(state?.active).toBe(true);
    runtime.onReadings(dev('d1'), [num('x', T + 1000, 1)], T + 1000);
    // Owned by the runtime: the same object, updated in place.
    expect(store.get('hot', 'd1')).toBe(state);
    expect(state?.lastTs).toBe(T + 1000);
    fail = true;
    runtime.onReadings(dev('d1'), [num('x', T + 2000, 12)], T + 2000);
    expect(failed).toEqual([{ rule: 'hot', err: 'after the update' }]);
    expect(store.get('hot', 'd1')).toBeUndefined();
  });

  it('a disabled or switched-off rule is skipped', () => {
    const off = mkRule({ kind: 'threshold', key: 'x', op: '>', value: 0 }, { id: 'off', enabled: false });
    const { runtime, seen, list } = setup([hot, off]);
    list[0]!.disabledReason = 'runtime error: test';
    runtime.setRules(list);
    runtime.onReadings(dev('d1'), [num('x', T, 11)], T);
    expect(seen).toEqual([]);
  });

  it('reference values come from the referenced device, the latest by event time', () => {
    const ref = mkRule(
      { kind: 'reference', key: 'pm10', referenceDevice: 'station', op: '>', value: 50 },
      { id: 'above-background' },
    );
    const { runtime, seen } = setup([ref]);
    runtime.onReadings(dev('station'), [num('pm10', T, 40)], T);
    runtime.onReadings(dev('station'), [num('pm10', T - MIN, 5)], T); // older: not the latest
    runtime.onReadings(dev('site'), [num('pm10', T, 95)], T);
    expect(seen.filter((s) => s.device === 'site')).toMatchObject([{ transition: 'open' }]);
    runtime.onReadings(dev('site'), [num('pm10', T + MIN, 85)], T + MIN);
    expect(seen.filter((s) => s.device === 'site')[1]).toMatchObject({ transition: 'clear' });
  });

  it('the tick pass runs ticking rules over the devices that have state, once per profile list', () => {
    const { runtime, ticked } = setup([hot, quiet]);
    runtime.onReadings(dev('d1'), [num('x', T, 1)], T);
    let lists = 0;
    const devicesOf = (profile: string) => {
      lists++;
      return profile === 'generic' ? [dev('d1'), dev('d2')] : [];
    };
    expect(runtime.tick(T + MIN, devicesOf)).toEqual([]);
    expect(ticked).toEqual([{ rule: 'quiet', device: 'd1', transition: null }]); // d2 was never heard of
    runtime.tick(T + 2 * MIN, devicesOf);
    expect(ticked[1]).toEqual({ rule: 'quiet', device: 'd1', transition: 'open' });
    expect(lists).toBe(2);
  });

  it('a rule that throws on a tick is returned for the caller to disable', () => {
    const { runtime } = setup([quiet], {
      evaluate: evaluateReal,
      tick: () => {
        throw new Error('tock');
      },
    });
    runtime.onReadings(dev('d1'), [num('x', T, 1)], T);
    const failures = runtime.tick(T + MIN, () => [dev('d1')]);
    expect(failures.map((f) => [f.rule.rule.id, (f.err as Error).message])).toEqual([['quiet', 'tock']]);
  });

  it('changes are taken for saving in slices, put back on failure, forgotten with a device or rule', () => {
    const { runtime } = setup([hot, quiet]);
    for (const d of ['d1', 'd2', 'd3']) runtime.onReadings(dev(d), [num('x', T, 1)], T);
    expect(runtime.hasChanges()).toBe(true);
    let n = 0;
    const first = [...runtime.takeChanged(() => ++n < 4)];
    expect(first).toHaveLength(4);
    const rest = [...runtime.takeChanged(() => true)];
    expect(rest).toHaveLength(2);
    expect(new Set([...first, ...rest].map((p) => p.join('/')))).toEqual(
      new Set(['hot/d1', 'hot/d2', 'hot/d3', 'quiet/d1', 'quiet/d2', 'quiet/d3']),
    );
    expect(runtime.hasChanges()).toBe(false);
    runtime.markChanged('hot', 'd1');
    expect([...runtime.takeChanged(() => true)]).toEqual([['hot', 'd1']]);

    runtime.onReadings(dev('d1'), [num('x', T + MIN, 1)], T + MIN);
    runtime.onReadings(dev('d2'), [num('x', T + MIN, 1)], T + MIN);
    runtime.forgetDevice('d1');
    runtime.forgetRule('quiet');
    expect([...runtime.takeChanged(() => true)]).toEqual([['hot', 'd2']]);
    expect(runtime.store.get('hot', 'd1')).toBeUndefined();
    expect(runtime.store.get('quiet', 'd2')).toBeUndefined();
    expect(runtime.store.get('hot', 'd2')).toBeDefined();
  });
});
