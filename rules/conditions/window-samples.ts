/**
 * The samples of a moving window, kept so a reading costs O(1) amortised instead of a copy of the
 * window: append-only storage shared by the successive states of a window (and by the windows of
 * several rules that read the same key over the same span), a running compensated sum for `avg` and
 * a monotonic deque for `max`/`min`. Only the newest view (`tip`) may append; anyone else copies
 * first, so a view's samples never change.
 */
import type { WindowCondition } from '../../domain/index.ts';
import { num } from './node.ts';

type Agg = WindowCondition['agg'];

interface Store {
  t: number[];
  x: number[];
  agg: Agg;
  tip: WindowSamples | null;
  /**
   * Monotonic deque for max/min (valid for the tip): indices into t/x from `qh` on, with values
   * decreasing (max) or increasing (min) — the front is the aggregate.
   */
  q: number[];
  qh: number;
}

/** A running compensated (Neumaier) sum: the sum is `sum + comp`. */
interface Acc {
  sum: number;
  comp: number;
}

function accumulate(acc: Acc, v: number): void {
  const t = acc.sum + v;
  if (Math.abs(acc.sum) >= Math.abs(v)) acc.comp += acc.sum - t + v;
  else acc.comp += v - t + acc.sum;
  acc.sum = t;
}

/**
 * The samples of one window state, oldest first: an immutable view on a `Store`, plus the running
 * sum of its values. Iterable as `[ts, value]` pairs, `length`, and `toJSON()` gives those pairs —
 * the persisted form (read back by `WindowSamples.fromJSON`).
 */
export class WindowSamples implements Iterable<[number, number]> {
  readonly #st: Store;
  readonly #a: number;
  readonly #e: number;
  /** Sum of the values (compensated: sum + comp). */
  readonly sum: number;
  readonly comp: number;

  private constructor(st: Store, a: number, e: number, sum: number, comp: number) {
    this.#st = st;
    this.#a = a;
    this.#e = e;
    this.sum = sum;
    this.comp = comp;
  }

  get length(): number {
    return this.#e - this.#a;
  }

  /** Time of the oldest and of the newest sample (NaN when empty). */
  get oldest(): number {
    return this.#e > this.#a ? this.#st.t[this.#a]! : Number.NaN;
  }
  get newest(): number {
    return this.#e > this.#a ? this.#st.t[this.#e - 1]! : Number.NaN;
  }

