/**
 * Time comes from an injected clock so deadlines, working calendars and fast-forward rehearsals
 * are testable. `system` follows the wall clock; `manual` only moves when told to
 * (`POST /api/clock`, GRIDHUB_CLOCK=manual).
 */
export interface Clock {
  readonly kind: 'system' | 'manual';
  /** Milliseconds since the epoch. */
  now(): number;
  /** Called after every manual move, so timers that run on hub time can catch up. */
  onChange(listener: (now: number) => void): () => void;
}

export interface ManualClock extends Clock {
  readonly kind: 'manual';
  advance(ms: number): number;
  set(epochMs: number): number;
}

export function systemClock(): Clock {
  return { kind: 'system', now: () => Date.now(), onChange: () => () => {} };
}

export function manualClock(start: number = Date.now()): ManualClock {
  let current = start;
  const listeners = new Set<(now: number) => void>();
  const emit = () => {
    for (const l of listeners) l(current);
    return current;
  };
  return {
    kind: 'manual',
    now: () => current,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    advance(ms) {
      if (!Number.isFinite(ms) || ms < 0)
        throw new RangeError(`advance must be a non-negative duration, got ${ms}`);
      current += ms;
      return emit();
    },
    set(epochMs) {
      if (!Number.isFinite(epochMs)) throw new RangeError(`set needs a valid time, got ${epochMs}`);
      current = epochMs;
      return emit();
    },
  };
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses `30s`, `15m`, `2h`, `1d`, `1w` into milliseconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}
