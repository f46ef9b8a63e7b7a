/**
 * Limits and hysteresis, shared by the kinds that compare a value to a limit (threshold, window,
 * reference): the limit from the rule or the device's attribute, the decision with a clear level,
 * and the sentence of a decision.
 */
import type { Comparison, ValueRef } from '../../domain/index.ts';
import { fmt } from './format.ts';
import { decided, keep } from './node.ts';
import type { LeafState, Plan, Result, Walk } from './types.ts';

/** Where a limit's value came from: 0 the rule, 1 the attribute, 2 the rule's default. */
export type LimitSource = 0 | 1 | 2;

/** hit: opens; held: open, not yet back to the clear level; back: at the clear level; miss: fails. */
export type Decision = 'hit' | 'held' | 'back' | 'miss';

/** The decision, or 'unset' when the limit's attribute is not set and there is no default. */
export type Compare = Decision | 'unset';

/** The facts of a comparison to a limit, kept on the node for its sentence (`o`: a `Compare`). */
export interface Compared {
  /** The value compared (reading, aggregate or difference). */
  x?: number;
  lim?: number;
  ls?: LimitSource;
  /** The clear level in force ('held', 'back'), else null. */
  clr?: number | null;
}

function attributeNumber(raw: unknown): number | null {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : null;
  if (typeof raw === 'string' && raw.trim() !== '') {
    const n = Number(raw);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/** A threshold's value, NaN when the attribute is not set and the rule gives no default. */
export function limitOf(ref: ValueRef, attributes: Record<string, unknown>): number {
  if (typeof ref === 'number') return ref;
  const offset = ref.offset ?? 0;
  const fromAttr = attributeNumber(attributes?.[ref.attribute]);
  if (fromAttr !== null) return fromAttr + offset;
  if (ref.default !== undefined) return ref.default + offset;
  return Number.NaN;
}

/** Where `limitOf` finds the value of `ref` for these attributes. */
export function limitSource(ref: ValueRef, attributes: Record<string, unknown>): LimitSource {
  if (typeof ref === 'number') return 0;
  if (attributeNumber(attributes?.[ref.attribute]) !== null) return 1;
  return ref.default !== undefined ? 2 : 0;
}

/** ' (limit from attribute pm10Limit + 15)', ' (default, attribute pm10Limit not set)' or ''. */
function sourceText(ref: ValueRef, source: unknown): string {
  if (typeof ref === 'number' || (source !== 1 && source !== 2)) return '';
  const offset = ref.offset ?? 0;
  const plus = offset === 0 ? '' : offset > 0 ? ` + ${fmt(offset)}` : ` − ${fmt(-offset)}`;
  if (source === 1) return ` (limit from attribute ${ref.attribute}${plus})`;
  return ` (default${plus ? ` ${fmt(ref.default ?? 0)}${plus}` : ''}, attribute ${ref.attribute} not set)`;
}

export const unsetText = (ref: ValueRef) =>
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
export function decide(
  prev: boolean | null,
  x: number,
  op: Comparison,
  limit: number,
  clear: number,
): Decision {
  if (compare(op, x, limit)) return 'hit';
  if (prev === true && !Number.isNaN(clear)) return (isAbove(op) ? x <= clear : x >= clear) ? 'back' : 'held';
  return 'miss';
}

/** The sentence of a decision (`o` hit/held/back/miss) from its facts. */
export function decisionText(
  label: string,
  unit: string,
  c: { op: Comparison; value: ValueRef },
  s: Compared & { o?: string },
): string {
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

/**
 * Threshold and reference share this: the value against the (attribute) limit, with hysteresis
 * when `clear` is given; `extra` is kept on the node for the explanation. Without a limit
 * (attribute unset, no default) the node keeps its truth and says why.
 */
export function compareToLimit<K extends 'threshold' | 'reference', S extends LeafState<K> & Compared>(
  k: K,
  p: Plan,
  s: S,
  w: Walk,
  x: number,
  c: { op: Comparison; value: ValueRef; clear?: ValueRef },
  extra?: Partial<S>,
): Result {
  const time = w.env.time;
  const attributes = w.ctx.attributes;
  const limit = limitOf(c.value, attributes);
  if (Number.isNaN(limit)) {
    const n: S = { ...s, ts: time, o: 'unset' };
    w.next[p.path] = n;
    return keep(p, n, w);
  }
  const clear = c.clear === undefined ? Number.NaN : limitOf(c.clear, attributes);
  const o = decide(s.v, x, c.op, limit, clear);
  const v = o === 'hit' || o === 'held';
  const n = {
    k,
    v,
    ts: time,
    o,
    x,
    lim: limit,
    ls: limitSource(c.value, attributes),
    clr: o === 'held' || o === 'back' ? clear : null,
    ...extra,
  } as S;
  return decided(p, n, w);
}
