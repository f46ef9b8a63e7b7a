/**
 * Sign-in throttle (issue 7, finding 3), per key (a user name, an address) on the hub's clock:
 * after `freeFailures` failures within `windowMs`, each further attempt waits `baseDelayMs`,
 * doubling per failure up to `maxDelayMs`. A success forgets the key. Bounded: past `maxKeys` the
 * oldest key is dropped (an attacker spraying names cannot grow memory without limit).
 */
export interface ThrottleOptions {
  freeFailures: number;
  windowMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxKeys: number;
}

/**
 * Process-local state behind an interface (issue 10, item 7): several hub processes would share
 * one throttle per key (a failed sign-in on one counts on all), e.g. in Redis; sign-in is not a
 * hot path, so a network round trip per attempt is acceptable there.
 */
export interface Throttle {
  /** Milliseconds to wait before the next attempt (0: go ahead). */
  wait(key: string): number;
  fail(key: string): void;
  succeed(key: string): void;
  /** Drops keys whose window and lock are over. */
  purge(): void;
  size(): number;
}

export function createMemoryThrottle(now: () => number, o: ThrottleOptions): Throttle {
  const entries = new Map<string, { failures: number; first: number; lockedUntil: number }>();

  return {
    /** Milliseconds to wait before the next attempt (0: go ahead). */
    wait(key: string): number {
      const e = entries.get(key);
      if (!e) return 0;
      const t = now();
      if (t - e.first > o.windowMs && t >= e.lockedUntil) {
        entries.delete(key);
        return 0;
      }
      return Math.max(0, e.lockedUntil - t);
    },
    fail(key: string): void {
      const t = now();
      let e = entries.get(key);
      if (!e || (t - e.first > o.windowMs && t >= e.lockedUntil)) {
        e = { failures: 0, first: t, lockedUntil: 0 };
        entries.delete(key);
        if (entries.size >= o.maxKeys) entries.delete(entries.keys().next().value!);
        entries.set(key, e);
      }
      e.failures++;
      const over = e.failures - o.freeFailures;
      if (over >= 0) e.lockedUntil = t + Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** Math.min(over, 20));
    },
    succeed(key: string): void {
      entries.delete(key);
    },
    /** Drops keys whose window and lock are over. */
    purge(): void {
      const t = now();
      for (const [k, e] of entries) if (t - e.first > o.windowMs && t >= e.lockedUntil) entries.delete(k);
    },
    size: () => entries.size,
  };
}
