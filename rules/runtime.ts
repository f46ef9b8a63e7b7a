/**
 * The in-process, synchronous part of the rules engine: the active rules indexed by device profile,
 * the latest values of reference devices, and the loop that evaluates one message's readings against
 * every rule that applies (grouped by timestamp, rules the message cannot affect skipped, state read
 * and written through the `RuleStateStore`). The engine runs it right after validation; the
 * benchmark runs the same code. No I/O: transitions and failures go to the caller's hooks.
 */

import type { Rule } from '../domain/index.ts';
import type { Reading } from '../ingest/index.ts';
import { type Evaluation, evaluate, type RuleContext, type RuleInput, tick } from './evaluate.ts';
import type { RuleStateStore } from './state-store.ts';

/** What the runtime needs of a device. */
export interface RuleDevice {
  id: string;
  profile: string;
  gridCode?: string | null;
  serverAttributes: Record<string, unknown>;
  sharedAttributes: Record<string, unknown>;
}

/** A loaded rule as the runtime sees it (the engine's own record carries more). */
export interface ActiveRule {
  rule: Rule;
  /** `usesKeys(rule)`, worked out once. */
  keys: Set<string>;
  /** `needsTick(rule)`. */
  ticks: boolean;
  /** Set when a runtime error disabled the rule: it is skipped from then on. */
  disabledReason: string | null;
}

/** The pure evaluator (tests wrap it to make a rule fail at run time). */
export interface Evaluator {
  evaluate: typeof evaluate;
  tick: typeof tick;
}

export interface RuntimeHooks<D extends RuleDevice, L extends ActiveRule> {
  /** Every evaluation of a message's readings, transition or not; `mark` is the caller's. */
  evaluated(l: L, device: D, ev: Evaluation, ts: number, mark: number | null): void;
  /** Every evaluation on the hub clock. */
  ticked(l: L, device: D, ev: Evaluation, now: number): void;
  /** A rule threw on a message: its state for the message is dropped; the caller disables it. */
  failed(l: L, err: unknown): void;
}

/** Groups one message's readings by timestamp: each group is one evaluation input, oldest first. */
export function toInputs(readings: Reading[], receivedAt: number): RuleInput[] {
  // Most messages carry one record: every reading has the same time, one input, no map or sort.
  const first = readings[0];
  if (first === undefined) return [];
  let oneTime = true;
  for (let i = 1; i < readings.length; i++)
    if (readings[i]!.ts !== first.ts) {
      oneTime = false;
      break;
    }
  if (oneTime) {
    const input: RuleInput = { ts: first.ts, values: {}, events: [], receivedAt };
    for (const r of readings) {
      if (r.kind === 'number') input.values[r.key] = r.value;
      else if (r.kind === 'event')
        input.events.push({ type: r.type, confidence: r.confidence, snapshot: r.snapshot });
    }
    return [input];
  }
  const byTs = new Map<number, RuleInput>();
  for (const r of readings) {
    let input = byTs.get(r.ts);
    if (!input) {
      input = { ts: r.ts, values: {}, events: [], receivedAt };
      byTs.set(r.ts, input);
    }
    if (r.kind === 'number') input.values[r.key] = r.value;
    else if (r.kind === 'event')
      input.events.push({ type: r.type, confidence: r.confidence, snapshot: r.snapshot });
  }
  return [...byTs.values()].sort((a, b) => a.ts - b.ts);
}

/** The input carries one of the keys a rule reads. */
function usesAny(keys: ReadonlySet<string>, input: RuleInput): boolean {
  for (const k in input.values) if (keys.has(k)) return true;
  return false;
}

/** The rule applies to the device (profile, device list, grid code prefix). */
export function applies(rule: Rule, device: RuleDevice): boolean {
  const a = rule.appliesTo;
  return (
    a.profile === device.profile &&
    (!a.deviceIds || a.deviceIds.includes(device.id)) &&
    (!a.gridCodePrefix || (device.gridCode ?? '').startsWith(a.gridCodePrefix))
  );
}

/** The devices a rule compares against (`reference` conditions). */
function referencedDevices(rule: Rule, into: Set<string>) {
  const walk = (c: Rule['condition']) => {
    if (c.kind === 'reference') into.add(c.referenceDevice);
    if ('condition' in c) walk(c.condition);
    if ('conditions' in c) for (const x of c.conditions) walk(x);
  };
  walk(rule.condition);
}

export type RuleRuntime<D extends RuleDevice, L extends ActiveRule> = ReturnType<
  typeof createRuleRuntime<D, L>
>;

