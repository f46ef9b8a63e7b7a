/**
 * `dailyCount`: the inner condition opened (false → true) more than `moreThan` times in the current
 * local calendar day; resets with the first message after local midnight.
 */
import { localDay } from './local-time.ts';
import {
  compositeResult,
  evaluateNode,
  loadComposite,
  num,
  obsOf,
  owned,
  prevTruth,
  textOf,
} from './node.ts';
import type { ConditionOf, ConditionSpec } from './types.ts';

export interface DailyCountState {
  k: 'dailyCount';
  v: boolean;
  ts: number | null;
  /** The local day counted ('YYYY-MM-DD') and the openings in it. */
  day: string | null;
  n: number;
}

export const dailyCount: ConditionSpec<ConditionOf<'dailyCount'>> = {
  kind: 'dailyCount',
  compile(p, env) {
    p.kids = [env.child(p.c.condition, 0)];
  },
  evaluate(p, w) {
    const s = loadComposite(w, p);
    const child = p.kids[0]!;
    const before = prevTruth(w, child.path);
    const inner = evaluateNode(child, w);
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
    const v = n > p.c.moreThan;
    const ts = w.env.mode === 'input' && !late ? time : sTs;
    if (owned(w, p, s) && s!.day !== undefined) {
      // The caller owns the state: a message allocates no new node (issue 13, GC).
      s!.v = v;
      s!.ts = ts;
      s!.day = day;
      s!.n = n;
    } else {
      const next: DailyCountState = { k: 'dailyCount', v, ts, day, n };
      w.next[p.path] = next;
    }
    return compositeResult(v, inner.fresh, p, inner, null, n, day ?? today);
  },
  explain(r) {
    const inner = textOf(r.kid!);
    const moreThan = (r.p.c as ConditionOf<'dailyCount'>).moreThan;
    const n = r.n;
    const times = `${n} time${n === 1 ? '' : 's'}`;
    return r.v === true
      ? `${inner}; opened ${times} on ${r.day}, more than ${moreThan} allowed`
      : `opened ${times} on ${r.day} (more than ${moreThan} needed); latest: ${inner}`;
  },
  observe: (r) => ({ ...obsOf(r.kid!), opened_today: r.n }),
  keys: (c, _add, walk) => walk(c.condition),
  ticks: (c, walk) => walk(c.condition),
  limits: (c, _attributes, _out, walk) => walk(c.condition),
};
