/**
 * `absence` (hub time): no message arrived for `intervals × expectedEvery`; any message clears it.
 * Counted from the arrival time (`receivedAt`), from the first tick for a device never heard of.
 */
import { durationMs } from '../../domain/index.ts';
import { round } from './format.ts';
import { localIso } from './local-time.ts';
import { leafResult, leafSpec, loadLeaf, num, owned } from './node.ts';
import type { LeafState } from './types.ts';

export interface AbsenceState extends LeafState<'absence'> {
  /** seen: counted from the last arrival; watch: no reading yet, counted from the first tick. */
  o?: 'seen' | 'watch';
  /** Hub time of the last arrival, or of the first tick (`baseline`). */
  seen?: number;
  baseline?: boolean;
  /** Time without a message at the last tick, ms. */
  silent?: number;
}

export const absence = leafSpec<'absence', AbsenceState>({
  kind: 'absence',
  compile(p) {
    p.ms = durationMs(p.c.expectedEvery) * p.c.intervals;
  },
  evaluate(p, w) {
    const s = loadLeaf<AbsenceState>(w, p);
    const seen = num(s.seen);
    const tz = w.ctx.timezone;
    if (w.env.mode === 'input') {
      const at = seen === null ? w.env.arrival : Math.max(seen, w.env.arrival);
      if (owned(w, p, s) && s.o === 'seen' && s.silent === undefined) {
        // The caller owns the state: a message allocates no new node (issue 13, GC).
        s.v = false;
        s.seen = at;
        s.baseline = false;
        return leafResult(false, true, p, s, tz);
      }
      const n: AbsenceState = { k: 'absence', v: false, ts: s.ts, o: 'seen', seen: at, baseline: false };
      w.next[p.path] = n;
      return leafResult(false, true, p, n, tz);
    }
    const now = w.env.time;
    if (seen === null) {
      // Never seen a reading: count from the first tick that watches this device.
      const n: AbsenceState = { k: 'absence', v: false, ts: s.ts, o: 'watch', seen: now, baseline: true };
      w.next[p.path] = n;
      return leafResult(false, false, p, n, tz);
    }
    const silent = now - seen;
    const v = silent >= p.ms;
    const n: AbsenceState = { ...s, v, o: 'seen', silent };
    w.next[p.path] = n;
    return leafResult(v, v !== s.v, p, n, tz);
  },
  render(p, s, tz) {
    const c = p.c;
    const seen = s.seen as number;
    if (s.o === 'watch') return `watching for data since ${localIso(seen, tz)}`;
    const last =
      s.baseline === true
        ? `no reading since watching began ${localIso(seen, tz)}`
        : `last reading ${localIso(seen, tz)}`;
    return s.v
      ? `no data for ${c.intervals} interval${c.intervals === 1 ? '' : 's'} of ${c.expectedEvery} (${last})`
      : `data arriving (${last})`;
  },
  facts: (_p, s) => (typeof s.silent === 'number' ? { silent_minutes: round(s.silent / 60_000) } : undefined),
  initialText: () => 'no reading yet',
  // Any message clears it.
  keys: (_c, add) => add('*'),
  ticks: true,
});