export function createRuleRuntime<D extends RuleDevice, L extends ActiveRule>(deps: {
  timezone: string;
  store: RuleStateStore;
  hooks: RuntimeHooks<D, L>;
  evaluator?: Evaluator;
}) {
  const { store, hooks, timezone } = deps;
  const run = deps.evaluator ?? { evaluate, tick };
  /** The rules in load order, those that run (enabled, not disabled) by profile. */
  let rules: L[] = [];
  let byProfile = new Map<string, L[]>();
  let referenced = new Set<string>();
  /** Latest values of devices other rules compare against (reference stations). */
  const latest = new Map<string, Map<string, { ts: number; value: number }>>();
  /** Per rule, the devices whose state changed since the engine last saved them (write-behind). */
  const changed = new Map<string, Set<string>>();

  const changedOf = (ruleId: string) => {
    let set = changed.get(ruleId);
    if (set === undefined) {
      set = new Set();
      changed.set(ruleId, set);
    }
    return set;
  };

  /** The rules to run (their order is kept); call again after any of them changes. */
  function setRules(list: L[]) {
    rules = list;
    byProfile = new Map();
    referenced = new Set();
    for (const l of list) {
      if (!l.rule.enabled || l.disabledReason) continue;
      const forProfile = byProfile.get(l.rule.appliesTo.profile) ?? [];
      forProfile.push(l);
      byProfile.set(l.rule.appliesTo.profile, forProfile);
      referencedDevices(l.rule, referenced);
    }
  }

  const reference = (id: string, key: string) => latest.get(id)?.get(key);
  /**
   * One context per device object: the registry replaces a device's object when its attributes
   * change (never edits it), so a context is built once per version of a device, not per message.
   */
  const contexts = new WeakMap<D, RuleContext>();
  function context(device: D): RuleContext {
    let c = contexts.get(device);
    if (c === undefined) {
      // Thresholds come from server or shared attributes, never from what the device reports.
      c = { timezone, attributes: { ...device.serverAttributes, ...device.sharedAttributes }, reference };
      contexts.set(device, c);
    }
    return c;
  }

  /**
   * Evaluates one message's readings against the rules of the device's profile. Synchronous and
   * in memory; `mark` is handed back to `hooks.evaluated` (the engine's arrival time).
   */
  function onReadings(device: D, readings: Reading[], receivedAt: number, mark: number | null = null) {
    const list = byProfile.get(device.profile);
    if (referenced.has(device.id)) {
      const map = latest.get(device.id) ?? new Map();
      latest.set(device.id, map);
      for (const r of readings) {
        if (r.kind === 'number' && (map.get(r.key)?.ts ?? -Infinity) <= r.ts)
          map.set(r.key, { ts: r.ts, value: r.value });
      }
    }
    if (!list) return;
    const inputs = toInputs(readings, receivedAt);
    const ctx = context(device);
    for (const l of list) {
      if (l.disabledReason || !applies(l.rule, device)) continue;
      const id = l.rule.id;
      let state = store.get(id, device.id);
      try {
        for (const input of inputs) {
          if (!l.keys.has('*') && !(input.events.length && l.keys.has('event')) && !usesAny(l.keys, input))
            continue;
          const ev = run.evaluate(l.rule, state, input, ctx, true);
          state = ev.state;
          hooks.evaluated(l, device, ev, input.ts, mark);
        }
      } catch (err) {
        // The evaluation updates the state in place (it is the runtime's alone): one that threw
        // may have left it half-updated, so it goes; the caller disables the rule, and a rule saved
        // again starts from fresh state anyway.
        store.delete(id, device.id);
        hooks.failed(l, err);
        continue;
      }
      if (state) {
        store.set(id, device.id, state);
        changedOf(id).add(device.id);
      }
    }
  }

  /**
   * One pass on the hub clock (absence, event expiry) over every device a ticking rule covers,
   * `devicesOf(profile)` asked once per profile. A rule that throws stops for this pass and is
   * returned, for the caller to disable.
   */
  function tickAll(now: number, devicesOf: (profile: string) => D[]): { rule: L; err: unknown }[] {
    const failures: { rule: L; err: unknown }[] = [];
    const lists = new Map<string, D[]>();
    for (const l of rules) {
      if (!l.ticks || l.disabledReason || !l.rule.enabled) continue;
      const profile = l.rule.appliesTo.profile;
      let devices = lists.get(profile);
      if (devices === undefined) {
        devices = devicesOf(profile);
        lists.set(profile, devices);
      }
      const id = l.rule.id;
      for (const device of devices) {
        if (!applies(l.rule, device)) continue;
        const prev = store.get(id, device.id);
        if (!prev) continue; // a device never heard from has no absence to measure yet
        try {
          const ev = run.tick(l.rule, prev, now, context(device));
          if (ev.state !== prev) {
            store.set(id, device.id, ev.state);
            changedOf(id).add(device.id);
          }
          hooks.ticked(l, device, ev, now);
        } catch (err) {
          failures.push({ rule: l, err });
          break;
        }
      }
    }
    return failures;
  }

  /** A deleted device: its rule states and reference values go. */
  function forgetDevice(deviceId: string) {
    store.deleteDevice(deviceId);
    for (const set of changed.values()) set.delete(deviceId);
    latest.delete(deviceId);
  }

  /** A changed or deleted rule starts from fresh state. */
  function forgetRule(ruleId: string) {
    store.deleteRule(ruleId);
    changed.delete(ruleId);
  }

  return {
    setRules,
    onReadings,
    tick: tickAll,
    context,
    forgetDevice,
    forgetRule,
    store,
    /**
     * Takes the (rule, device) pairs changed since the last take, one at a time, while `more()`
     * says so (the engine saves in slices); `markChanged` puts one back when its save failed.
     */
    *takeChanged(more: () => boolean): Generator<[ruleId: string, deviceId: string]> {
      for (const [ruleId, devices] of changed) {
        for (const deviceId of devices) {
          devices.delete(deviceId);
          yield [ruleId, deviceId];
          if (!more()) return;
        }
        if (devices.size === 0) changed.delete(ruleId);
      }
    },
    markChanged(ruleId: string, deviceId: string) {
      changedOf(ruleId).add(deviceId);
    },
    hasChanges(): boolean {
      for (const devices of changed.values()) if (devices.size > 0) return true;
      return false;
    },
    /** (rule, device) pairs changed since they were last taken. */
    changedCount(): number {
      let n = 0;
      for (const devices of changed.values()) n += devices.size;
      return n;
    },
  };
}
