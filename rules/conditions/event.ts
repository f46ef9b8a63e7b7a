/**
 * `event`: a camera detection of `type` with confidence ≥ `minConfidence`; clears once none was
 * seen for `clearAfter` (event time of later messages, or hub time in `tick`). A late matching
 * detection still opens when it lies within `clearAfter` of the latest time seen: it is a real
 * detection the rule would have raised live.
 */
import { durationMs } from '../../domain/index.ts';
import { fmt } from './format.ts';
import { localIso } from './local-time.ts';
import { isLate, keep, leafResult, leafSpec, loadLeaf, num } from './node.ts';
import type { LeafState, RuleInput } from './types.ts';

export interface EventState extends LeafState<'event'> {
  /** detected: the last matching detection decided; quiet: none for clearAfter (since `q`). */
  o?: 'detected' | 'quiet';
  /** Confidence and event time of the detection. */
  conf?: number;
  at?: number;
  /** The latest time a matching detection was seen. */
  seen?: number;
  q?: number;
}

export const event = leafSpec<'event', EventState>({
  kind: 'event',
  compile(p) {
    p.ms = durationMs(p.c.clearAfter);
    p.label = p.c.type.replaceAll('_', ' ');
    p.obsKey = `${p.c.type}_confidence`;
  },
  evaluate(p, w) {
    const c = p.c;
    const s = loadLeaf<EventState>(w, p);
    const seen = num(s.seen);
    const clearMs = p.ms;

    if (w.env.mode === 'tick') {
      if (s.v === true && seen !== null && w.env.time - seen >= clearMs) {
        const n: EventState = { ...s, v: false, o: 'quiet', q: seen };
        w.next[p.path] = n;
        return leafResult(false, true, p, n, w.ctx.timezone);
      }
      return keep(p, s, w);
    }

    const time = w.env.time;
    const late = isLate(s, time);
    let best: RuleInput['events'][number] | undefined;
    for (const e of w.env.events) {
      if (e.type !== c.type || !(e.confidence >= c.minConfidence)) continue;
      if (!best || e.confidence > best.confidence) best = e;
      if (e.snapshot) w.snapshots.push(e.snapshot);
    }
    if (best) {
      const newest = seen === null ? time : Math.max(seen, time);
      // A late detection still counts when it is within clearAfter of the latest time seen.
      const opens = !late || (s.ts !== null && s.ts - time < clearMs);
      const v = opens ? true : (s.v ?? false);
      const n: EventState = v
        ? {
            k: 'event',
            v,
            ts: late ? s.ts : time,
            o: 'detected',
            conf: best.confidence,
            at: time,
            seen: newest,
          }
        : {
            k: 'event',
            v,
            ts: late ? s.ts : time,
            o: 'quiet',
            conf: best.confidence,
            q: newest,
            seen: newest,
          };
      w.next[p.path] = n;
      return leafResult(v, !late, p, n, w.ctx.timezone);
    }
    if (late) return keep(p, s, w);
    const v: boolean = s.v ?? false;
    const n: EventState =
      v && seen !== null && time - seen >= clearMs
        ? { ...s, v: false, ts: time, o: 'quiet', q: seen }
        : { ...s, v, ts: time };
    w.next[p.path] = n;
    return leafResult(n.v, true, p, n, w.ctx.timezone);
  },
  render(p, s, tz) {
    if (s.o === 'detected')
      return `${p.label} detected with confidence ${fmt(s.conf as number)} at ${localIso(s.at as number, tz)}`;
    return `no ${p.label} (confidence ≥ ${fmt(p.c.minConfidence)}) since ${localIso(s.q as number, tz)} for ${p.c.clearAfter}`;
  },
  facts: (p, s) => (typeof s.conf === 'number' ? { [p.obsKey]: s.conf } : undefined),
  initialText: (p) => `no ${p.label} detected (confidence ≥ ${fmt(p.c.minConfidence)})`,
  keys: (_c, add) => add('event'),
  ticks: true,
});
