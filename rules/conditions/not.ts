/**
 * `not`: the inner condition's truth negated; not of unknown is unknown (so `not(x)` does not fire
 * before `x` has been seen).
 */
import { compositeResult, evaluateNode, isObj, obsOf, textOf } from './node.ts';
import type { ConditionOf, ConditionSpec, Truth } from './types.ts';

export interface NotState {
  k: 'not';
  v: Truth;
}

export const not: ConditionSpec<ConditionOf<'not'>> = {
  kind: 'not',
  compile(p, env) {
    p.kids = [env.child(p.c.condition, 0)];
  },
  evaluate(p, w) {
    const inner = evaluateNode(p.kids[0]!, w);
    const v = inner.v === null ? null : !inner.v;
    const prev = w.prev[p.path];
    if (!(isObj(prev) && prev.k === 'not' && prev.v === v)) {
      const n: NotState = { k: 'not', v };
      w.next[p.path] = n;
    }
    return compositeResult(v, inner.fresh, p, inner, null, 0, '');
  },
  explain: (r) => `not (${textOf(r.kid!)})`,
  observe: (r) => obsOf(r.kid!),
  keys: (c, _add, walk) => walk(c.condition),
  ticks: (c, walk) => walk(c.condition),
  // A limit under `not` is not one the reading crossed: no evidence.
  limits: () => {},
};
