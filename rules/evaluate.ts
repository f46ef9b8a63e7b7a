/**
 * The pure rule evaluator. No I/O and no wall clock: event time comes from the readings
 * (`RuleInput.ts`), hub time from `tick(now)`, thresholds from the context's attributes. The
 * per-device state is JSON (persisted by the engine for restart safety); the state passed in is
 * never mutated, a new one is returned.
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
 *
 * Cost (this runs for every rule on every message): a rule is compiled once per condition object
 * (paths, durations, labels; rules are treated as immutable once evaluated); a moving window keeps
 * its samples in shared append-only storage with a running (compensated) sum and a monotonic deque
 * for max/min, so a reading costs O(1) amortised instead of a copy of the window; two rules with
 * the same window (`site-pm10-15min` and the one inside `site-pm10-daily`) share it for a message;
 * node states keep the facts of their last decision, and every sentence (node texts, the
 * explanation) is only written when read.
 */
import { PROFILES, type ProfileSpec } from '../domain/index.ts';
import { zoneOffsetMs } from '../kernel/index.ts';
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
  /**
   * Per-condition state keyed by the condition's path: root "0", its children "0.0", "0.1", …
   * `JSON.stringify` gives the persisted form; a window node's `s` is a `WindowSamples` view in
   * memory and an array of `[ts, value]` pairs in JSON (both are accepted as input).
   */
  nodes: Record<string, unknown>;
}

