/**
 * The pure rule evaluator. No I/O and no wall clock: event time comes from the readings
 * (`RuleInput.ts`), hub time from `tick(now)`, thresholds from the context's attributes. The
 * per-device state is a plain JSON object (persisted by the engine for restart safety); the state
 * passed in is never mutated, a new one is returned.
 *
 * Truth is three-valued per condition node: `true`, `false`, or `null` = not known yet (no reading
 * of its key so far). `all`/`any`/`not` use Kleene logic, so `not(x)` does not fire before `x` has
 * been seen, and the rule is active only when its root is `true`.
 *
 * Partial messages: a node whose key is absent from a message keeps its previous truth, so
 * `all(pm10 > 80, windSpeed < 2)` works across messages carrying one key each.
 *
 * Out-of-order (late) readings: every node remembers the event time it last evaluated (`ts`). A
 * reading older than that never changes the node's truth (no flipping backwards in time):
 * threshold, reference, rate and schedule nodes ignore it; window nodes file its sample into the
 * window (later in-order evaluations see it) without re-deciding; a late *matching* camera event
 * still opens an event node when it lies within `clearAfter` of the node's latest time (it is a
 * real detection the rule would have raised live); absence counts any arrival.
 */
import { zoneOffsetMs } from '../hub/time.ts';
import { PROFILES, type ProfileSpec } from '../registry/profiles.ts';
import {
  type AbsenceCondition,
  type Comparison,
  type Condition,
  type ConditionKind,
  durationMs,
  type EventCondition,
  type RateCondition,
  type ReferenceCondition,
  type Rule,
  type ScheduleCondition,
  type ThresholdCondition,
  type ValueRef,
  type WindowCondition,
} from './schema.ts';

// ---------------------------------------------------------------------------------------------
// Public surface

/** One message's readings at one timestamp (event time). */
export interface RuleInput {
  ts: number;
  values: Record<string, number>;
  events: { type: string; confidence: number; snapshot: string | null }[];
  /** Hub time at which the message arrived (absence is counted on hub time). Defaults to `ts`. */
  receivedAt?: number;
}

export interface RuleContext {
  /** IANA zone of the city (day/night schedules, calendar days). */
  timezone: string;
  /** The device's server and shared attributes (never what the device reports about itself). */
  attributes: Record<string, unknown>;
  /** Latest value of another device's key (the reference/background station). */
  reference(deviceId: string, key: string): { ts: number; value: number } | undefined;
}

export interface RuleState {
  active: boolean;
  /** Time the rule became active (event time, or hub time when a tick opened it). */
  since: number | null;
  /** Latest event time evaluated. */
  lastTs: number | null;
  /** Per-condition state keyed by the condition's path: root "0", its children "0.0", "0.1", … */
  nodes: Record<string, unknown>;
}

export interface Evaluation {
  state: RuleState;
  transition: 'open' | 'clear' | null;
  active: boolean;
  explanation: string;
  /** The values that decided, e.g. `{ pm10_avg_15m: 96.4 }`. */
  observed: Record<string, number>;
  /** Snapshot references of the camera events that matched in this input (evidence for a case). */
  snapshots: string[];
}

/** Samples a window keeps at most (the oldest are dropped first). */
export const WINDOW_MAX_SAMPLES = 2000;
/** A reference value further than this from the reading's time is stale. */
export const REFERENCE_MAX_AGE_MS = 2 * 3_600_000;
/** Consecutive readings closer than this are too close for a rate (the older one is kept). */
export const RATE_MIN_GAP_MS = 1000;
/** Consecutive readings further apart than this give no rate (the newer one starts afresh). */
export const RATE_MAX_GAP_MS = 30 * 60_000;

export function initialState(): RuleState {
  return { active: false, since: null, lastTs: null, nodes: {} };
}

/** Evaluates one message's readings (event time). Pure: `state` is not modified. */
export function evaluate(
  rule: Rule,
  state: RuleState | undefined,
  input: RuleInput,
  ctx: RuleContext,
): Evaluation {
  if (!Number.isFinite(input?.ts))
    throw new Error(`rule ${rule.id}: input.ts must be a finite epoch in milliseconds, got ${input?.ts}`);
  const values: Record<string, number> = {};
  for (const [k, v] of Object.entries(input.values ?? {})) if (Number.isFinite(v)) values[k] = v;
  const events = (input.events ?? []).filter(
    (e) => e && typeof e.type === 'string' && Number.isFinite(e.confidence),
  );
  const arrival = Number.isFinite(input.receivedAt) ? (input.receivedAt as number) : input.ts;
  return run(rule, state, { mode: 'input', time: input.ts, values, events, arrival }, ctx);
}

