/**
 * What every kind uses to walk the tree: reading the message, loading and keeping a node's state,
 * and dispatching to a node's kind through its plan (so the kinds' files never import the table and
 * the table imports them without a circle).
 */
import type { Condition } from '../../domain/index.ts';
import type { ConditionOf, ConditionSpec, LeafState, Obs, Plan, Result, Truth, Walk } from './types.ts';

export const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
export const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
export const truth = (x: unknown): Truth => (x === true || x === false ? x : null);

/** Evaluates a node by its kind. */
export function evaluateNode(p: Plan, w: Walk): Result {
  return p.spec.evaluate(p, w);
}

/** The sentence of a node's outcome. */
export function textOf(r: Result): string {
  return r.p.spec.explain(r);
}

/** The observations of a node's outcome (`Evaluation.observed`). */
export function obsOf(r: Result): Obs {
  return r.p.spec.observe(r);
}

export function leafResult(v: Truth, fresh: boolean, p: Plan, s: LeafState, tz: string): Result {
  return { v, fresh, p, s, tz, kid: null, kids: null, n: 0, day: '' };
}

/** A composite's result (sustained, dailyCount, not: one child; all, any: `kids`). */
export function compositeResult(
  v: Truth,
  fresh: boolean,
  p: Plan,
  kid: Result | null,
  kids: Result[] | null,
  n: number,
  day: string,
): Result {
  return { v, fresh, p, s: null, tz: '', kid, kids, n, day };
}

/** A finite number of the message under `key`, else undefined (absent). */
export function readingOf(w: Walk, key: string): number | undefined {
  if (w.env.mode !== 'input') return undefined;
  const x = w.env.values[key];
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/**
 * The stored leaf state at the node's path when it belongs to a condition of this kind (as stored:
 * nothing is copied unless a field needs repair), else a fresh one. Only the fields every leaf has
 * are checked here; a kind checks its own facts where it reads them.
 */
export function loadLeaf<S extends LeafState>(w: Walk, p: Plan): S {
  const s = w.prev[p.path];
  if (!isObj(s) || s.k !== p.kind) return p.initial as S;
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
    return s as unknown as S;
  return {
    ...s,
    k: p.kind,
    v: truth(v),
    ts: num(ts),
    obs: isObj(obs) ? (obs as Obs) : undefined,
    text: typeof s.text === 'string' ? s.text : undefined,
    o: typeof s.o === 'string' ? s.o : undefined,
  } as unknown as S;
}

/**
 * The node's stored state may be updated in place: the caller owns the state (`Walk.own`) and `s`
 * is the node's own stored object (not the shared initial state, not another node's).
 */
export function owned(w: Walk, p: Plan, s: unknown): boolean {
  return w.own && s !== p.initial && w.prev[p.path] === s;
}

/** The node keeps its state (it was not decided by this input). */
export function keep(p: Plan, s: LeafState, w: Walk): Result {
  if (w.next[p.path] === undefined) w.next[p.path] = s;
  return leafResult(s.v, false, p, s, w.ctx.timezone);
}

/** The node's new state, decided on this input. */
export function decided(p: Plan, s: LeafState, w: Walk, tz = ''): Result {
  w.next[p.path] = s;
  return leafResult(s.v, true, p, s, tz);
}

export function prevTruth(w: Walk, path: string): Truth {
  const s = w.prev[path];
  return isObj(s) ? truth(s.v) : null;
}

/** A reading older than the one the node last decided on (it never flips the node backwards). */
export function isLate(s: LeafState, time: number): boolean {
  return s.ts !== null && time < s.ts;
}

/** The stored composite state at the node's path when it is of this kind. */
export function loadComposite(w: Walk, p: Plan): Record<string, unknown> | undefined {
  const s = w.prev[p.path];
  return isObj(s) && s.k === p.kind ? s : undefined;
}

/**
 * The table entry of a leaf kind from its parts, with its state typed `S`: `render` writes the
 * sentence of a decision from its facts, `facts` the observations. A state written before facts
 * existed (no `o`) keeps its stored sentence and observations; a state whose facts were damaged
 * must not stop the rule over a sentence (the stored one, or the initial one, is said instead).
 */
export function leafSpec<K extends Condition['kind'], S extends LeafState<K>>(def: {
  kind: K;
  compile?: ConditionSpec<ConditionOf<K>>['compile'];
  evaluate(p: Plan<ConditionOf<K>>, w: Walk): Result;
  render(p: Plan<ConditionOf<K>>, s: S, tz: string): string;
  facts(p: Plan<ConditionOf<K>>, s: S): Obs | undefined;
  initialText(p: Plan<ConditionOf<K>>): string;
  keys: ConditionSpec<ConditionOf<K>>['keys'];
  ticks?: boolean;
  limits?: ConditionSpec<ConditionOf<K>>['limits'];
}): ConditionSpec<ConditionOf<K>> {
  const ticks = def.ticks ?? false;
  return {
    kind: def.kind,
    compile: def.compile ?? (() => {}),
    evaluate: def.evaluate,
    explain(r) {
      const p = r.p as Plan<ConditionOf<K>>;
      const s = r.s as S;
      try {
        if (s.o === undefined) return s.text ?? def.initialText(p);
        return def.render(p, s, r.tz);
      } catch {
        return s?.text ?? def.initialText(p);
      }
    },
    observe(r) {
      const s = r.s as S;
      return (s.o === undefined ? undefined : def.facts(r.p as Plan<ConditionOf<K>>, s)) ?? { ...s.obs };
    },
    keys: def.keys,
    ticks: () => ticks,
    limits: def.limits ?? (() => {}),
  };
}
