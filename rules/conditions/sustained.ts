/**
 * `sustained`: the inner condition has been active continuously for `for` of event time. Time
 * counts only on messages that carry the inner condition's keys (no new evidence: time does not
 * count).
 */
import { durationMs } from '../../domain/index.ts';
import { fmtDuration } from './format.ts';
import { compositeResult, evaluateNode, loadComposite, num, obsOf, textOf, truth } from './node.ts';
import type { ConditionOf, ConditionSpec, Truth } from './types.ts';

export interface SustainedState {
  k: 'sustained';
  v: Truth;
  /** Event time of the last in-order decision. */
  ts: number | null;
  /** Event time the inner condition became active (null: it is not). */
  since: number | null;
}

export const sustained: ConditionSpec<ConditionOf<'sustained'>> = {
  kind: 'sustained',
  compile(p, env) {
    p.ms = durationMs(p.c.for);
    p.kids = [env.child(p.c.condition, 0)];
  },
  evaluate(p, w) {
    const s = loadComposite(w, p);
    const inner = evaluateNode(p.kids[0]!, w);
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
    const n: SustainedState = { k: 'sustained', v, ts, since };
    w.next[p.path] = n;
    const held = inner.v === true && since !== null ? Math.max(0, (ts ?? time) - since) : -1;
    return compositeResult(v, inner.fresh, p, inner, null, held, '');
  },
  explain(r) {
    const inner = textOf(r.kid!);
    if (r.n < 0) return inner;
    const c = r.p.c as ConditionOf<'sustained'>;
    const held = r.n;
    return r.v
      ? `${inner} for ${fmtDuration(held)}${held > r.p.ms ? ` (at least ${c.for})` : ''}`
      : `${inner} for ${fmtDuration(held)} of the ${c.for} needed`;
  },
  observe: (r) => obsOf(r.kid!),
  keys: (c, _add, walk) => walk(c.condition),
  ticks: (c, walk) => walk(c.condition),
  limits: (c, _attributes, _out, walk) => walk(c.condition),
};