/**
 * Hub-clock evaluation: absence opens, event conditions clear after `clearAfter`; nothing else
 * changes (thresholds, windows, schedules only move with readings).
 */
export function tick(rule: Rule, state: RuleState | undefined, now: number, ctx: RuleContext): Evaluation {
  if (!Number.isFinite(now)) throw new Error(`rule ${rule.id}: tick needs a finite time, got ${now}`);
  return run(rule, state, { mode: 'tick', time: now }, ctx);
}

/**
 * Keys the rule reads, to skip rules a message cannot affect. `event` stands for camera
 * detections; `*` means every message matters (an absence condition is cleared by any reading).
 * Schedules and reference devices add no key of this device.
 */
export function usesKeys(rule: Rule): Set<string> {
  const keys = new Set<string>();
  const walk = (c: Condition) => {
    switch (c.kind) {
      case 'threshold':
      case 'window':
      case 'rate':
      case 'reference':
        keys.add(c.key);
        return;
      case 'event':
        keys.add('event');
        return;
      case 'absence':
        keys.add('*');
        return;
      case 'schedule':
        return;
      case 'sustained':
      case 'dailyCount':
      case 'not':
        walk(c.condition);
        return;
      case 'all':
      case 'any':
        for (const child of c.conditions) walk(child);
        return;
      default:
        throw new Error(`unknown condition kind '${(c as { kind?: unknown }).kind}'`);
    }
  };
  walk(rule.condition);
  return keys;
}

/** True when the rule has conditions that `tick` can change (absence, event clearAfter). */
export function needsTick(rule: Rule): boolean {
  const walk = (c: Condition): boolean => {
    switch (c.kind) {
      case 'absence':
      case 'event':
        return true;
      case 'sustained':
      case 'dailyCount':
      case 'not':
        return walk(c.condition);
      case 'all':
      case 'any':
        return c.conditions.some(walk);
      default:
        return false;
    }
  };
  return walk(rule.condition);
}

// ---------------------------------------------------------------------------------------------
// Walking the condition tree

type Truth = boolean | null;

type Env =
  | {
      mode: 'input';
      time: number;
      values: Record<string, number>;
      events: RuleInput['events'];
      arrival: number;
    }
  | { mode: 'tick'; time: number };

interface Walk {
  rule: Rule;
  ctx: RuleContext;
  env: Env;
  prev: Record<string, unknown>;
  next: Record<string, unknown>;
  snapshots: string[];
  profile: ProfileSpec | undefined;
}

interface Result {
  v: Truth;
  /** The node decided on new evidence in this evaluation (sustained only counts time on it). */
  fresh: boolean;
  text: string;
  obs: Record<string, number>;
}

/** Stored state of a leaf node. */
interface LeafState {
  k: ConditionKind;
  v: Truth;
  /** Latest event time the node evaluated (late readings are older than this). */
  ts: number | null;
  text: string;
  obs: Record<string, number>;
}

function isState(rs: unknown): rs is RuleState {
  if (typeof rs !== 'object' || rs === null) return false;
  const s = rs as Partial<RuleState>;
  return (
    typeof s.active === 'boolean' &&
    typeof s.nodes === 'object' &&
    s.nodes !== null &&
    !Array.isArray(s.nodes) &&
    (s.since === null || typeof s.since === 'number') &&
    (s.lastTs === null || typeof s.lastTs === 'number')
  );
}

function run(rule: Rule, state: RuleState | undefined, env: Env, ctx: RuleContext): Evaluation {
  // A missing or malformed stored state starts afresh (an unreadable state must not stop the rule).
  const prev = isState(state) ? state : initialState();
  const w: Walk = {
    rule,
    ctx,
    env,
    prev: prev.nodes,
    next: { ...prev.nodes },
    snapshots: [],
    profile: (PROFILES as Record<string, ProfileSpec>)[rule.appliesTo.profile],
  };
  const r = node(rule.condition, '0', w);
  const active = r.v === true;
  const transition = active && !prev.active ? 'open' : !active && prev.active ? 'clear' : null;
  const since = active ? (prev.active ? (prev.since ?? env.time) : env.time) : null;
  const lastTs =
    env.mode === 'input' ? (prev.lastTs === null ? env.time : Math.max(prev.lastTs, env.time)) : prev.lastTs;
  return {
    state: { active, since, lastTs, nodes: w.next },
    transition,
    active,
    explanation: r.text,
    observed: r.obs,
    snapshots: w.snapshots,
  };
}

