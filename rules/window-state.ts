/**
 * How window samples are persisted: not at all. A window's samples are the device's stored
 * telemetry of its key over its span, so the saved rule state keeps only the window's decision
 * (truth, aggregate, limit, times) and a note of which samples it held; at start the engine reads
 * them back from `telemetry` (`hydrate`). Saving a state is then O(1) instead of O(window): before
 * this, a 15-minute window of a 1 Hz sensor re-wrote 900 samples every few seconds for each device,
 * which cost more CPU (hub and database) than evaluating the readings. Pure functions here; the
 * query is the engine's (`rules/repo.ts` `recentReadings`).
 *
 * It is also what a later multi-process hub needs: a process taking a device over rebuilds its
 * windows from the shared database instead of shipping them between processes.
 */
import type { Rule, WindowCondition } from '../domain/index.ts';
import { planOf } from './conditions/registry.ts';
import type { Plan } from './conditions/types.ts';
import { WINDOW_MAX_SAMPLES } from './conditions/window.ts';
import { WindowSamples } from './conditions/window-samples.ts';
import type { RuleState } from './evaluate.ts';

/** What a persisted window node says about the samples it held (they are not saved). */
export interface SavedSpan {
  /** Samples held. */
  n: number;
  /** Oldest and newest sample time (ms). */
  from: number;
  to: number;
}

/**
 * The state as saved: each window node without its samples and running sum, with `sw` (the span
 * it held) instead. Nodes that are not windows are shared with `state`, which is left as it was.
 */
export function toSaved(state: RuleState): RuleState {
  let nodes: Record<string, unknown> | undefined;
  for (const path in state.nodes) {
    const node = state.nodes[path] as { s?: unknown } | undefined;
    if (!(node?.s instanceof WindowSamples)) continue;
    nodes ??= { ...state.nodes };
    const { s, sum: _sum, sumc: _sumc, ...rest } = node as { s: WindowSamples; sum?: number; sumc?: number };
    const sw: SavedSpan | undefined =
      s.length > 0 ? { n: s.length, from: s.oldest, to: s.newest } : undefined;
    nodes[path] = sw ? { ...rest, sw } : rest;
  }
  return nodes ? { ...state, nodes } : state;
}

/** One window of one device whose samples are to be read back from telemetry. */
export interface WindowToFill {
  path: string;
  key: string;
  /** Span (ms) and aggregate of the window. */
  ms: number;
  agg: WindowCondition['agg'];
  /** Readings after this time (ms, exclusive) belong to it: its newest sample − span. */
  after: number;
}

function windowPlans(p: Plan, out: Plan<WindowCondition>[]): Plan<WindowCondition>[] {
  if (p.kind === 'window') out.push(p as Plan<WindowCondition>);
  for (const kid of p.kids) windowPlans(kid, out);
  return out;
}

/**
 * The windows of a loaded state that hold no samples in memory: saved without them (`sw`), or a
 * node that has decided (`ts`) but whose samples are gone. A node with samples as pairs (saved by
 * an older version) is filled from those and is not listed.
 */
export function windowsToFill(rule: Rule, state: RuleState): WindowToFill[] {
  const out: WindowToFill[] = [];
  for (const p of windowPlans(planOf(rule).root, [])) {
    const node = state.nodes[p.path] as
      | { k?: unknown; ts?: unknown; s?: unknown; sw?: SavedSpan }
      | undefined;
    if (node?.k !== 'window' || (node.s !== undefined && node.s !== null)) continue;
    const newest =
      typeof node.sw?.to === 'number' ? node.sw.to : typeof node.ts === 'number' ? node.ts : null;
    // A time outside what a Date holds (a damaged row) would make the read-back query fail for
    // every device of its chunk: that window alone starts empty instead.
    if (newest === null || !Number.isFinite(newest) || Math.abs(newest) > MAX_TIME_MS) continue;
    out.push({ path: p.path, key: p.c.key, ms: p.ms, agg: p.c.agg, after: newest - p.ms });
  }
  return out;
}

/** The largest time a Date holds (ms either side of the epoch). */
const MAX_TIME_MS = 8.64e15;