  *[Symbol.iterator](): IterableIterator<[number, number]> {
    const { t, x } = this.#st;
    for (let i = this.#a; i < this.#e; i++) yield [t[i]!, x[i]!];
  }

  toJSON(): [number, number][] {
    const { t, x } = this.#st;
    const out = new Array<[number, number]>(this.#e - this.#a);
    for (let i = this.#a; i < this.#e; i++) out[i - this.#a] = [t[i]!, x[i]!];
    return out;
  }

  /** max/min from the deque when this is the newest view, else by a scan; avg from the sum. */
  aggregate(agg: Agg): number {
    const n = this.#e - this.#a;
    if (agg === 'avg') return (this.sum + this.comp) / n;
    const st = this.#st;
    if (st.tip === this && st.agg === agg) return st.x[st.q[st.qh]!]!;
    let m = agg === 'max' ? -Infinity : Infinity;
    for (let i = this.#a; i < this.#e; i++) m = agg === 'max' ? Math.max(m, st.x[i]!) : Math.min(m, st.x[i]!);
    return m;
  }

  /** Same samples and sum (a window loaded twice from JSON, e.g. by two rules after a restart). */
  sameAs(o: WindowSamples): boolean {
    if (o === this) return true;
    const n = this.length;
    if (o.length !== n || o.sum !== this.sum || o.comp !== this.comp) return false;
    const a = this.#st;
    const b = o.#st;
    for (let i = 0; i < n; i++)
      if (a.t[this.#a + i] !== b.t[o.#a + i] || a.x[this.#a + i] !== b.x[o.#a + i]) return false;
    return true;
  }

  /** A view from persisted pairs (invalid pairs dropped, sorted); null when there is none. */
  static fromJSON(raw: unknown, sum: unknown, comp: unknown, agg: Agg): WindowSamples | null {
    if (!Array.isArray(raw) || raw.length === 0) return null;
    let pairs = raw.filter(
      (p): p is [number, number] =>
        Array.isArray(p) && p.length === 2 && num(p[0]) !== null && num(p[1]) !== null,
    );
    let exact = pairs.length === raw.length;
    for (let i = 1; i < pairs.length; i++)
      if (pairs[i]![0] <= pairs[i - 1]![0]) {
        // Out of order or repeated times (not written by toJSON): in order, the later of a time kept.
        const byTime = new Map<number, number>();
        for (const [t, v] of pairs) byTime.set(t, v);
        pairs = [...byTime].sort((p, q) => p[0] - q[0]);
        exact = false;
        break;
      }
    if (pairs.length === 0) return null;
    const t = pairs.map((p) => p[0]);
    const x = pairs.map((p) => p[1]);
    const acc: Acc = { sum: 0, comp: 0 };
    if (exact && num(sum) !== null && num(comp) !== null) {
      acc.sum = sum as number;
      acc.comp = comp as number;
    } else for (const v of x) accumulate(acc, v);
    return WindowSamples.#view(WindowSamples.#store(t, x, agg, 0), 0, t.length, acc);
  }

  /**
   * The window after a reading at `time`: appended (in order) or filed in time order (late; a
   * reading at the time of a stored one replaces it), then samples at or before newest − span and
   * beyond `max` dropped from the front. `prev` is left as it was.
   */
  static add(
    prev: WindowSamples | null,
    time: number,
    value: number,
    span: number,
    max: number,
    agg: Agg,
  ): WindowSamples {
    let st: Store;
    let a = 0;
    let e = 0;
    const acc: Acc = { sum: 0, comp: 0 };
    if (prev) {
      st = prev.#st;
      a = prev.#a;
      e = prev.#e;
      acc.sum = prev.sum;
      acc.comp = prev.comp;
    } else st = WindowSamples.#store([], [], agg, 0);
    if (e === a || time > st.t[e - 1]!) {
      if (prev && (st.tip !== prev || st.agg !== agg)) {
        st = WindowSamples.#store(st.t.slice(a, e), st.x.slice(a, e), agg, 0);
        e -= a;
        a = 0;
      }
      st.t.push(time);
      st.x.push(value);
      e++;
      accumulate(acc, value);
      if (agg !== 'avg') {
        const q = st.q;
        const x = st.x;
        while (
          q.length > st.qh &&
          (agg === 'max' ? x[q[q.length - 1]!]! <= value : x[q[q.length - 1]!]! >= value)
        )
          q.pop();
        q.push(e - 1);
      }
    } else {
      // Late, or a re-send at a stored time: file it into a copy (rare).
      let i = e;
      while (i > a && st.t[i - 1]! > time) i--;
      const t = st.t.slice(a, e);
      const x = st.x.slice(a, e);
      if (i > a && st.t[i - 1] === time) {
        accumulate(acc, value);
        accumulate(acc, -x[i - 1 - a]!);
        x[i - 1 - a] = value;
      } else {
        t.splice(i - a, 0, time);
        x.splice(i - a, 0, value);
        accumulate(acc, value);
      }
      st = WindowSamples.#store(t, x, agg, 0);
      a = 0;
      e = t.length;
    }
    // The window is (newest − span, newest]; older samples can never count again.
    const oldest = st.t[e - 1]! - span;
    while (a < e && (st.t[a]! <= oldest || e - a > max)) {
      accumulate(acc, -st.x[a]!);
      a++;
    }
    if (e - a === 1) {
      // A lone sample: its value exactly (no drift carried on from evicted ones).
      acc.sum = st.x[a]!;
      acc.comp = 0;
    }
    if (agg !== 'avg') {
      while (st.qh < st.q.length && st.q[st.qh]! < a) st.qh++;
      if (st.qh >= 64 && st.qh * 2 >= st.q.length) {
        st.q = st.q.slice(st.qh);
        st.qh = 0;
      }
    }
    if (a >= 64 && a * 2 >= e) {
      // Most of the storage is behind the window: move the window to fresh arrays.
      const q = agg === 'avg' ? [] : st.q.slice(st.qh).map((i) => i - a);
      st = { t: st.t.slice(a, e), x: st.x.slice(a, e), agg, tip: null, q, qh: 0 };
      e -= a;
      a = 0;
    }
    return WindowSamples.#view(st, a, e, acc);
  }

  /** A store over t/x (deque built for max/min). */
  static #store(t: number[], x: number[], agg: Agg, from: number): Store {
    const q: number[] = [];
    if (agg !== 'avg')
      for (let i = from; i < x.length; i++) {
        const v = x[i]!;
        while (q.length && (agg === 'max' ? x[q[q.length - 1]!]! <= v : x[q[q.length - 1]!]! >= v)) q.pop();
        q.push(i);
      }
    return { t, x, agg, tip: null, q, qh: 0 };
  }

  /** The new tip of `st` over [a, e), with the running sum. */
  static #view(st: Store, a: number, e: number, acc: Acc): WindowSamples {
    const v = new WindowSamples(st, a, e, acc.sum, acc.comp);
    st.tip = v;
    return v;
  }
}
