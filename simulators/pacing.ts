/**
 * Pacing for the simulators: a token bucket for a message rate, a small binary heap for the next device
 * due, and a bounded-concurrency loop.
 */
import { performance } from 'node:perf_hooks';

// ---- pacing ------------------------------------------------------------------------------------

/**
 * A token bucket: `rate` tokens per second, holding at most `burst` (default a tenth of a second's
 * worth, at least 1). It starts full. `now` is in milliseconds (performance.now by default).
 */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #last: number;
  readonly #now: () => number;

  constructor(rate: number, opts: { burst?: number; now?: () => number } = {}) {
    if (!(rate > 0) || !Number.isFinite(rate))
      throw new RangeError(`rate must be a positive number, got ${rate}`);
    this.rate = rate;
    this.burst = Math.max(1, opts.burst ?? rate / 10);
    this.#now = opts.now ?? (() => performance.now());
    this.#tokens = this.burst;
    this.#last = this.#now();
  }

  #refill(): void {
    const t = this.#now();
    if (t > this.#last) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) * this.rate) / 1000);
      this.#last = t;
    }
  }

  /** Tokens available now (fractional). */
  get available(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Takes `n` tokens if they are there. */
  take(n = 1): boolean {
    this.#refill();
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Milliseconds until `n` tokens are there (0 if they are). */
  waitMs(n = 1): number {
    this.#refill();
    return this.#tokens >= n ? 0 : Math.ceil(((n - this.#tokens) * 1000) / this.rate);
  }
}

/** A min-heap on `key`. */
export class Heap<T extends { key: number }> {
  #a: T[] = [];
  get size() {
    return this.#a.length;
  }
  peek(): T | undefined {
    return this.#a[0];
  }
  push(x: T): void {
    const a = this.#a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.key <= x.key) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = x;
  }
  pop(): T | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let mk = last.key;
        if (l < a.length && a[l]!.key < mk) {
          m = l;
          mk = a[l]!.key;
        }
        if (r < a.length && a[r]!.key < mk) m = r;
        if (m === i) break;
        a[i] = a[m]!;
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
  clear(): void {
    this.#a = [];
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the callback handed to `arm` is called (say, the last acknowledgement is in), but at
 * most `ms`.
 */
export function settleWithin(ms: number, arm: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    arm(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Runs `fn` over `items` with at most `n` at a time; the first failure stops the rest. */
export async function eachLimit<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  let failed = false;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (!failed && next < items.length) {
        const item = items[next++] as T;
        try {
          await fn(item);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    }),
  );
}