function node(c: Condition, path: string, w: Walk): Result {
  switch (c.kind) {
    case 'threshold':
      return threshold(c, path, w);
    case 'window':
      return windowNode(c, path, w);
    case 'rate':
      return rate(c, path, w);
    case 'reference':
      return reference(c, path, w);
    case 'absence':
      return absence(c, path, w);
    case 'event':
      return eventNode(c, path, w);
    case 'schedule':
      return schedule(c, path, w);
    case 'sustained':
      return sustained(c, path, w);
    case 'dailyCount':
      return dailyCount(c, path, w);
    case 'all':
    case 'any':
      return allAny(c.kind, c.conditions, path, w);
    case 'not': {
      const inner = node(c.condition, `${path}.0`, w);
      const v = inner.v === null ? null : !inner.v;
      w.next[path] = { k: 'not', v };
      return { v, fresh: inner.fresh, text: `not (${inner.text})`, obs: inner.obs };
    }
    default:
      throw new Error(
        `rule ${w.rule.id}: unknown condition kind '${(c as { kind?: unknown }).kind}' at condition path ${path}`,
      );
  }
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const truth = (x: unknown): Truth => (x === true || x === false ? x : null);

/** The stored leaf state at `path` when it belongs to a condition of this kind, else a fresh one. */
function loadLeaf(
  w: Walk,
  path: string,
  kind: ConditionKind,
  empty: string,
): LeafState & Record<string, unknown> {
  const s = w.prev[path];
  if (isObj(s) && s.k === kind) {
    return {
      ...s,
      k: kind,
      v: truth(s.v),
      ts: num(s.ts),
      text: typeof s.text === 'string' ? s.text : empty,
      obs: isObj(s.obs) ? (s.obs as Record<string, number>) : {},
    };
  }
  return { k: kind, v: null, ts: null, text: empty, obs: {} };
}

const keep = (s: LeafState): Result => ({ v: s.v, fresh: false, text: s.text, obs: s.obs });

function prevTruth(w: Walk, path: string): Truth {
  const s = w.prev[path];
  return isObj(s) ? truth(s.v) : null;
}

// ---------------------------------------------------------------------------------------------
// Thresholds and hysteresis

type Resolved = { ok: true; value: number; source: string } | { ok: false; text: string };

function attributeNumber(raw: unknown): number | null {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : null;
  if (typeof raw === 'string' && raw.trim() !== '') {
    const n = Number(raw);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

function resolve(ref: ValueRef, attributes: Record<string, unknown>): Resolved {
  if (typeof ref === 'number') return { ok: true, value: ref, source: '' };
  const offset = ref.offset ?? 0;
  const plus = offset === 0 ? '' : offset > 0 ? ` + ${fmt(offset)}` : ` − ${fmt(-offset)}`;
  const fromAttr = attributeNumber(attributes?.[ref.attribute]);
  if (fromAttr !== null)
    return { ok: true, value: fromAttr + offset, source: ` (limit from attribute ${ref.attribute}${plus})` };
  if (ref.default !== undefined)
    return {
      ok: true,
      value: ref.default + offset,
      source: ` (default${plus ? ` ${fmt(ref.default)}${plus}` : ''}, attribute ${ref.attribute} not set)`,
    };
  return { ok: false, text: `attribute ${ref.attribute} is not set and the rule gives no default` };
}

const SYM: Record<Comparison, string> = { '>=': '≥', '>': '>', '<=': '≤', '<': '<' };
const NEG: Record<Comparison, string> = { '>=': '<', '>': '≤', '<=': '>', '<': '≥' };
const isAbove = (op: Comparison) => op === '>=' || op === '>';

function compare(op: Comparison, x: number, limit: number): boolean {
  switch (op) {
    case '>=':
      return x >= limit;
    case '>':
      return x > limit;
    case '<=':
      return x <= limit;
    case '<':
      return x < limit;
  }
}

interface Decision {
  v: boolean;
  text: string;
}

/**
 * Hysteresis: opens when `x op limit`; once open, with a clear level it stays open until x is on
 * the other side of it (≤ clear for > and ≥, ≥ clear for < and ≤), without one when the
 * comparison fails.
 */
function decide(
  prev: Truth,
  label: string,
  x: number,
  unit: string,
  op: Comparison,
  limit: Resolved & { ok: true },
  clear: Resolved | undefined,
): Decision {
  const hit = compare(op, x, limit.value);
  const shown = `${label} ${fmt(x)}${unit}`;
  if (hit) return { v: true, text: `${shown} ${SYM[op]} ${fmt(limit.value)}${limit.source}` };
  if (prev === true && clear?.ok) {
    const cleared = isAbove(op) ? x <= clear.value : x >= clear.value;
    const clearSym = isAbove(op) ? '≤' : '≥';
    if (!cleared)
      return {
        v: true,
        text: `${shown} not yet back to the clear level (opened at ${SYM[op]} ${fmt(limit.value)}${limit.source}, clears at ${clearSym} ${fmt(clear.value)})`,
      };
    return { v: false, text: `${shown} ${clearSym} ${fmt(clear.value)} (back to the clear level)` };
  }
  return { v: false, text: `${shown} ${NEG[op]} ${fmt(limit.value)}${limit.source}` };
}

function unitOf(w: Walk, key: string): string {
  const unit = (w.profile?.keys as Record<string, { unit?: string }> | undefined)?.[key]?.unit;
  if (!unit) return '';
  return unit === '°' ? '°' : ` ${unit}`;
}

function isLate(s: LeafState, time: number): boolean {
  return s.ts !== null && time < s.ts;
}

function threshold(c: ThresholdCondition, path: string, w: Walk): Result {
  const s = loadLeaf(w, path, 'threshold', `${c.key}: no reading yet`);
  if (w.env.mode !== 'input') return keep(s);
  const x = w.env.values[c.key];
  if (x === undefined || isLate(s, w.env.time)) return keep(s);
  const limit = resolve(c.value, w.ctx.attributes);
  if (!limit.ok) {
    const text = `${c.key}: ${limit.text}`;
    w.next[path] = { ...s, ts: w.env.time, text };
    return { ...keep(s), text };
  }
  const clear = c.clear === undefined ? undefined : resolve(c.clear, w.ctx.attributes);
  const d = decide(s.v, c.key, x, unitOf(w, c.key), c.op, limit, clear);
  const obs = { [c.key]: x };
  w.next[path] = { k: s.k, v: d.v, ts: w.env.time, text: d.text, obs } satisfies LeafState;
  return { v: d.v, fresh: true, text: d.text, obs };
}

// ---------------------------------------------------------------------------------------------
// Moving window

const AGG_WORD = { avg: 'average', max: 'maximum', min: 'minimum' } as const;
const UNIT_WORD: Record<string, string> = {
  ms: 'millisecond',
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
};

/** '15m' → '15-minute'. */
function durationAdjective(d: string): string {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(d.trim());
  return m ? `${m[1]}-${UNIT_WORD[m[2]!]}` : d;
}

type Sample = [number, number];

function samplesOf(s: Record<string, unknown>): Sample[] {
  if (!Array.isArray(s.s)) return [];
  return (s.s as unknown[]).filter(
    (p): p is Sample => Array.isArray(p) && p.length === 2 && num(p[0]) !== null && num(p[1]) !== null,
  );
}

/** Inserts in time order; a sample at the same time as a stored one replaces it (a re-send). */
function insertSample(samples: Sample[], ts: number, x: number): Sample[] {
  const out = samples.slice();
  let i = out.length;
  while (i > 0 && out[i - 1]![0] > ts) i--;
  if (i > 0 && out[i - 1]![0] === ts) out[i - 1] = [ts, x];
  else out.splice(i, 0, [ts, x]);
  return out;
}

function windowNode(c: WindowCondition, path: string, w: Walk): Result {
  const s = loadLeaf(w, path, 'window', `${c.key}: no reading yet`);
  if (w.env.mode !== 'input') return keep(s);
  const x = w.env.values[c.key];
  if (x === undefined) return keep(s);
  const time = w.env.time;
  const span = durationMs(c.window);
  let samples = insertSample(samplesOf(s), time, x);
  // The window is (newest − span, newest]; older samples can never count again.
  const newest = samples[samples.length - 1]![0];
  let drop = 0;
  while (drop < samples.length && samples[drop]![0] <= newest - span) drop++;
  if (samples.length - drop > WINDOW_MAX_SAMPLES) drop = samples.length - WINDOW_MAX_SAMPLES;
  if (drop > 0) samples = samples.slice(drop);

  if (isLate(s, time)) {
    // Filed into the window; the truth is only re-decided by the next in-order reading.
    w.next[path] = { ...s, s: samples };
    return keep(s);
  }
  let agg = c.agg === 'max' ? -Infinity : c.agg === 'min' ? Infinity : 0;
  for (const [, v] of samples) {
    if (c.agg === 'avg') agg += v;
    else if (c.agg === 'max') agg = Math.max(agg, v);
    else agg = Math.min(agg, v);
  }
  if (c.agg === 'avg') agg /= samples.length;
  const obsKey = `${c.key}_${c.agg}_${c.window}`;
  const obs = { [obsKey]: round(agg) };
  const label = `${c.key} ${durationAdjective(c.window)} ${AGG_WORD[c.agg]}`;
  const limit = resolve(c.value, w.ctx.attributes);
  if (!limit.ok) {
    const text = `${label}: ${limit.text}`;
    w.next[path] = { ...s, ts: time, s: samples, text };
    return { ...keep(s), text };
  }
  const clear = c.clear === undefined ? undefined : resolve(c.clear, w.ctx.attributes);
  const d = decide(s.v, label, agg, unitOf(w, c.key), c.op, limit, clear);
  w.next[path] = { k: s.k, v: d.v, ts: time, text: d.text, obs, s: samples };
  return { v: d.v, fresh: true, text: d.text, obs };
}

// ---------------------------------------------------------------------------------------------
// Rate of change

function rate(c: RateCondition, path: string, w: Walk): Result {
  const s = loadLeaf(w, path, 'rate', `${c.key}: no rate yet (needs two readings)`);
  if (w.env.mode !== 'input') return keep(s);
  const x = w.env.values[c.key];
  if (x === undefined) return keep(s);
  const time = w.env.time;
  const last =
    Array.isArray(s.last) && num(s.last[0]) !== null && num(s.last[1]) !== null ? (s.last as Sample) : null;
  if (last === null) {
    w.next[path] = { ...s, ts: time, last: [time, x] };
    return keep(s);
  }
  const dt = time - last[0];
  if (dt < RATE_MIN_GAP_MS) return keep(s); // late, a duplicate, or too close: keep the older reading
  if (dt > RATE_MAX_GAP_MS) {
    // Too far apart to say anything: the truth stays, this reading starts the next pair.
    w.next[path] = { ...s, ts: time, last: [time, x] };
    return keep(s);
  }
  const perMin = (x - last[1]) / (dt / 60_000);
  const v =
    c.direction === 'rise'
      ? perMin >= c.perMinute
      : c.direction === 'fall'
        ? perMin <= -c.perMinute
        : Math.abs(perMin) >= c.perMinute;
  const unit = unitOf(w, c.key);
  const per = `${unit}/min`;
  const wanted = c.direction === 'rise' ? 'a rise' : c.direction === 'fall' ? 'a fall' : 'a change';
  const moving = perMin >= 0 ? 'rising' : 'falling';
  const text = v
    ? `${c.key} ${moving} ${fmt(Math.abs(perMin))}${per} (${fmt(last[1])} → ${fmt(x)}${unit} in ${fmtDuration(dt)}), ${wanted} of at least ${fmt(c.perMinute)}${per}`
    : `${c.key} ${moving} ${fmt(Math.abs(perMin))}${per}, under ${wanted} of ${fmt(c.perMinute)}${per}`;
  const obs = { [`${c.key}_rate_per_min`]: round(perMin) };
  w.next[path] = { k: s.k, v, ts: time, text, obs, last: [time, x] };
  return { v, fresh: true, text, obs };
}

// ---------------------------------------------------------------------------------------------
// Difference to a reference device

function reference(c: ReferenceCondition, path: string, w: Walk): Result {
  const s = loadLeaf(w, path, 'reference', `${c.key}: no reading yet`);
  if (w.env.mode !== 'input') return keep(s);
  const x = w.env.values[c.key];
  const time = w.env.time;
  if (x === undefined || isLate(s, time)) return keep(s);
  const refKey = c.referenceKey ?? c.key;
  const ref = w.ctx.reference(c.referenceDevice, refKey);
  if (
    !ref ||
    num(ref.value) === null ||
    num(ref.ts) === null ||
    Math.abs(time - ref.ts) > REFERENCE_MAX_AGE_MS
  ) {
    // No usable reference: the condition keeps its previous state (the reading still counts as the
    // key's latest, so older ones stay late).
    const text =
      s.v === null
        ? `${c.key}: reference ${c.referenceDevice}.${refKey} missing or more than 2h from the reading`
        : s.text;
    w.next[path] = { ...s, ts: time, text };
    return { ...keep(s), text };
  }
  const diff = x - ref.value;
  const unit = unitOf(w, c.key);
  const label = `${c.key} ${fmt(x)}${unit} minus ${refKey} ${fmt(ref.value)}${unit} at ${c.referenceDevice} =`;
  const limit = resolve(c.value, w.ctx.attributes);
  if (!limit.ok) {
    const text = `${c.key} difference to ${c.referenceDevice}: ${limit.text}`;
    w.next[path] = { ...s, ts: time, text };
    return { ...keep(s), text };
  }
  const clear = c.clear === undefined ? undefined : resolve(c.clear, w.ctx.attributes);
  const d = decide(s.v, label, diff, unit, c.op, limit, clear);
  const obs = { [c.key]: x, [`${c.key}_reference`]: ref.value, [`${c.key}_difference`]: round(diff) };
  w.next[path] = { k: s.k, v: d.v, ts: time, text: d.text, obs } satisfies LeafState;
  return { v: d.v, fresh: true, text: d.text, obs };
}

// ---------------------------------------------------------------------------------------------
// Absence (hub time)

function absence(c: AbsenceCondition, path: string, w: Walk): Result {
  const s = loadLeaf(w, path, 'absence', 'no reading yet');
  const seen = num(s.seen);
  const tz = w.ctx.timezone;
  const limitMs = durationMs(c.expectedEvery) * c.intervals;
  if (w.env.mode === 'input') {
    const at = seen === null ? w.env.arrival : Math.max(seen, w.env.arrival);
    const text = `data arriving (last reading ${localIso(at, tz)})`;
    w.next[path] = { k: s.k, v: false, ts: s.ts, text, obs: {}, seen: at, baseline: false };
    return { v: false, fresh: true, text, obs: {} };
  }
  const now = w.env.time;
  if (seen === null) {
    // Never seen a reading: count from the first tick that watches this device.
    const text = `watching for data since ${localIso(now, tz)}`;
    w.next[path] = { k: s.k, v: false, ts: s.ts, text, obs: {}, seen: now, baseline: true };
    return { v: false, fresh: false, text, obs: {} };
  }
  const silent = now - seen;
  const v = silent >= limitMs;
  const obs = { silent_minutes: round(silent / 60_000) };
  const last =
    s.baseline === true
      ? `no reading since watching began ${localIso(seen, tz)}`
      : `last reading ${localIso(seen, tz)}`;
  const text = v
    ? `no data for ${c.intervals} interval${c.intervals === 1 ? '' : 's'} of ${c.expectedEvery} (${last})`
    : `data arriving (${last})`;
  w.next[path] = { ...s, v, text, obs };
  return { v, fresh: v !== s.v, text, obs };
}

// ---------------------------------------------------------------------------------------------
// Camera detections

function eventNode(c: EventCondition, path: string, w: Walk): Result {
  const label = c.type.replaceAll('_', ' ');
  const s = loadLeaf(w, path, 'event', `no ${label} detected (confidence ≥ ${fmt(c.minConfidence)})`);
  const seen = num(s.seen);
  const clearMs = durationMs(c.clearAfter);
  const tz = w.ctx.timezone;
  const quiet = (since: number) =>
    `no ${label} (confidence ≥ ${fmt(c.minConfidence)}) since ${localIso(since, tz)} for ${c.clearAfter}`;

  if (w.env.mode === 'tick') {
    if (s.v === true && seen !== null && w.env.time - seen >= clearMs) {
      const text = quiet(seen);
      w.next[path] = { ...s, v: false, text };
      return { v: false, fresh: true, text, obs: s.obs };
    }
    return keep(s);
  }

  const time = w.env.time;
  const late = isLate(s, time);
  let best: RuleInput['events'][number] | undefined;
  for (const e of w.env.events) {
    if (e.type !== c.type || !(e.confidence >= c.minConfidence)) continue;
    if (!best || e.confidence > best.confidence) best = e;
    if (e.snapshot) w.snapshots.push(e.snapshot);
  }
  if (best) {
    const newest = seen === null ? time : Math.max(seen, time);
    // A late detection still counts when it is within clearAfter of the latest time seen.
    const opens = !late || (s.ts !== null && s.ts - time < clearMs);
    const v = opens ? true : (s.v ?? false);
    const obs = { [`${c.type}_confidence`]: best.confidence };
    const text = v
      ? `${label} detected with confidence ${fmt(best.confidence)} at ${localIso(time, tz)}`
      : quiet(newest);
    w.next[path] = { k: s.k, v, ts: late ? s.ts : time, text, obs, seen: newest };
    return { v, fresh: !late, text, obs };
  }
  if (late) return keep(s);
  let v: boolean = s.v ?? false;
  let text = s.text;
  if (v && seen !== null && time - seen >= clearMs) {
    v = false;
    text = quiet(seen);
  }
  w.next[path] = { ...s, v, ts: time, text };
  return { v, fresh: true, text, obs: s.obs };
}

// ---------------------------------------------------------------------------------------------
// Local-time schedule

const DAY_NAMES = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * In [from, to) of local time; a window past midnight (22:00–06:00) belongs to the day it starts
 * on, so `days: [5]` with 22:00–06:00 is Friday night including Saturday 00:00–06:00.
 */
export function inSchedule(c: ScheduleCondition, ts: number, timezone: string): boolean {
  const local = ts + offsetAt(timezone, ts);
  const minute = Math.floor((((local % 86_400_000) + 86_400_000) % 86_400_000) / 60_000);
  const isoDay = ((new Date(local).getUTCDay() + 6) % 7) + 1; // 1 = Monday … 7 = Sunday
  const from = minutesOf(c.from);
  const to = minutesOf(c.to);
  let day: number;
  if (from < to) {
    if (minute < from || minute >= to) return false;
    day = isoDay;
  } else if (minute >= from) day = isoDay;
  else if (minute < to) day = isoDay === 1 ? 7 : isoDay - 1;
  else return false;
  return !c.days || c.days.includes(day);
}

function schedule(c: ScheduleCondition, path: string, w: Walk): Result {
  const days = c.days ? ` on ${c.days.map((d) => DAY_NAMES[d] ?? String(d)).join(', ')}` : '';
  const s = loadLeaf(w, path, 'schedule', `${c.from}–${c.to}${days}: no reading yet`);
  if (w.env.mode !== 'input' || isLate(s, w.env.time)) return keep(s);
  const v = inSchedule(c, w.env.time, w.ctx.timezone);
  const text = `${v ? 'during' : 'outside'} ${c.from}–${c.to}${days}`;
  w.next[path] = { k: s.k, v, ts: w.env.time, text, obs: {} } satisfies LeafState;
  return { v, fresh: true, text, obs: {} };
}

// ---------------------------------------------------------------------------------------------
// Composites

function sustained(c: Extract<Condition, { kind: 'sustained' }>, path: string, w: Walk): Result {
  const s = loadLeaf(w, path, 'sustained', '');
  const inner = node(c.condition, `${path}.0`, w);
  const forMs = durationMs(c.for);
  const time = w.env.time;
  let since = num(s.since);
  let v: Truth;
  let ts = s.ts;
  if (inner.v !== true) {
    since = null;
    v = inner.v === null ? null : false;
    if (inner.fresh && !isLate(s, time) && w.env.mode === 'input') ts = time;
  } else if (since === null) {
    since = time;
    v = forMs <= 0;
    if (w.env.mode === 'input') ts = time;
  } else if (inner.fresh && w.env.mode === 'input' && !isLate(s, time)) {
    v = time - since >= forMs;
    ts = time;
  } else {
    v = s.v ?? false; // no new evidence: time does not count
  }
  let text = inner.text;
  if (inner.v === true && since !== null) {
    const held = Math.max(0, (ts ?? time) - since);
    text = v
      ? `${inner.text} for ${fmtDuration(held)}${held > forMs ? ` (at least ${c.for})` : ''}`
      : `${inner.text} for ${fmtDuration(held)} of the ${c.for} needed`;
  }
  w.next[path] = { k: s.k, v, ts, text: '', obs: {}, since };
  return { v, fresh: inner.fresh, text, obs: inner.obs };
}

function dailyCount(c: Extract<Condition, { kind: 'dailyCount' }>, path: string, w: Walk): Result {
  const s = loadLeaf(w, path, 'dailyCount', '');
  const childPath = `${path}.0`;
  const before = prevTruth(w, childPath);
  const inner = node(c.condition, childPath, w);
  const opened = before !== true && inner.v === true;
  const time = w.env.time;
  const today = localDay(time, w.ctx.timezone);
  const late = isLate(s, time);
  let day = typeof s.day === 'string' ? s.day : null;
  let n = num(s.n) ?? 0;
  // The calendar day rolls with in-order readings (and with an opening seen by a tick).
  const rolls = w.env.mode === 'input' ? !late : opened;
  if (rolls && today !== day) {
    day = today;
    n = 0;
  }
  if (opened && today === day) n += 1;
  const v = n > c.moreThan;
  const ts = w.env.mode === 'input' && !late ? time : s.ts;
  w.next[path] = { k: s.k, v, ts, text: '', obs: {}, day, n };
  const times = (k: number) => `${k} time${k === 1 ? '' : 's'}`;
  const text = v
    ? `${inner.text}; opened ${times(n)} on ${day}, more than ${c.moreThan} allowed`
    : `opened ${times(n)} on ${day ?? today} (more than ${c.moreThan} needed); latest: ${inner.text}`;
  return { v, fresh: inner.fresh, text, obs: { ...inner.obs, opened_today: n } };
}

function allAny(kind: 'all' | 'any', conditions: Condition[], path: string, w: Walk): Result {
  const results = conditions.map((child, i) => node(child, `${path}.${i}`, w));
  const vs = results.map((r) => r.v);
  let v: Truth;
  if (kind === 'all') v = vs.includes(false) ? false : vs.includes(null) ? null : true;
  else v = vs.includes(true) ? true : vs.includes(null) ? null : false;
  w.next[path] = { k: kind, v };
  const obs: Record<string, number> = {};
  for (const r of results) Object.assign(obs, r.obs);
  // The sentence names what decided: all true (all) / the true ones (any); else what is missing.
  let shown: Result[];
  let sep: string;
  if (kind === 'all') {
    shown = v === true ? results : results.filter((r) => r.v === v);
    sep = ' and ';
  } else {
    shown = v === true ? results.filter((r) => r.v === true) : results;
    sep = v === true ? ' or ' : '; ';
  }
  let text = '';
  shown.forEach((r, i) => {
    // Schedule phrases read as qualifiers ("LAeq 58 dB(A) > 55 during 22:00–06:00").
    const qualifier = /^(during|outside) /.test(r.text);
    text += i === 0 ? r.text : `${qualifier && sep === ' and ' ? ' ' : sep}${r.text}`;
  });
  if (kind === 'any' && v !== true) text = `none of: ${text}`;
  return { v, fresh: results.some((r) => r.fresh), text, obs };
}

// ---------------------------------------------------------------------------------------------
// Formatting and local time

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/** Up to 4 significant digits, whole numbers from 1000 on. */
export function fmt(x: number): string {
  if (Number.isInteger(x)) return String(x);
  if (Math.abs(x) >= 1000) return String(Math.round(x));
  return String(Number(x.toPrecision(4)));
}

/** 600000 → '10m', 5400000 → '1h 30m', 45000 → '45s'. */
export function fmtDuration(ms: number): string {
  if (ms < 1000) return ms <= 0 ? '0s' : `${Math.round(ms)}ms`;
  let rest = Math.floor(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.slice(0, 2).join(' ');
}

const offsetCache = new Map<string, number>();

/** Zone offset at `ts`, cached per 15 minutes (zone transitions happen on quarter hours). */
function offsetAt(timezone: string, ts: number): number {
  const key = `${timezone}|${Math.floor(ts / 900_000)}`;
  const hit = offsetCache.get(key);
  if (hit !== undefined) return hit;
  let off: number;
  try {
    off = zoneOffsetMs(timezone, ts);
  } catch (err) {
    throw new Error(`invalid time zone '${timezone}' in the rule context: ${(err as Error).message}`);
  }
  if (!Number.isFinite(off)) throw new Error(`invalid time zone '${timezone}' in the rule context`);
  if (offsetCache.size > 10_000) offsetCache.clear();
  offsetCache.set(key, off);
  return off;
}

/** Local calendar day 'YYYY-MM-DD' of `ts` in `timezone`. */
export function localDay(ts: number, timezone: string): string {
  return new Date(ts + offsetAt(timezone, ts)).toISOString().slice(0, 10);
}

/** ISO 8601 local time with the zone's offset: '2026-11-26T13:05:00+08:00'. */
export function localIso(ts: number, timezone: string): string {
  const off = offsetAt(timezone, ts);
  const abs = Math.abs(off) / 60_000;
  const sign = off < 0 ? '-' : '+';
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${new Date(ts + off).toISOString().slice(0, 19)}${sign}${hh}:${mm}`;
}