export interface Evaluation {
  state: RuleState;
  transition: 'open' | 'clear' | null;
  active: boolean;
  /**
   * The English sentence saying why (e.g. `pm10 15-minute average 96.4 µg/m³ > 80`), for every
   * evaluation, transition or not. It is written on first read (a getter, memoised) — most
   * evaluations change nothing and nobody reads it — so it is not an own property: a spread
   * (`{ ...ev }`) loses it, `JSON.stringify(ev)` keeps it (`toJSON`).
   */
  readonly explanation: string;
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

const NO_EVENTS: RuleInput['events'] = [];
const validEvent = (e: RuleInput['events'][number]) =>
  !!e && typeof e.type === 'string' && Number.isFinite(e.confidence);

/** Evaluates one message's readings (event time). Pure: `state` is not modified. */
export function evaluate(
  rule: Rule,
  state: RuleState | undefined,
  input: RuleInput,
  ctx: RuleContext,
): Evaluation {
  if (!Number.isFinite(input?.ts))
    throw new Error(`rule ${rule.id}: input.ts must be a finite epoch in milliseconds, got ${input?.ts}`);
  // Values are read per key (a non-finite value counts as absent); no copy of the message.
  const values = isObj(input.values) ? (input.values as Record<string, unknown>) : {};
  let events = Array.isArray(input.events) ? input.events : NO_EVENTS;
  for (const e of events) {
    if (!validEvent(e)) {
      events = events.filter(validEvent);
      break;
    }
  }
  const arrival = Number.isFinite(input.receivedAt) ? (input.receivedAt as number) : input.ts;
  return run(rule, state, { mode: 'input', time: input.ts, values, events, arrival, input }, ctx);
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
// Compiled rules: what does not change between evaluations, worked out once per condition object

/** One condition node, with everything that depends only on the rule. */
interface Plan {
  c: Condition;
  kind: ConditionKind;
  path: string;
  kids: Plan[];
  /** ' µg/m³', '°' or '' (the key's unit in the rule's profile). */
  unit: string;
  /** window: 'pm10 15-minute average'; event: 'street vending'; schedule: '22:00–06:00 on Fri'. */
  label: string;
  /** The `observed` key: 'pm10_avg_15m', 'temperature_rate_per_min', 'smoke_fire_confidence'. */
  obsKey: string;
  /** window span, absence limit, event clearAfter, sustained `for` (ms). */
  ms: number;
  /** Windows with the same key, span and aggregate share their samples within a message. */
  sig: string;
  /** A leaf's state before its first decision (shared, never modified). */
  initial: Leaf;
}

interface Compiled {
  profile: string;
  root: Plan;
  /** Every node's path, root first. */
  paths: string[];
  /** A new nodes object with the nodes of `paths` taken from the one given. */
  copy: (nodes: Record<string, unknown>) => Record<string, unknown>;
}

/**
 * The copier of a rule's nodes: an object literal with the rule's paths as keys, made once per rule,
 * is several times faster than a spread or keyed stores (the root key '0' is an array index, which
 * puts objects built key by key on V8's slow paths). Plain loop where code generation is disabled.
 */
function copier(paths: string[]): Compiled['copy'] {
  try {
    const body = `return {${paths.map((p) => `${JSON.stringify(p)}: o[${JSON.stringify(p)}]`).join(', ')}};`;
    return new Function('o', body) as Compiled['copy'];
  } catch {
    return (o) => {
      const next: Record<string, unknown> = {};
      for (const path of paths) next[path] = o[path];
      return next;
    };
  }
}

const compiled = new WeakMap<Condition, Compiled>();

function planOf(rule: Rule): Compiled {
  const hit = compiled.get(rule.condition);
  if (hit && hit.profile === rule.appliesTo.profile) return hit;
  const profile = (PROFILES as Record<string, ProfileSpec>)[rule.appliesTo.profile];
  const root = compile(rule, rule.condition, '0', profile);
  const paths: string[] = [];
  const walk = (p: Plan) => {
    paths.push(p.path);
    for (const kid of p.kids) walk(kid);
  };
  walk(root);
  const plan = { profile: rule.appliesTo.profile, root, paths, copy: copier(paths) };
  compiled.set(rule.condition, plan);
  return plan;
}

const AGG_WORD = { avg: 'average', max: 'maximum', min: 'minimum' } as const;
const UNIT_WORD: Record<string, string> = {
  ms: 'millisecond',
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
};
const DAY_NAMES = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** '15m' → '15-minute'. */
function durationAdjective(d: string): string {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(d.trim());
  return m ? `${m[1]}-${UNIT_WORD[m[2]!]}` : d;
}

function unitOf(profile: ProfileSpec | undefined, key: string): string {
  const unit = (profile?.keys as Record<string, { unit?: string }> | undefined)?.[key]?.unit;
  if (!unit) return '';
  return unit === '°' ? '°' : ` ${unit}`;
}

function compile(rule: Rule, c: Condition, path: string, profile: ProfileSpec | undefined): Plan {
  const p: Plan = {
    c,
    kind: c.kind,
    path,
    kids: [],
    unit: '',
    label: '',
    obsKey: '',
    ms: 0,
    sig: '',
    initial: Object.freeze({ k: c.kind, v: null, ts: null }),
  };
  const child = (x: Condition, i: number) => compile(rule, x, `${path}.${i}`, profile);
  switch (c.kind) {
    case 'threshold':
    case 'reference':
      p.unit = unitOf(profile, c.key);
      break;
    case 'window':
      p.unit = unitOf(profile, c.key);
      p.ms = durationMs(c.window);
      p.label = `${c.key} ${durationAdjective(c.window)} ${AGG_WORD[c.agg]}`;
      p.obsKey = `${c.key}_${c.agg}_${c.window}`;
      p.sig = `${c.key}\u0000${p.ms}\u0000${c.agg}`;
      break;
    case 'rate':
      p.unit = unitOf(profile, c.key);
      p.obsKey = `${c.key}_rate_per_min`;
      p.ms = c.minSpan ? durationMs(c.minSpan) : RATE_MIN_GAP_MS;
      break;
    case 'absence':
      p.ms = durationMs(c.expectedEvery) * c.intervals;
      break;
    case 'event':
      p.ms = durationMs(c.clearAfter);
      p.label = c.type.replaceAll('_', ' ');
      p.obsKey = `${c.type}_confidence`;
      break;
    case 'schedule':
      p.label = `${c.from}–${c.to}${c.days ? ` on ${c.days.map((d) => DAY_NAMES[d] ?? String(d)).join(', ')}` : ''}`;
      break;
    case 'sustained':
      p.ms = durationMs(c.for);
      p.kids = [child(c.condition, 0)];
      break;
    case 'dailyCount':
    case 'not':
      p.kids = [child(c.condition, 0)];
      break;
    case 'all':
    case 'any':
      p.kids = c.conditions.map(child);
      break;
    default:
      throw new Error(
        `rule ${rule.id}: unknown condition kind '${(c as { kind?: unknown }).kind}' at condition path ${path}`,
      );
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Walking the condition tree

type Truth = boolean | null;
type Obs = Record<string, number>;

type Env =
  | {
      mode: 'input';
      time: number;
      values: Record<string, unknown>;
      events: RuleInput['events'];
      arrival: number;
      /** The caller's input object: rules evaluated on the same message share their windows. */
      input: RuleInput;
    }
  | { mode: 'tick'; time: number };

interface Walk {
  ctx: RuleContext;
  env: Env;
  prev: Record<string, unknown>;
  next: Record<string, unknown>;
  snapshots: string[];
}

/**
 * A node's outcome, and what its sentence is written from when read (`textOf`): a leaf's state, a
 * composite's children and counts. One object of one shape per node and evaluation.
 */
interface Result {
  v: Truth;
  /** The node decided on new evidence in this evaluation (sustained only counts time on it). */
  fresh: boolean;
  p: Plan;
  /** Leaf: its state (never modified once made). */
  s: Leaf | null;
  /** Leaf: the zone its times are shown in. */
  tz: string;
  /** sustained, dailyCount, not: the child. */
  kid: Result | null;
  /** all, any: the children. */
  kids: Result[] | null;
  /** sustained: time held (−1: the child's sentence as it is); dailyCount: openings today. */
  n: number;
  /** dailyCount: the day counted. */
  day: string;
}

function leafResult(v: Truth, fresh: boolean, p: Plan, s: Leaf, tz: string): Result {
  return { v, fresh, p, s, tz, kid: null, kids: null, n: 0, day: '' };
}

/**
 * Stored state of a leaf node: truth, the event time it last evaluated, and the facts of its last
 * decision, from which its sentence and observations are written when read (`o` names the
 * sentence; states written before facts existed carry the sentence as `text` and the observations
 * as `obs`).
 */
interface Leaf {
  k: ConditionKind;
  v: Truth;
  ts: number | null;
  o?: string;
  text?: string;
  obs?: Obs;
  [field: string]: unknown;
}

class Outcome implements Evaluation {
  readonly #root: Result;
  #text: string | undefined;
  #observed: Obs | undefined;
  constructor(
    public state: RuleState,
    public transition: 'open' | 'clear' | null,
    public active: boolean,
    root: Result,
    public snapshots: string[],
  ) {
    this.#root = root;
  }
  get explanation(): string {
    this.#text ??= textOf(this.#root);
    return this.#text;
  }
  get observed(): Obs {
    this.#observed ??= obsOf(this.#root);
    return this.#observed;
  }
  toJSON() {
    const { state, transition, active, explanation, observed, snapshots } = this;
    return { state, transition, active, explanation, observed, snapshots };
  }
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
  const plan = planOf(rule);
  // A missing or malformed stored state starts afresh (an unreadable state must not stop the rule).
  const prev = isState(state) ? state : initialState();
  // The stored nodes of this rule's conditions are carried over, replaced as they are evaluated
  // (every node has one afterwards: a leaf not decided yet keeps its initial state).
  const w: Walk = { ctx, env, prev: prev.nodes, next: plan.copy(prev.nodes), snapshots: [] };
  const r = node(plan.root, w);
  const active = r.v === true;
  const transition = active && !prev.active ? 'open' : !active && prev.active ? 'clear' : null;
  const since = active ? (prev.active ? (prev.since ?? env.time) : env.time) : null;
  const lastTs =
    env.mode === 'input' ? (prev.lastTs === null ? env.time : Math.max(prev.lastTs, env.time)) : prev.lastTs;
  return new Outcome({ active, since, lastTs, nodes: w.next }, transition, active, r, w.snapshots);
}

function node(p: Plan, w: Walk): Result {
  switch (p.kind) {
    case 'threshold':
      return threshold(p, w);
    case 'window':
      return windowNode(p, w);
    case 'rate':
      return rate(p, w);
    case 'reference':
      return reference(p, w);
    case 'absence':
      return absence(p, w);
    case 'event':
      return eventNode(p, w);
    case 'schedule':
      return schedule(p, w);
    case 'sustained':
      return sustained(p, w);
    case 'dailyCount':
      return dailyCount(p, w);
    case 'all':
    case 'any':
      return allAny(p, w);
    case 'not':
      return notNode(p, w);
  }
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const truth = (x: unknown): Truth => (x === true || x === false ? x : null);

/** A finite number of the message under `key`, else undefined (absent). */
function readingOf(w: Walk, key: string): number | undefined {
  if (w.env.mode !== 'input') return undefined;
  const x = w.env.values[key];
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/**
 * The stored leaf state at the node's path when it belongs to a condition of this kind (as stored:
 * nothing is copied unless a field needs repair), else a fresh one.
 */
function loadLeaf(w: Walk, p: Plan): Leaf {
  const s = w.prev[p.path];
  if (!isObj(s) || s.k !== p.kind) return p.initial;
  const v = s.v;
  const ts = s.ts;
  const obs = s.obs;
  if (
    (v === true || v === false || v === null) &&
    (ts === null || (typeof ts === 'number' && Number.isFinite(ts))) &&
    (obs === undefined || isObj(obs)) &&
    (s.text === undefined || typeof s.text === 'string') &&
    (s.o === undefined || typeof s.o === 'string')
  )
    return s as Leaf;
  return {
    ...s,
    k: p.kind,
    v: truth(v),
    ts: num(ts),
    obs: isObj(obs) ? (obs as Obs) : undefined,
    text: typeof s.text === 'string' ? s.text : undefined,
    o: typeof s.o === 'string' ? s.o : undefined,
  };
}

function keep(p: Plan, s: Leaf, w: Walk): Result {
  if (w.next[p.path] === undefined) w.next[p.path] = s;
  return leafResult(s.v, false, p, s, w.ctx.timezone);
}

function prevTruth(w: Walk, path: string): Truth {
  const s = w.prev[path];
  return isObj(s) ? truth(s.v) : null;
}

function isLate(s: Leaf, time: number): boolean {
  return s.ts !== null && time < s.ts;
}

// ---------------------------------------------------------------------------------------------
// Thresholds and hysteresis

function attributeNumber(raw: unknown): number | null {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : null;
  if (typeof raw === 'string' && raw.trim() !== '') {
    const n = Number(raw);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/**
 * The numeric limits of a rule's threshold and window conditions for one device (attributes
 * resolved), outside any `not`: the case keeps them as evidence so the dashboard can draw the limit
 * on the trend for users who may not read rules (units, inspectors).
 */
export function limitsOf(
  rule: Rule,
  attributes: Record<string, unknown>,
): { key: string; op: string; value: number; agg?: string; window?: string }[] {
  const out: { key: string; op: string; value: number; agg?: string; window?: string }[] = [];
  const walk = (c: Condition) => {
    if (c.kind === 'threshold' || c.kind === 'window') {
      const value = limitOf(c.value, attributes);
      if (Number.isFinite(value))
        out.push({
          key: c.key,
          op: c.op,
          value,
          ...(c.kind === 'window' ? { agg: c.agg, window: c.window } : {}),
        });
    } else if (c.kind === 'all' || c.kind === 'any') c.conditions.forEach(walk);
    else if (c.kind === 'sustained' || c.kind === 'dailyCount') walk(c.condition);
  };
  walk(rule.condition);
  return out;
}

/** Where the last `limitOf` found its value: 0 the rule, 1 the attribute, 2 the default. */
let limitSource = 0;

/** A threshold's value, NaN when the attribute is not set and the rule gives no default. */
function limitOf(ref: ValueRef, attributes: Record<string, unknown>): number {
  if (typeof ref === 'number') {
    limitSource = 0;
    return ref;
  }
  const offset = ref.offset ?? 0;
  const fromAttr = attributeNumber(attributes?.[ref.attribute]);
  if (fromAttr !== null) {
    limitSource = 1;
    return fromAttr + offset;
  }
  if (ref.default !== undefined) {
    limitSource = 2;
    return ref.default + offset;
  }
  limitSource = 0;
  return Number.NaN;
}

/** ' (limit from attribute pm10Limit + 15)', ' (default, attribute pm10Limit not set)' or ''. */
function sourceText(ref: ValueRef, source: unknown): string {
  if (typeof ref === 'number' || (source !== 1 && source !== 2)) return '';
  const offset = ref.offset ?? 0;
  const plus = offset === 0 ? '' : offset > 0 ? ` + ${fmt(offset)}` : ` − ${fmt(-offset)}`;
  if (source === 1) return ` (limit from attribute ${ref.attribute}${plus})`;
  return ` (default${plus ? ` ${fmt(ref.default ?? 0)}${plus}` : ''}, attribute ${ref.attribute} not set)`;
}

const unsetText = (ref: ValueRef) =>
  `attribute ${typeof ref === 'number' ? '?' : ref.attribute} is not set and the rule gives no default`;

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

/**
 * Hysteresis: opens when `x op limit` ('hit'); once open, with a clear level (NaN: none) it stays
 * open until x is on the other side of it (≤ clear for > and ≥, ≥ clear for < and ≤: 'back';
 * before that 'held'), without one when the comparison fails ('miss').
 */
function decide(prev: Truth, x: number, op: Comparison, limit: number, clear: number): string {
  if (compare(op, x, limit)) return 'hit';
  if (prev === true && !Number.isNaN(clear)) return (isAbove(op) ? x <= clear : x >= clear) ? 'back' : 'held';
  return 'miss';
}

/** The sentence of a decision (`o` hit/held/back/miss) from its facts. */
function decisionText(label: string, unit: string, c: { op: Comparison; value: ValueRef }, s: Leaf): string {
  const x = s.x as number;
  const limit = s.lim as number;
  const shown = `${label} ${fmt(x)}${unit}`;
  const source = sourceText(c.value, s.ls);
  const clearSym = isAbove(c.op) ? '≤' : '≥';
  switch (s.o) {
    case 'hit':
      return `${shown} ${SYM[c.op]} ${fmt(limit)}${source}`;
    case 'held':
      return `${shown} not yet back to the clear level (opened at ${SYM[c.op]} ${fmt(limit)}${source}, clears at ${clearSym} ${fmt(s.clr as number)})`;
    case 'back':
      return `${shown} ${clearSym} ${fmt(s.clr as number)} (back to the clear level)`;
    default:
      return `${shown} ${NEG[c.op]} ${fmt(limit)}${source}`;
  }
}

function threshold(p: Plan, w: Walk): Result {
  const c = p.c as ThresholdCondition;
  const s = loadLeaf(w, p);
  const x = readingOf(w, c.key);
  if (x === undefined || isLate(s, w.env.time)) return keep(p, s, w);
  return compareToLimit('threshold', p, s, w, x, c);
}

/**
 * Threshold and reference share this: the value against the (attribute) limit, with hysteresis
 * when `clear` is given; `extra` is kept on the node for the explanation.
 */
function compareToLimit(
  k: 'threshold' | 'reference',
  p: Plan,
  s: Leaf,
  w: Walk,
  x: number,
  c: { op: Comparison; value: ValueRef; clear?: ValueRef },
  extra?: Partial<Leaf>,
): Result {
  const time = w.env.time;
  const limit = limitOf(c.value, w.ctx.attributes);
  if (Number.isNaN(limit)) {
    const n: Leaf = { ...s, ts: time, o: 'unset' };
    w.next[p.path] = n;
    return keep(p, n, w);
  }
  const ls = limitSource;
  const clear = c.clear === undefined ? Number.NaN : limitOf(c.clear, w.ctx.attributes);
  const o = decide(s.v, x, c.op, limit, clear);
  const v = o === 'hit' || o === 'held';
  const n: Leaf = {
    k,
    v,
    ts: time,
    o,
    x,
    lim: limit,
    ls,
    clr: o === 'held' || o === 'back' ? clear : null,
    ...extra,
  };
  w.next[p.path] = n;
  return leafResult(v, true, p, n, '');
}

// ---------------------------------------------------------------------------------------------
// Moving window

/**
 * Append-only sample storage shared by the successive states of a window (and by the windows of
 * several rules that read the same key over the same span). Only the newest view (`tip`) may
 * append; anyone else copies first, so a view's samples never change.
 */
interface Store {
  t: number[];
  x: number[];
  agg: WindowCondition['agg'];
  tip: WindowSamples | null;
  /**
   * Monotonic deque for max/min (valid for the tip): indices into t/x from `qh` on, with values
   * decreasing (max) or increasing (min) — the front is the aggregate.
   */
  q: number[];
  qh: number;
}

/** Running compensated (Neumaier) sum: scratch shared by WindowSamples.add (single-threaded). */
let accSum = 0;
let accComp = 0;
function accumulate(v: number): void {
  const t = accSum + v;
  if (Math.abs(accSum) >= Math.abs(v)) accComp += accSum - t + v;
  else accComp += v - t + accSum;
  accSum = t;
}

/**
 * The samples of one window state, oldest first: an immutable view on a `Store`, plus the running
 * sum of its values. Iterable as `[ts, value]` pairs, `length`, and `toJSON()` gives those pairs —
 * the persisted form (read back by `WindowSamples.fromJSON`).
 */
export class WindowSamples implements Iterable<[number, number]> {
  readonly #st: Store;
  readonly #a: number;
  readonly #e: number;
  /** Sum of the values (compensated: sum + comp). */
  readonly sum: number;
  readonly comp: number;

  private constructor(st: Store, a: number, e: number, sum: number, comp: number) {
    this.#st = st;
    this.#a = a;
    this.#e = e;
    this.sum = sum;
    this.comp = comp;
  }

  get length(): number {
    return this.#e - this.#a;
  }

  *[Symbol.iterator](): IterableIterator<[number, number]> {
    const { t, x } = this.#st;
    for (let i = this.#a; i < this.#e; i++) yield [t[i]!, x[i]!];
  }

  toJSON(): [number, number][] {
    const { t, x } = this.#st;
    const out = new Array<[number, number]>(this.#e - this.#a);
    for (let i = this.#a; i < this.#e; i++) out[i - this.#a] = [t[i]!, x[i]!];
    return out;
  }

  /** max/min from the deque when this is the newest view, else by a scan; avg from the sum. */
  aggregate(agg: WindowCondition['agg']): number {
    const n = this.#e - this.#a;
    if (agg === 'avg') return (this.sum + this.comp) / n;
    const st = this.#st;
    if (st.tip === this && st.agg === agg) return st.x[st.q[st.qh]!]!;
    let m = agg === 'max' ? -Infinity : Infinity;
    for (let i = this.#a; i < this.#e; i++) m = agg === 'max' ? Math.max(m, st.x[i]!) : Math.min(m, st.x[i]!);
    return m;
  }

  /** Same samples and sum (a window loaded twice from JSON, e.g. by two rules after a restart). */
  sameAs(o: WindowSamples): boolean {
    if (o === this) return true;
    const n = this.length;
    if (o.length !== n || o.sum !== this.sum || o.comp !== this.comp) return false;
    const a = this.#st;
    const b = o.#st;
    for (let i = 0; i < n; i++)
      if (a.t[this.#a + i] !== b.t[o.#a + i] || a.x[this.#a + i] !== b.x[o.#a + i]) return false;
    return true;
  }

  /** A view from persisted pairs (invalid pairs dropped, sorted); null when there is none. */
  static fromJSON(
    raw: unknown,
    sum: unknown,
    comp: unknown,
    agg: WindowCondition['agg'],
  ): WindowSamples | null {
    if (!Array.isArray(raw) || raw.length === 0) return null;
    let pairs = raw.filter(
      (p): p is [number, number] =>
        Array.isArray(p) && p.length === 2 && num(p[0]) !== null && num(p[1]) !== null,
    );
    let exact = pairs.length === raw.length;
    for (let i = 1; i < pairs.length; i++)
      if (pairs[i]![0] <= pairs[i - 1]![0]) {
        // Out of order or repeated times (not written by toJSON): in order, the later of a time kept.
        const byTime = new Map<number, number>();
        for (const [t, v] of pairs) byTime.set(t, v);
        pairs = [...byTime].sort((p, q) => p[0] - q[0]);
        exact = false;
        break;
      }
    if (pairs.length === 0) return null;
    const t = pairs.map((p) => p[0]);
    const x = pairs.map((p) => p[1]);
    if (exact && num(sum) !== null && num(comp) !== null) {
      accSum = sum as number;
      accComp = comp as number;
    } else {
      accSum = 0;
      accComp = 0;
      for (const v of x) accumulate(v);
    }
    return WindowSamples.#view(WindowSamples.#store(t, x, agg, 0), 0, t.length);
  }

  /**
   * The window after a reading at `time`: appended (in order) or filed in time order (late; a
   * reading at the time of a stored one replaces it), then samples at or before newest − span and
   * beyond `max` dropped from the front. `prev` is left as it was.
   */
  static add(
    prev: WindowSamples | null,
    time: number,
    value: number,
    span: number,
    max: number,
    agg: WindowCondition['agg'],
  ): WindowSamples {
    let st: Store;
    let a = 0;
    let e = 0;
    if (prev) {
      st = prev.#st;
      a = prev.#a;
      e = prev.#e;
      accSum = prev.sum;
      accComp = prev.comp;
    } else {
      st = WindowSamples.#store([], [], agg, 0);
      accSum = 0;
      accComp = 0;
    }
    if (e === a || time > st.t[e - 1]!) {
      if (prev && (st.tip !== prev || st.agg !== agg)) {
        st = WindowSamples.#store(st.t.slice(a, e), st.x.slice(a, e), agg, 0);
        e -= a;
        a = 0;
      }
      st.t.push(time);
      st.x.push(value);
      e++;
      accumulate(value);
      if (agg !== 'avg') {
        const q = st.q;
        const x = st.x;
        while (
          q.length > st.qh &&
          (agg === 'max' ? x[q[q.length - 1]!]! <= value : x[q[q.length - 1]!]! >= value)
        )
          q.pop();
        q.push(e - 1);
      }
    } else {
      // Late, or a re-send at a stored time: file it into a copy (rare).
      let i = e;
      while (i > a && st.t[i - 1]! > time) i--;
      const t = st.t.slice(a, e);
      const x = st.x.slice(a, e);
      if (i > a && st.t[i - 1] === time) {
        accumulate(value);
        accumulate(-x[i - 1 - a]!);
        x[i - 1 - a] = value;
      } else {
        t.splice(i - a, 0, time);
        x.splice(i - a, 0, value);
        accumulate(value);
      }
      st = WindowSamples.#store(t, x, agg, 0);
      a = 0;
      e = t.length;
    }
    // The window is (newest − span, newest]; older samples can never count again.
    const oldest = st.t[e - 1]! - span;
    while (a < e && (st.t[a]! <= oldest || e - a > max)) {
      accumulate(-st.x[a]!);
      a++;
    }
    if (e - a === 1) {
      // A lone sample: its value exactly (no drift carried on from evicted ones).
      accSum = st.x[a]!;
      accComp = 0;
    }
    if (agg !== 'avg') {
      while (st.qh < st.q.length && st.q[st.qh]! < a) st.qh++;
      if (st.qh >= 64 && st.qh * 2 >= st.q.length) {
        st.q = st.q.slice(st.qh);
        st.qh = 0;
      }
    }
    if (a >= 64 && a * 2 >= e) {
      // Most of the storage is behind the window: move the window to fresh arrays.
      const q = agg === 'avg' ? [] : st.q.slice(st.qh).map((i) => i - a);
      st = { t: st.t.slice(a, e), x: st.x.slice(a, e), agg, tip: null, q, qh: 0 };
      e -= a;
      a = 0;
    }
    return WindowSamples.#view(st, a, e);
  }

  /** A store over t/x (deque built for max/min). */
  static #store(t: number[], x: number[], agg: WindowCondition['agg'], from: number): Store {
    const q: number[] = [];
    if (agg !== 'avg')
      for (let i = from; i < x.length; i++) {
        const v = x[i]!;
        while (q.length && (agg === 'max' ? x[q[q.length - 1]!]! <= v : x[q[q.length - 1]!]! >= v)) q.pop();
        q.push(i);
      }
    return { t, x, agg, tip: null, q, qh: 0 };
  }

  /** The new tip of `st` over [a, e), with the running sum. */
  static #view(st: Store, a: number, e: number): WindowSamples {
    const v = new WindowSamples(st, a, e, accSum, accComp);
    st.tip = v;
    return v;
  }
}

/** The window step of the message being evaluated, shared by windows with the same signature. */
interface Shared {
  prev: WindowSamples | null;
  time: number;
  x: number;
  next: WindowSamples;
}
let sharedFor: RuleInput | null = null;
const shared = new Map<string, Shared>();

function samplesOf(s: Leaf, agg: WindowCondition['agg']): WindowSamples | null {
  return WindowSamples.fromJSON(s.s, s.sum, s.sumc, agg);
}

function windowNode(p: Plan, w: Walk): Result {
  const c = p.c as WindowCondition;
  let s = loadLeaf(w, p);
  if (s.s !== undefined && !(s.s instanceof WindowSamples)) {
    // Samples as persisted (pairs): the state from here on holds them as a view.
    const view = samplesOf(s, c.agg);
    s = { ...s, s: view ?? undefined, sum: view?.sum, sumc: view?.comp };
    w.next[p.path] = s;
  }
  const x = readingOf(w, c.key);
  if (x === undefined || w.env.mode !== 'input') return keep(p, s, w);
  const time = w.env.time;
  const prev = s.s instanceof WindowSamples ? s.s : null;
  // Rules evaluated on the same message (the engine passes one input object to all of them) with
  // the same window over the same samples get the same next window: computed once.
  if (sharedFor !== w.env.input) {
    shared.clear();
    sharedFor = w.env.input;
  }
  const hit = shared.get(p.sig);
  let samples: WindowSamples;
  if (
    hit &&
    hit.time === time &&
    hit.x === x &&
    (hit.prev === prev || (hit.prev !== null && prev !== null && hit.prev.sameAs(prev)))
  )
    samples = hit.next;
  else {
    samples = WindowSamples.add(prev, time, x, p.ms, WINDOW_MAX_SAMPLES, c.agg);
    shared.set(p.sig, { prev, time, x, next: samples });
  }
  const sum = samples.sum;
  const sumc = samples.comp;

  if (isLate(s, time)) {
    // Filed into the window; the truth is only re-decided by the next in-order reading.
    w.next[p.path] = { ...s, s: samples, sum, sumc };
    return keep(p, s, w);
  }
  const agg = samples.aggregate(c.agg);
  const limit = limitOf(c.value, w.ctx.attributes);
  if (Number.isNaN(limit)) {
    const n: Leaf = { ...s, ts: time, s: samples, sum, sumc, o: 'unset' };
    w.next[p.path] = n;
    return keep(p, n, w);
  }
  const ls = limitSource;
  const clear = c.clear === undefined ? Number.NaN : limitOf(c.clear, w.ctx.attributes);
  const o = decide(s.v, agg, c.op, limit, clear);
  const v = o === 'hit' || o === 'held';
  const n: Leaf = {
    k: 'window',
    v,
    ts: time,
    o,
    x: agg,
    lim: limit,
    ls,
    clr: o === 'held' || o === 'back' ? clear : null,
    s: samples,
    sum,
    sumc,
  };
  w.next[p.path] = n;
  return leafResult(v, true, p, n, '');
}

// ---------------------------------------------------------------------------------------------
// Rate of change

type Sample = [number, number];

function rate(p: Plan, w: Walk): Result {
  const c = p.c as RateCondition;
  const s = loadLeaf(w, p);
  const x = readingOf(w, c.key);
  if (x === undefined) return keep(p, s, w);
  const time = w.env.time;
  const last =
    Array.isArray(s.last) && num(s.last[0]) !== null && num(s.last[1]) !== null ? (s.last as Sample) : null;
  if (last === null) {
    w.next[p.path] = { ...s, ts: time, last: [time, x] };
    return keep(p, s, w);
  }
  const dt = time - last[0];
  // Late, a duplicate, or too close: keep the older reading as the reference.
  if (dt < (p.ms ?? RATE_MIN_GAP_MS)) return keep(p, s, w);
  if (dt > RATE_MAX_GAP_MS) {
    // Too far apart to say anything: the truth stays, this reading starts the next pair.
    w.next[p.path] = { ...s, ts: time, last: [time, x] };
    return keep(p, s, w);
  }
  const perMin = (x - last[1]) / (dt / 60_000);
  const v =
    c.direction === 'rise'
      ? perMin >= c.perMinute
      : c.direction === 'fall'
        ? perMin <= -c.perMinute
        : Math.abs(perMin) >= c.perMinute;
  const n: Leaf = { k: 'rate', v, ts: time, o: 'rate', pm: perMin, x0: last[1], x1: x, dt, last: [time, x] };
  w.next[p.path] = n;
  return leafResult(v, true, p, n, '');
}

function rateText(p: Plan, s: Leaf): string {
  const c = p.c as RateCondition;
  const perMin = s.pm as number;
  const per = `${p.unit}/min`;
  const wanted = c.direction === 'rise' ? 'a rise' : c.direction === 'fall' ? 'a fall' : 'a change';
  const moving = perMin >= 0 ? 'rising' : 'falling';
  return s.v
    ? `${c.key} ${moving} ${fmt(Math.abs(perMin))}${per} (${fmt(s.x0 as number)} → ${fmt(s.x1 as number)}${p.unit} in ${fmtDuration(s.dt as number)}), ${wanted} of at least ${fmt(c.perMinute)}${per}`
    : `${c.key} ${moving} ${fmt(Math.abs(perMin))}${per}, under ${wanted} of ${fmt(c.perMinute)}${per}`;
}

// ---------------------------------------------------------------------------------------------
// Difference to a reference device

function reference(p: Plan, w: Walk): Result {
  const c = p.c as ReferenceCondition;
  const s = loadLeaf(w, p);
  const x = readingOf(w, c.key);
  const time = w.env.time;
  if (x === undefined || isLate(s, time)) return keep(p, s, w);
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
    const n: Leaf = s.v === null ? { ...s, ts: time, o: 'noref' } : { ...s, ts: time };
    w.next[p.path] = n;
    return keep(p, n, w);
  }
  return compareToLimit('reference', p, s, w, x - ref.value, c, { own: x, rv: ref.value });
}

// ---------------------------------------------------------------------------------------------
// Absence (hub time)

function absence(p: Plan, w: Walk): Result {
  const s = loadLeaf(w, p);
  const seen = num(s.seen);
  const tz = w.ctx.timezone;
  if (w.env.mode === 'input') {
    const at = seen === null ? w.env.arrival : Math.max(seen, w.env.arrival);
    const n: Leaf = { k: 'absence', v: false, ts: s.ts, o: 'seen', seen: at, baseline: false };
    w.next[p.path] = n;
    return leafResult(false, true, p, n, tz);
  }
  const now = w.env.time;
  if (seen === null) {
    // Never seen a reading: count from the first tick that watches this device.
    const n: Leaf = { k: 'absence', v: false, ts: s.ts, o: 'watch', seen: now, baseline: true };
    w.next[p.path] = n;
    return leafResult(false, false, p, n, tz);
  }
  const silent = now - seen;
  const v = silent >= p.ms;
  const n: Leaf = { ...s, v, o: 'seen', silent };
  w.next[p.path] = n;
  return leafResult(v, v !== s.v, p, n, tz);
}

function absenceText(p: Plan, s: Leaf, tz: string): string {
  const c = p.c as AbsenceCondition;
  const seen = s.seen as number;
  if (s.o === 'watch') return `watching for data since ${localIso(seen, tz)}`;
  const last =
    s.baseline === true
      ? `no reading since watching began ${localIso(seen, tz)}`
      : `last reading ${localIso(seen, tz)}`;
  return s.v
    ? `no data for ${c.intervals} interval${c.intervals === 1 ? '' : 's'} of ${c.expectedEvery} (${last})`
    : `data arriving (${last})`;
}

// ---------------------------------------------------------------------------------------------
// Camera detections

function eventNode(p: Plan, w: Walk): Result {
  const c = p.c as EventCondition;
  const s = loadLeaf(w, p);
  const seen = num(s.seen);
  const clearMs = p.ms;

  if (w.env.mode === 'tick') {
    if (s.v === true && seen !== null && w.env.time - seen >= clearMs) {
      const n: Leaf = { ...s, v: false, o: 'quiet', q: seen };
      w.next[p.path] = n;
      return leafResult(false, true, p, n, w.ctx.timezone);
    }
    return keep(p, s, w);
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
    const n: Leaf = v
      ? {
          k: 'event',
          v,
          ts: late ? s.ts : time,
          o: 'detected',
          conf: best.confidence,
          at: time,
          seen: newest,
        }
      : { k: 'event', v, ts: late ? s.ts : time, o: 'quiet', conf: best.confidence, q: newest, seen: newest };
    w.next[p.path] = n;
    return leafResult(v, !late, p, n, w.ctx.timezone);
  }
  if (late) return keep(p, s, w);
  const v: boolean = s.v ?? false;
  const n: Leaf =
    v && seen !== null && time - seen >= clearMs
      ? { ...s, v: false, ts: time, o: 'quiet', q: seen }
      : { ...s, v, ts: time };
  w.next[p.path] = n;
  return leafResult(n.v, true, p, n, w.ctx.timezone);
}

function eventText(p: Plan, s: Leaf, tz: string): string {
  const c = p.c as EventCondition;
  if (s.o === 'detected')
    return `${p.label} detected with confidence ${fmt(s.conf as number)} at ${localIso(s.at as number, tz)}`;
  return `no ${p.label} (confidence ≥ ${fmt(c.minConfidence)}) since ${localIso(s.q as number, tz)} for ${c.clearAfter}`;
}

// ---------------------------------------------------------------------------------------------
// Local-time schedule

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * In [from, to) of local time; a window past midnight (22:00–06:00) belongs to the day it starts
 * on, so `days: [5]` with 22:00–06:00 is Friday night including Saturday 00:00–06:00.
 */
export function inSchedule(c: ScheduleCondition, ts: number, timezone: string): boolean {
  const local = ts + offsetAt(timezone, ts);
  const minute = Math.floor((((local % 86_400_000) + 86_400_000) % 86_400_000) / 60_000);
  // 1970-01-01 was a Thursday (ISO day 4): 1 = Monday … 7 = Sunday.
  const isoDay = ((((Math.floor(local / 86_400_000) + 3) % 7) + 7) % 7) + 1;
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

function schedule(p: Plan, w: Walk): Result {
  const c = p.c as ScheduleCondition;
  const s = loadLeaf(w, p);
  if (w.env.mode !== 'input' || isLate(s, w.env.time)) return keep(p, s, w);
  const v = inSchedule(c, w.env.time, w.ctx.timezone);
  const n: Leaf = { k: 'schedule', v, ts: w.env.time, o: 'schedule' };
  w.next[p.path] = n;
  return leafResult(v, true, p, n, '');
}

// ---------------------------------------------------------------------------------------------
// Leaf sentences, written from the stored facts when read

/** The sentence of a node's outcome. */
function textOf(r: Result): string {
  const p = r.p;
  switch (p.kind) {
    case 'sustained':
      return r.n < 0 ? textOf(r.kid!) : sustainedText(p, textOf(r.kid!), r.v, r.n);
    case 'dailyCount':
      return dailyText(p, textOf(r.kid!), r.v === true, r.n, r.day);
    case 'all':
    case 'any':
      return allAnyText(p.kind, r.kids!, r.v);
    case 'not':
      return `not (${textOf(r.kid!)})`;
    default:
      try {
        return renderLeaf(p, r.s!, r.tz);
      } catch {
        // A stored state whose facts were damaged must not stop the rule over a sentence.
        return r.s?.text ?? initialText(p);
      }
  }
}

/** The observations of a node's outcome (`Evaluation.observed`), written when read. */
function obsOf(r: Result): Obs {
  const p = r.p;
  switch (p.kind) {
    case 'sustained':
    case 'not':
      return obsOf(r.kid!);
    case 'dailyCount':
      return { ...obsOf(r.kid!), opened_today: r.n };
    case 'all':
    case 'any': {
      const obs: Obs = {};
      for (const kid of r.kids!) Object.assign(obs, obsOf(kid));
      return obs;
    }
    default:
      return leafObs(p, r.s!);
  }
}

/**
 * What a leaf observed in its last decision (kept while it has no newer one); the stored `obs` of
 * a state written before facts existed.
 */
function leafObs(p: Plan, s: Leaf): Obs {
  const num = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
  const x = num('x');
  switch (s.o === undefined ? undefined : p.kind) {
    case 'threshold':
      if (x !== undefined) return { [(p.c as ThresholdCondition).key]: x };
      break;
    case 'window':
      if (x !== undefined) return { [p.obsKey]: round(x) };
      break;
    case 'rate': {
      const pm = num('pm');
      if (pm !== undefined) return { [p.obsKey]: round(pm) };
      break;
    }
    case 'reference': {
      const key = (p.c as ReferenceCondition).key;
      const own = num('own');
      if (own !== undefined && x !== undefined)
        return { [key]: own, [`${key}_reference`]: s.rv as number, [`${key}_difference`]: round(x) };
      break;
    }
    case 'absence': {
      const silent = num('silent');
      if (silent !== undefined) return { silent_minutes: round(silent / 60_000) };
      break;
    }
    case 'event': {
      const conf = num('conf');
      if (conf !== undefined) return { [p.obsKey]: conf };
      break;
    }
  }
  return { ...s.obs };
}

function renderLeaf(p: Plan, s: Leaf, tz: string): string {
  if (s.o === undefined) return s.text ?? initialText(p);
  switch (p.kind) {
    case 'threshold': {
      const c = p.c as ThresholdCondition;
      if (s.o === 'unset') return `${c.key}: ${unsetText(c.value)}`;
      return decisionText(c.key, p.unit, c, s);
    }
    case 'window': {
      const c = p.c as WindowCondition;
      if (s.o === 'unset') return `${p.label}: ${unsetText(c.value)}`;
      return decisionText(p.label, p.unit, c, s);
    }
    case 'reference': {
      const c = p.c as ReferenceCondition;
      const refKey = c.referenceKey ?? c.key;
      if (s.o === 'noref')
        return `${c.key}: reference ${c.referenceDevice}.${refKey} missing or more than 2h from the reading`;
      if (s.o === 'unset') return `${c.key} difference to ${c.referenceDevice}: ${unsetText(c.value)}`;
      const label = `${c.key} ${fmt(s.own as number)}${p.unit} minus ${refKey} ${fmt(s.rv as number)}${p.unit} at ${c.referenceDevice} =`;
      return decisionText(label, p.unit, c, s);
    }
    case 'rate':
      return rateText(p, s);
    case 'absence':
      return absenceText(p, s, tz);
    case 'event':
      return eventText(p, s, tz);
    case 'schedule':
      return `${s.v ? 'during' : 'outside'} ${p.label}`;
    default:
      return s.text ?? '';
  }
}

function initialText(p: Plan): string {
  const c = p.c;
  switch (c.kind) {
    case 'threshold':
    case 'window':
    case 'reference':
      return `${c.key}: no reading yet`;
    case 'rate':
      return `${c.key}: no rate yet (needs two readings)`;
    case 'absence':
      return 'no reading yet';
    case 'event':
      return `no ${p.label} detected (confidence ≥ ${fmt(c.minConfidence)})`;
    case 'schedule':
      return `${p.label}: no reading yet`;
    default:
      return '';
  }
}

// ---------------------------------------------------------------------------------------------
// Composites (their stored state has no sentence: it is written from the children's)

/** The stored composite state at the node's path when it is of this kind. */
function loadComposite(w: Walk, p: Plan): Record<string, unknown> | undefined {
  const s = w.prev[p.path];
  return isObj(s) && s.k === p.kind ? s : undefined;
}

function sustained(p: Plan, w: Walk): Result {
  const s = loadComposite(w, p);
  const inner = node(p.kids[0]!, w);
  const forMs = p.ms;
  const time = w.env.time;
  const input = w.env.mode === 'input';
  const sTs = num(s?.ts);
  const late = sTs !== null && time < sTs;
  let since = num(s?.since);
  let v: Truth;
  let ts = sTs;
  if (inner.v !== true) {
    since = null;
    v = inner.v === null ? null : false;
    if (inner.fresh && !late && input) ts = time;
  } else if (since === null) {
    since = time;
    v = forMs <= 0;
    if (input) ts = time;
  } else if (inner.fresh && input && !late) {
    v = time - since >= forMs;
    ts = time;
  } else {
    v = truth(s?.v) ?? false; // no new evidence: time does not count
  }
  w.next[p.path] = { k: 'sustained', v, ts, since };
  const held = inner.v === true && since !== null ? Math.max(0, (ts ?? time) - since) : -1;
  return { v, fresh: inner.fresh, p, s: null, tz: '', kid: inner, kids: null, n: held, day: '' };
}

function sustainedText(p: Plan, inner: string, v: Truth, held: number): string {
  const c = p.c as Extract<Condition, { kind: 'sustained' }>;
  return v
    ? `${inner} for ${fmtDuration(held)}${held > p.ms ? ` (at least ${c.for})` : ''}`
    : `${inner} for ${fmtDuration(held)} of the ${c.for} needed`;
}

function dailyCount(p: Plan, w: Walk): Result {
  const c = p.c as Extract<Condition, { kind: 'dailyCount' }>;
  const s = loadComposite(w, p);
  const child = p.kids[0]!;
  const before = prevTruth(w, child.path);
  const inner = node(child, w);
  const opened = before !== true && inner.v === true;
  const time = w.env.time;
  const today = localDay(time, w.ctx.timezone);
  const sTs = num(s?.ts);
  const late = sTs !== null && time < sTs;
  let day = typeof s?.day === 'string' ? s.day : null;
  let n = num(s?.n) ?? 0;
  // The calendar day rolls with in-order readings (and with an opening seen by a tick).
  const rolls = w.env.mode === 'input' ? !late : opened;
  if (rolls && today !== day) {
    day = today;
    n = 0;
  }
  if (opened && today === day) n += 1;
  const v = n > c.moreThan;
  const ts = w.env.mode === 'input' && !late ? time : sTs;
  w.next[p.path] = { k: 'dailyCount', v, ts, day, n };
  return { v, fresh: inner.fresh, p, s: null, tz: '', kid: inner, kids: null, n, day: day ?? today };
}

function dailyText(p: Plan, inner: string, v: boolean, n: number, day: string): string {
  const moreThan = (p.c as Extract<Condition, { kind: 'dailyCount' }>).moreThan;
  const times = `${n} time${n === 1 ? '' : 's'}`;
  return v
    ? `${inner}; opened ${times} on ${day}, more than ${moreThan} allowed`
    : `opened ${times} on ${day} (more than ${moreThan} needed); latest: ${inner}`;
}

function allAny(p: Plan, w: Walk): Result {
  const kind = p.kind as 'all' | 'any';
  const results: Result[] = [];
  let anyTrue = false;
  let anyFalse = false;
  let anyNull = false;
  let fresh = false;
  for (const kid of p.kids) {
    const r = node(kid, w);
    results.push(r);
    if (r.v === true) anyTrue = true;
    else if (r.v === false) anyFalse = true;
    else anyNull = true;
    if (r.fresh) fresh = true;
  }
  let v: Truth;
  if (kind === 'all') v = anyFalse ? false : anyNull ? null : true;
  else v = anyTrue ? true : anyNull ? null : false;
  const prev = w.prev[p.path];
  if (!(isObj(prev) && prev.k === kind && prev.v === v)) w.next[p.path] = { k: kind, v };
  return { v, fresh, p, s: null, tz: '', kid: null, kids: results, n: 0, day: '' };
}

function allAnyText(kind: 'all' | 'any', results: Result[], v: Truth): string {
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
    const t = textOf(r);
    // Schedule phrases read as qualifiers ("LAeq 58 dB(A) > 55 during 22:00–06:00").
    const qualifier = /^(during|outside) /.test(t);
    text += i === 0 ? t : `${qualifier && sep === ' and ' ? ' ' : sep}${t}`;
  });
  if (kind === 'any' && v !== true) text = `none of: ${text}`;
  return text;
}

function notNode(p: Plan, w: Walk): Result {
  const inner = node(p.kids[0]!, w);
  const v = inner.v === null ? null : !inner.v;
  const prev = w.prev[p.path];
  if (!(isObj(prev) && prev.k === 'not' && prev.v === v)) w.next[p.path] = { k: 'not', v };
  return { v, fresh: inner.fresh, p, s: null, tz: '', kid: inner, kids: null, n: 0, day: '' };
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

const QUARTER_MS = 900_000;
const offsetCache = new Map<string, number>();
// The last zone and quarter hour asked for (readings of one time mostly ask the same).
let lastZone = '';
let lastQuarter = Number.NaN;
let lastOffset = 0;

/** Zone offset at `ts`, cached per 15 minutes (zone transitions happen on quarter hours). */
function offsetAt(timezone: string, ts: number): number {
  const quarter = Math.floor(ts / QUARTER_MS);
  if (quarter === lastQuarter && timezone === lastZone) return lastOffset;
  const key = `${timezone}|${quarter}`;
  let off = offsetCache.get(key);
  if (off === undefined) {
    try {
      off = zoneOffsetMs(timezone, ts);
    } catch (err) {
      throw new Error(`invalid time zone '${timezone}' in the rule context: ${(err as Error).message}`);
    }
    if (!Number.isFinite(off)) throw new Error(`invalid time zone '${timezone}' in the rule context`);
    if (offsetCache.size > 10_000) offsetCache.clear();
    offsetCache.set(key, off);
  }
  lastZone = timezone;
  lastQuarter = quarter;
  lastOffset = off;
  return off;
}

let dayZone = '';
let dayQuarter = Number.NaN;
let dayText = '';

/** Local calendar day 'YYYY-MM-DD' of `ts` in `timezone` (cached per zone and quarter hour). */
export function localDay(ts: number, timezone: string): string {
  const quarter = Math.floor(ts / QUARTER_MS);
  if (quarter === dayQuarter && timezone === dayZone) return dayText;
  const off = offsetAt(timezone, ts);
  const day = new Date(ts + off).toISOString().slice(0, 10);
  // With a whole number of quarter hours of offset, a quarter hour lies within one local day.
  if (off % QUARTER_MS === 0) {
    dayZone = timezone;
    dayQuarter = quarter;
    dayText = day;
  }
  return day;
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
