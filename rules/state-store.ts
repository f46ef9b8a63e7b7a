/**
 * Rule state held in process: one state per rule and device (windows, timers, the facts of the last
 * decisions). Behind this interface so a later multi-process hub can partition it by device (each
 * process holding the devices it serves) without touching the engine. The hot path is synchronous:
 * a store is a local copy, read and written in memory on every message; persistence (the engine's
 * write-behind to `rule_state`) and any sharing happen beside it, never in `get`/`set`.
 */
import type { RuleState } from './evaluate.ts';

export interface RuleStateStore {
  get(ruleId: string, deviceId: string): RuleState | undefined;
  set(ruleId: string, deviceId: string, state: RuleState): void;
  delete(ruleId: string, deviceId: string): void;
  /** Every device's state of a rule (a changed or deleted rule starts afresh). */
  deleteRule(ruleId: string): void;
  /** Every rule's state of a device (a deleted device: a re-created id starts afresh). */
  deleteDevice(deviceId: string): void;
  clear(): void;
  /** States held. */
  readonly size: number;
}

/**
 * The in-memory store, partitioned by device as a shared one would be: a device's states sit
 * together, so forgetting a device is one step and a message's rules are looked up in one small map.
 */
export function createMemoryRuleStateStore(): RuleStateStore {
  const byDevice = new Map<string, Map<string, RuleState>>();
  let size = 0;
  return {
    get: (ruleId, deviceId) => byDevice.get(deviceId)?.get(ruleId),
    set(ruleId, deviceId, state) {
      let rules = byDevice.get(deviceId);
      if (rules === undefined) {
        rules = new Map();
        byDevice.set(deviceId, rules);
      }
      const before = rules.size;
      rules.set(ruleId, state);
      size += rules.size - before;
    },
    delete(ruleId, deviceId) {
      const rules = byDevice.get(deviceId);
      if (rules?.delete(ruleId)) {
        size--;
        if (rules.size === 0) byDevice.delete(deviceId);
      }
    },
    deleteRule(ruleId) {
      for (const [deviceId, rules] of byDevice) {
        if (rules.delete(ruleId)) {
          size--;
          if (rules.size === 0) byDevice.delete(deviceId);
        }
      }
    },
    deleteDevice(deviceId) {
      const rules = byDevice.get(deviceId);
      if (rules) {
        size -= rules.size;
        byDevice.delete(deviceId);
      }
    },
    clear() {
      byDevice.clear();
      size = 0;
    },
    get size() {
      return size;
    },
  };
}
