/**
 * `all` / `any` (Kleene logic): a child with no data yet is unknown; `all` is false if one child is
 * false, `any` true if one is true. Their stored state has no sentence: it is written from the
 * children's.
 */
import type { Condition } from '../../domain/index.ts';
import { compositeResult, evaluateNode, isObj, obsOf, textOf } from './node.ts';
import type { ConditionOf, ConditionSpec, Obs, Plan, Result, Truth, Walk } from './types.ts';

export interface AllAnyState {
  k: 'all' | 'any';
  v: Truth;
}

function evaluateAllAny(p: Plan<ConditionOf<'all' | 'any'>>, w: Walk): Result {
  const kind = p.kind as 'all' | 'any';
  const results: Result[] = [];
  let anyTrue = false;
  let anyFalse = false;
  let anyNull = false;
  let fresh = false;
  for (const kid of p.kids) {
    const r = evaluateNode(kid, w);
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
  if (!(isObj(prev) && prev.k === kind && prev.v === v)) {
    const n: AllAnyState = { k: kind, v };
    w.next[p.path] = n;
  }
  return compositeResult(v, fresh, p, null, results, 0, '');
}

function explainAllAny(r: Result): string {
  const kind = r.p.kind as 'all' | 'any';
  const results = r.kids!;
  const v = r.v;
  // The sentence names what decided: all true (all) / the true ones (any); else what is missing.
  let shown: Result[];
  let sep: string;
  if (kind === 'all') {
    shown = v === true ? results : results.filter((x) => x.v === v);
    sep = ' and ';
  } else {
    shown = v === true ? results.filter((x) => x.v === true) : results;
    sep = v === true ? ' or ' : '; ';
  }
  let text = '';
  shown.forEach((x, i) => {
    const t = textOf(x);
    // Schedule phrases read as qualifiers ("LAeq 58 dB(A) > 55 during 22:00–06:00").
    const qualifier = /^(during|outside) /.test(t);
    text += i === 0 ? t : `${qualifier && sep === ' and ' ? ' ' : sep}${t}`;
  });
  if (kind === 'any' && v !== true) text = `none of: ${text}`;
  return text;
}

function observeAllAny(r: Result): Obs {
  const obs: Obs = {};
  for (const kid of r.kids!) Object.assign(obs, obsOf(kid));
  return obs;
}

function allAnySpec(kind: 'all' | 'any'): ConditionSpec<ConditionOf<'all' | 'any'>> {
  return {
    kind,
    compile(p, env) {
      p.kids = p.c.conditions.map((c: Condition, i) => env.child(c, i));
    },
    evaluate: evaluateAllAny,
    explain: explainAllAny,
    observe: observeAllAny,
    keys(c, _add, walk) {
      for (const child of c.conditions) walk(child);
    },
    ticks: (c, walk) => c.conditions.some(walk),
    limits(c, _attributes, _out, walk) {
      for (const child of c.conditions) walk(child);
    },
  };
}

export const all = allAnySpec('all');
export const any = allAnySpec('any');
