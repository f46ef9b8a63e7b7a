/**
 * A small seeded PRNG (mulberry32) for the simulators: deterministic for a seed, fast, and with a
 * state that is a single uint32, so a model can keep it in a plain (serialisable) state object and
 * stay pure: `Random.fromState(state.rng)` … `state.rng = rnd.state`.
 */

/** Mixes a 32-bit integer (murmur3 finaliser), so consecutive seeds give unrelated sequences. */
function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A seed for a named sub-stream (`deriveSeed(seed, 'bin-07')`): the same (seed, label) always gives
 * the same value, different labels give unrelated streams.
 */
export function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ mix32(Math.trunc(seed));
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

export class Random {
  #a: number;

  /** A generator for a seed (any finite number; fractions are truncated). */
  constructor(seed = 1) {
    this.#a = mix32(Math.trunc(seed) ^ 0x9e3779b9);
  }

  /** Resumes a generator from a saved `state`. */
  static fromState(state: number): Random {
    const r = new Random(0);
    r.#a = state >>> 0;
    return r;
  }

  /** The internal state (uint32): `Random.fromState(r.state)` continues the same sequence. */
  get state(): number {
    return this.#a >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) | 0;
    let t = Math.imul(this.#a ^ (this.#a >>> 15), 1 | this.#a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [a, b). */
  range(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  /** Uniform integer in [a, b] (both inclusive). */
  int(a: number, b: number): number {
    return Math.floor(this.range(Math.ceil(a), Math.floor(b) + 1));
  }

  /** Normally distributed (Box–Muller). */
  normal(mean = 0, sd = 1): number {
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** One element of a non-empty array. */
  pick<T>(arr: readonly T[]): T {
    if (arr.length === 0) throw new RangeError('pick() from an empty array');
    return arr[Math.floor(this.next() * arr.length)] as T;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(arr: readonly T[]): T[] {
    const out = arr.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}
