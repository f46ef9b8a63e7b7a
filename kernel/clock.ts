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