/** Readings a window is filled with at most (its own limit). */
export const FILL_LIMIT = WINDOW_MAX_SAMPLES;

/**
 * Readings read back from the store and readings not stored yet, as one list of `[ts, value]`: a
 * time in both counts once (the store's value: the first one written), at most FILL_LIMIT, the
 * newest kept, oldest first.
 */
export function mergeNewest(stored: [number, number][], extra: [number, number][]): [number, number][] {
  const seen = new Set(stored.map((p) => p[0]));
  const all = [...stored];
  for (const p of extra)
    if (!seen.has(p[0])) {
      seen.add(p[0]);
      all.push(p);
    }
  all.sort((a, b) => a[0] - b[0]);
  return all.length > FILL_LIMIT ? all.slice(all.length - FILL_LIMIT) : all;
}

/** Readings not in telemetry yet (`[ts, value]`), by key, then device. */
export type Unwritten = Map<string, Map<string, [number, number][]>>;

/**
 * The readings of `scan` (batches acknowledged but not stored yet: ingest's spool) that the windows
 * to fill need, by key, then device: only those after the oldest window start of that key and
 * device, and at most the newest FILL_LIMIT of them (a spool may hold hundreds of MB after a long
 * outage; this holds what the windows can use).
 */
export async function collectUnwritten(
  toFill: { deviceId: string; w: WindowToFill }[],
  scan: (
    visit: (t: { ts: number[]; deviceId: string[]; key: string[]; value: number[] }) => void,
  ) => Promise<void>,
): Promise<Unwritten> {
  const out: Unwritten = new Map();
  if (toFill.length === 0) return out;
  /** By key, then device: the oldest time a window to fill still takes. */
  const since = new Map<string, Map<string, number>>();
  for (const { deviceId, w } of toFill) {
    let devices = since.get(w.key);
    if (!devices) {
      devices = new Map();
      since.set(w.key, devices);
    }
    devices.set(deviceId, Math.min(devices.get(deviceId) ?? Number.POSITIVE_INFINITY, w.after));
  }
  await scan((t) => {
    for (let i = 0; i < t.ts.length; i++) {
      const key = t.key[i]!;
      const deviceId = t.deviceId[i]!;
      const ts = t.ts[i]!;
      const after = since.get(key)?.get(deviceId);
      if (after === undefined || !(ts > after)) continue;
      let byDevice = out.get(key);
      if (!byDevice) {
        byDevice = new Map();
        out.set(key, byDevice);
      }
      const pair: [number, number] = [ts, t.value[i]!];
      const pairs = byDevice.get(deviceId);
      if (!pairs) byDevice.set(deviceId, [pair]);
      else {
        pairs.push(pair);
        // Bounded as it grows: the newest FILL_LIMIT are all a window can use.
        if (pairs.length >= 2 * FILL_LIMIT) {
          pairs.sort((a, b) => a[0] - b[0]);
          pairs.splice(0, pairs.length - FILL_LIMIT);
        }
      }
    }
  });
  return out;
}

/** A window view of readings read back from telemetry (`[ts, value]`, any order); null when none. */
export function samplesOf(pairs: [number, number][], agg: WindowCondition['agg']): WindowSamples | null {
  const inOrder = pairs.every((p, i) => i === 0 || p[0] > pairs[i - 1]![0]);
  return WindowSamples.fromJSON(
    inOrder ? pairs : [...pairs].sort((a, b) => a[0] - b[0]),
    undefined,
    undefined,
    agg,
  );
}

/**
 * Puts samples read back from telemetry into a loaded state's window node, in place (the state is
 * fresh from the database, not shared). No samples: the node keeps none, as a window whose readings
 * all expired would.
 */
export function fillWindow(state: RuleState, w: WindowToFill, view: WindowSamples | null): void {
  const node = state.nodes[w.path] as Record<string, unknown> | undefined;
  if (!node) return;
  const { sw: _sw, ...rest } = node;
  state.nodes[w.path] = view ? { ...rest, s: view, sum: view.sum, sumc: view.comp } : rest;
}
