/**
 * The pure rule evaluator. No I/O and no wall clock: event time comes from the readings
 * (`RuleInput.ts`), hub time from `tick(now)`, thresholds from the context's attributes. The
 * per-device state is JSON (persisted by the engine for restart safety); the state passed in is
 * not mutated, a new one is returned — unless the caller owns it and says so (`own`: the runtime,
 * whose store holds the only reference), when it is updated in place (issue 13: a message then
 * allocates no state that outlives it). Either way the evaluation decides the same.
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
 * Each condition kind lives in its own file under `conditions/`, behind the table in
 * `conditions/registry.ts`; this file walks a rule's tree and makes the evaluation.
 *
 * Cost (this runs for every rule on every message): a rule is compiled once per condition object
 * (paths, durations, labels; rules are treated as immutable once evaluated); a moving window keeps
 * its samples in shared append-only storage with a running (compensated) sum and a monotonic deque
 * for max/min, so a reading costs O(1) amortised instead of a copy of the window; two rules with
 * the same window (`site-pm10-15min` and the one inside `site-pm10-daily`) share it for a message;
 * node states keep the facts of their last decision, and every sentence (node texts, the
 * explanation) is only written when read.
 */

import type { Rule } from '../domain/index.ts';
import { evaluateNode, isObj, obsOf, textOf } from './conditions/node.ts';
import { planOf } from './conditions/registry.ts';
import type { Env, Obs, Result, RuleContext, RuleInput, Walk } from './conditions/types.ts';

export { fmt, fmtDuration } from './conditions/format.ts';
export { localDay, localIso } from './conditions/local-time.ts';
export { RATE_MAX_GAP_MS, RATE_MIN_GAP_MS } from './conditions/rate.ts';
export { REFERENCE_MAX_AGE_MS } from './conditions/reference.ts';
export { limitsOf, needsTick, usesKeys } from './conditions/registry.ts';
export { inSchedule } from './conditions/schedule.ts';
export type { Limit, RuleContext, RuleInput } from './conditions/types.ts';
export { WINDOW_MAX_SAMPLES } from './conditions/window.ts';
export { WindowSamples } from './conditions/window-samples.ts';

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

export function initialState(): RuleState {
  return { active: false, since: null, lastTs: null, nodes: {} };
}

const NO_EVENTS: RuleInput['events'] = Object.freeze([]) as unknown as RuleInput['events'];
const validEvent = (e: RuleInput['events'][number]) =>
  !!e && typeof e.type === 'string' && Number.isFinite(e.confidence);

/**
 * Evaluates one message's readings (event time). Pure unless `own`: `state` is not modified and a
 * new one is returned. With `own`, the caller hands the state over (the runtime, which holds the
 * only reference): it is updated in place and returned, so a message allocates no new state. The
 * evaluation it returns is then only good until the next evaluation of that state (its
 * explanation and observations are written from the state when read).
 */
export function evaluate(
  rule: Rule,
  state: RuleState | undefined,
  input: RuleInput,
  ctx: RuleContext,
  own = false,
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
  return run(rule, state, { mode: 'input', time: input.ts, values, events, arrival, input }, ctx, own);
}

/**
 * Hub-clock evaluation: absence opens, event conditions clear after `clearAfter`; nothing else
 * changes (thresholds, windows, schedules only move with readings).
 */
export function tick(rule: Rule, state: RuleState | undefined, now: number, ctx: RuleContext): Evaluation {
  if (!Number.isFinite(now)) throw new Error(`rule ${rule.id}: tick needs a finite time, got ${now}`);
  return run(rule, state, { mode: 'tick', time: now }, ctx, false);
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

function run(rule: Rule, state: RuleState | undefined, env: Env, ctx: RuleContext, own: boolean): Evaluation {
  const plan = planOf(rule);
  // A missing or malformed stored state starts afresh (an unreadable state must not stop the rule).
  const valid = isState(state);
  const prev = valid ? state : initialState();
  // Owned: the nodes are updated where they are (each node reads its own stored state, and a
  // composite its child's, before writing its own). Otherwise the stored nodes of this rule's
  // conditions are carried over into a new object, replaced as they are evaluated (every node has
  // one afterwards: a leaf not decided yet keeps its initial state).
  const inPlace = own && valid;
  const w: Walk = {
    ctx,
    env,
    prev: prev.nodes,
    next: inPlace ? prev.nodes : plan.copy(prev.nodes),
    snapshots: [],
    own: inPlace,
  };
  const r = evaluateNode(plan.root, w);
  const active = r.v === true;
  const transition = active && !prev.active ? 'open' : !active && prev.active ? 'clear' : null;
  const since = active ? (prev.active ? (prev.since ?? env.time) : env.time) : null;
  const lastTs =
    env.mode === 'input' ? (prev.lastTs === null ? env.time : Math.max(prev.lastTs, env.time)) : prev.lastTs;
  if (inPlace) {
    prev.active = active;
    prev.since = since;
    prev.lastTs = lastTs;
    return new Outcome(prev, transition, active, r, w.snapshots);
  }
  return new Outcome({ active, since, lastTs, nodes: w.next }, transition, active, r, w.snapshots);
}
