/**
 * `reference`: the own reading minus another device's latest value of a key (a background station)
 * compares to a limit. A missing reference, or one too far in time from the reading, keeps the
 * previous state.
 */
import type { ReferenceCondition } from '../../domain/index.ts';
import { fmt, round, unitOf } from './format.ts';
import { type Compare, type Compared, compareToLimit, decisionText, unsetText } from './limits.ts';
import { isLate, keep, leafSpec, loadLeaf, num, readingOf } from './node.ts';
import type { LeafState, Plan } from './types.ts';

/** A reference value further than this from the reading's time is stale. */
export const REFERENCE_MAX_AGE_MS = 2 * 3_600_000;

export interface ReferenceState extends LeafState<'reference'>, Compared {
  /** 'noref': no usable reference value yet; else the decision. */
  o?: Compare | 'noref';
  /** The own reading and the reference value of the last decision (`x` is their difference). */
  own?: number;
  rv?: number;
}

export const reference = leafSpec<'reference', ReferenceState>({
  kind: 'reference',
  compile(p, env) {
    p.unit = unitOf(env.profile, p.c.key);
  },
  evaluate(p, w) {
    const c = p.c;
    const s = loadLeaf<ReferenceState>(w, p);
    const x = readingOf(w, c.key);
    const time = w.env.time;
    if (x === undefined || isLate(s, time)) return keep(p, s, w);
    const ref = w.ctx.reference(c.referenceDevice, c.referenceKey ?? c.key);
    if (
      !ref ||
      num(ref.value) === null ||
      num(ref.ts) === null ||
      Math.abs(time - ref.ts) > REFERENCE_MAX_AGE_MS
    ) {
      // No usable reference: the condition keeps its previous state (the reading still counts as the
      // key's latest, so older ones stay late).
      const n: ReferenceState = s.v === null ? { ...s, ts: time, o: 'noref' } : { ...s, ts: time };
      w.next[p.path] = n;
      return keep(p, n, w);
    }
    return compareToLimit('reference', p, s, w, x - ref.value, c, { own: x, rv: ref.value });
  },
  render: referenceText,
  facts(p, s) {
    const key = p.c.key;
    if (typeof s.own === 'number' && typeof s.x === 'number')
      return { [key]: s.own, [`${key}_reference`]: s.rv as number, [`${key}_difference`]: round(s.x) };
    return undefined;
  },
  initialText: (p) => `${p.c.key}: no reading yet`,
  keys: (c, add) => add(c.key),
});

function referenceText(p: Plan<ReferenceCondition>, s: ReferenceState): string {
  const c = p.c;
  const refKey = c.referenceKey ?? c.key;
  if (s.o === 'noref')
    return `${c.key}: reference ${c.referenceDevice}.${refKey} missing or more than 2h from the reading`;
  if (s.o === 'unset') return `${c.key} difference to ${c.referenceDevice}: ${unsetText(c.value)}`;
  const label = `${c.key} ${fmt(s.own as number)}${p.unit} minus ${refKey} ${fmt(s.rv as number)}${p.unit} at ${c.referenceDevice} =`;
  return decisionText(label, p.unit, c, s);
}
