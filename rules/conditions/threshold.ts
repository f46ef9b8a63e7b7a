/** `threshold`: the reading compares to a limit, with hysteresis when `clear` is given. */
import { unitOf } from './format.ts';
import { type Compare, type Compared, compareToLimit, decisionText, limitOf, unsetText } from './limits.ts';
import { isLate, keep, leafSpec, loadLeaf, readingOf } from './node.ts';
import type { LeafState } from './types.ts';

export interface ThresholdState extends LeafState<'threshold'>, Compared {
  o?: Compare;
}

export const threshold = leafSpec<'threshold', ThresholdState>({
  kind: 'threshold',
  compile(p, env) {
    p.unit = unitOf(env.profile, p.c.key);
  },
  evaluate(p, w) {
    const c = p.c;
    const s = loadLeaf<ThresholdState>(w, p);
    const x = readingOf(w, c.key);
    if (x === undefined || isLate(s, w.env.time)) return keep(p, s, w);
    return compareToLimit('threshold', p, s, w, x, c);
  },
  render(p, s) {
    const c = p.c;
    if (s.o === 'unset') return `${c.key}: ${unsetText(c.value)}`;
    return decisionText(c.key, p.unit, c, s);
  },
  facts: (p, s) => (typeof s.x === 'number' ? { [p.c.key]: s.x } : undefined),
  initialText: (p) => `${p.c.key}: no reading yet`,
  keys: (c, add) => add(c.key),
  limits(c, attributes, out) {
    const value = limitOf(c.value, attributes);
    if (Number.isFinite(value)) out.push({ key: c.key, op: c.op, value });
  },
});
