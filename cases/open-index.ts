/**
 * The open sensor cases by device and rule (issue 10, item 7): the sensor's hot path (an
 * occurrence, a clear) reads here instead of the store, and every write of a case goes through
 * `remember`, which keeps it current.
 *
 * Process-local state behind an interface, so a multi-process hub can later replace it: each
 * process keeps a synchronous local copy (no network round trip per reading) and a shared
 * implementation invalidates entries over the bus when another process writes a case, or the
 * hub partitions devices so one process owns a device's cases. The store stays the record: its
 * unique index (one open case per device and rule) refuses a duplicate even when a copy is stale.
 */
import type { CaseRecord } from './repo.ts';

export interface OpenCaseIndex {
  /** The open sensor case of a device and rule, if this process knows of one. */
  get(deviceId: string, ruleId: string): CaseRecord | undefined;
  /** Records a case's latest version: kept while open, dropped once closed or rejected. */
  remember(c: CaseRecord): void;
  /** Forgets everything (before a reload from the store). */
  clear(): void;
  size(): number;
}

const keyOf = (deviceId: string, ruleId: string) => `${deviceId}\u0000${ruleId}`;

export function createMemoryOpenCaseIndex(): OpenCaseIndex {
  const open = new Map<string, CaseRecord>();
  return {
    get: (deviceId, ruleId) => open.get(keyOf(deviceId, ruleId)),
    remember(c) {
      if (c.source !== 'sensor' || !c.deviceId || !c.ruleId) return;
      const key = keyOf(c.deviceId, c.ruleId);
      if (c.status === 'closed' || c.status === 'rejected') {
        if (open.get(key)?.id === c.id) open.delete(key);
      } else open.set(key, c);
    },
    clear: () => open.clear(),
    size: () => open.size,
  };
}
