/**
 * `rate`: the change between consecutive readings per minute. Pairs closer than the minimum gap are
 * skipped (the older reading is kept as the reference); pairs too far apart give no rate (the newer
 * reading starts afresh).
 */
import { durationMs, type RateCondition } from '../../domain/index.ts';
import { fmt, fmtDuration, round, unitOf } from './format.ts';
import { decided, keep, leafSpec, loadLeaf, num, readingOf } from './node.ts';
import type { LeafState, Plan } from './types.ts';

/** Consecutive readings closer than this are too close for a rate (the older one is kept). */
export const RATE_MIN_GAP_MS = 1000;
/** Consecutive readings further apart than this give no rate (the newer one starts afresh). */
export const RATE_MAX_GAP_MS = 30 * 60_000;

type Sample = [number, number];

export interface RateState extends LeafState<'rate'> {
  o?: 'rate';
  /** The reading the next one is measured against: [ts, value]. */
  last?: Sample;
  /** Change per minute of the last decision, from x0 to x1 over dt ms. */
  pm?: number;
  x0?: number;
  x1?: number;
  dt?: number;
}

export const rate = leafSpec<'rate', RateState>({
  kind: 'rate',
  compile(p, env) {
    p.unit = unitOf(env.profile, p.c.key);
    p.obsKey = `${p.c.key}_rate_per_min`;
    p.ms = p.c.minSpan ? durationMs(p.c.minSpan) : RATE_MIN_GAP_MS;
  },
  evaluate(p, w) {
    const c = p.c;
    const s = loadLeaf<RateState>(w, p);
    const x = readingOf(w, c.key);
    if (x === undefined) return keep(p, s, w);
    const time = w.env.time;
    const last = Array.isArray(s.last) && num(s.last[0]) !== null && num(s.last[1]) !== null ? s.last : null;
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
    const n: RateState = {
      k: 'rate',
      v,
      ts: time,
      o: 'rate',
      pm: perMin,
      x0: last[1],
      x1: x,
      dt,
      last: [time, x],
    };
    return decided(p, n, w);
  },
  render: rateText,
  facts: (p, s) => (typeof s.pm === 'number' ? { [p.obsKey]: round(s.pm) } : undefined),
  initialText: (p) => `${p.c.key}: no rate yet (needs two readings)`,
  keys: (c, add) => add(c.key),
});

function rateText(p: Plan<RateCondition>, s: RateState): string {
  const c = p.c;
  const perMin = s.pm as number;
  const per = `${p.unit}/min`;
  const wanted = c.direction === 'rise' ? 'a rise' : c.direction === 'fall' ? 'a fall' : 'a change';
  const moving = perMin >= 0 ? 'rising' : 'falling';
  return s.v
    ? `${c.key} ${moving} ${fmt(Math.abs(perMin))}${per} (${fmt(s.x0 as number)} → ${fmt(s.x1 as number)}${p.unit} in ${fmtDuration(s.dt as number)}), ${wanted} of at least ${fmt(c.perMinute)}${per}`
    : `${c.key} ${moving} ${fmt(Math.abs(perMin))}${per}, under ${wanted} of ${fmt(c.perMinute)}${per}`;
}
