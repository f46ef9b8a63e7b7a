/**
 * `window`: the aggregate (avg, max, min) of the readings in (t − window, t] of event time compares
 * to a limit, with the same hysteresis as a threshold. At most WINDOW_MAX_SAMPLES are kept. A late
 * reading is filed into the window (the next in-order reading sees it) without re-deciding.
 *
 * Rules evaluated on the same message object (the engine passes one input to all of them) with the
 * same window over the same samples get the same next window: computed once, held once
 * (`site-pm10-15min` and the window inside `site-pm10-daily`).
 */
import { durationMs, type WindowCondition } from '../../domain/index.ts';
import { durationAdjective, round, unitOf } from './format.ts';
import {
  type Compare,
  type Compared,
  decide,
  decisionText,
  limitOf,
  limitSource,
  unsetText,
} from './limits.ts';
import { isLate, keep, leafResult, leafSpec, loadLeaf, owned, readingOf } from './node.ts';
import type { LeafState, RuleInput } from './types.ts';
import { WindowSamples } from './window-samples.ts';

/** Samples a window keeps at most (the oldest are dropped first). */
export const WINDOW_MAX_SAMPLES = 2000;

const AGG_WORD = { avg: 'average', max: 'maximum', min: 'minimum' } as const;

export interface WindowState extends LeafState<'window'>, Compared {
  o?: Compare;
  /** The samples: a view in memory, `[ts, value]` pairs as persisted (both accepted as input). */
  s?: WindowSamples | unknown;
  /** The running compensated sum of the samples (sum + sumc). */
  sum?: number;
  sumc?: number;
}

/** The window step of one message, for the windows with the same signature. */
interface Step {
  prev: WindowSamples | null;
  time: number;
  x: number;
  next: WindowSamples;
}

/**
 * The window steps of the message being evaluated, by window signature, so rules that share a window
 * add a reading to it once. The rules of one message run one after another (rules/runtime.ts), so one
 * slot serves them: a message object other than the slot's empties it. A hit only ever returns what
 * `WindowSamples.add` would have returned for the same previous samples, time and value, so a miss
 * (another engine in the process, a message with several timestamps) only costs the add. Issue 13: it
 * was a WeakMap keyed by the message, an entry and a Map per message and ephemerons for the GC.
 */
let stepsInput: RuleInput | undefined;
const steps = new Map<string, Step>();

function stepsOf(input: RuleInput): Map<string, Step> {
  if (input !== stepsInput) {
    steps.clear();
    stepsInput = input;
  }
  return steps;
}

export const window = leafSpec<'window', WindowState>({
  kind: 'window',
  compile(p, env) {
    const c = p.c;
    p.unit = unitOf(env.profile, c.key);
    p.ms = durationMs(c.window);
    p.label = `${c.key} ${durationAdjective(c.window)} ${AGG_WORD[c.agg]}`;
    p.obsKey = `${c.key}_${c.agg}_${c.window}`;
    p.sig = `${c.key}\u0000${p.ms}\u0000${c.agg}`;
  },
  evaluate(p, w) {
    const c = p.c;
    let s = loadLeaf<WindowState>(w, p);
    if (s.s !== undefined && !(s.s instanceof WindowSamples)) {
      // Samples as persisted (pairs): the state from here on holds them as a view.
      const view = WindowSamples.fromJSON(s.s, s.sum, s.sumc, c.agg);
      s = { ...s, s: view ?? undefined, sum: view?.sum, sumc: view?.comp };
      w.next[p.path] = s;
    }
    const x = readingOf(w, c.key);
    if (x === undefined || w.env.mode !== 'input') return keep(p, s, w);
    const time = w.env.time;
    const prev = s.s instanceof WindowSamples ? s.s : null;
    const steps = stepsOf(w.env.input);
    const hit = steps.get(p.sig);
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
      steps.set(p.sig, { prev, time, x, next: samples });
    }
    const sum = samples.sum;
    const sumc = samples.comp;

    if (isLate(s, time)) {
      // Filed into the window; the truth is only re-decided by the next in-order reading.
      w.next[p.path] = { ...s, s: samples, sum, sumc };
      return keep(p, s, w);
    }
    const agg = samples.aggregate(c.agg);
    const attributes = w.ctx.attributes;
    const limit = limitOf(c.value, attributes);
    if (Number.isNaN(limit)) {
      const n: WindowState = { ...s, ts: time, s: samples, sum, sumc, o: 'unset' };
      w.next[p.path] = n;
      return keep(p, n, w);
    }
    const clear = c.clear === undefined ? Number.NaN : limitOf(c.clear, attributes);
    const o = decide(s.v, agg, c.op, limit, clear);
    const v = o === 'hit' || o === 'held';
    if (owned(w, p, s) && s.o !== undefined) {
      // The caller owns the state: this message allocates no new node (issue 13, GC).
      s.v = v;
      s.ts = time;
      s.o = o;
      s.x = agg;
      s.lim = limit;
      s.ls = limitSource(c.value, attributes);
      s.clr = o === 'held' || o === 'back' ? clear : null;
      s.s = samples;
      s.sum = sum;
      s.sumc = sumc;
      return leafResult(v, true, p, s, '');
    }
    const n: WindowState = {
      k: 'window',
      v,
      ts: time,
      o,
      x: agg,
      lim: limit,
      ls: limitSource(c.value, attributes),
      clr: o === 'held' || o === 'back' ? clear : null,
      s: samples,
      sum,
      sumc,
    };
    w.next[p.path] = n;
    return leafResult(v, true, p, n, '');
  },
  render(p, s) {
    if (s.o === 'unset') return `${p.label}: ${unsetText(p.c.value)}`;
    return decisionText(p.label, p.unit, p.c, s);
  },
  facts: (p, s) => (typeof s.x === 'number' ? { [p.obsKey]: round(s.x) } : undefined),
  initialText: (p) => `${p.c.key}: no reading yet`,
  keys: (c, add) => add(c.key),
  limits(c: WindowCondition, attributes, out) {
    const value = limitOf(c.value, attributes);
    if (Number.isFinite(value)) out.push({ key: c.key, op: c.op, value, agg: c.agg, window: c.window });
  },
});
