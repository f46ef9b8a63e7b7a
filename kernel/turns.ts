/**
 * A budget of synchronous work per turn of the event loop, for work that arrives in floods.
 *
 * The hub runs the broker, ingest, the rules and the API on one thread. Under full load every
 * socket is readable at once and Node runs all their callbacks back to back, so one turn of the
 * loop could ingest thousands of messages while an HTTP request, a database answer or a timer
 * waits (issue 13 measured 300 ms tasks and a 1 s API p99). Work that goes through `run()` gets at
 * most `sliceMs` of each turn; past that it is queued, first in first out, and run at the next
 * turn's check phase (setImmediate), again for at most `sliceMs`, after the I/O callbacks of that
 * turn have been served. Nothing is dropped: the queue holds what the callers hold (for ingest, a
 * message whose acknowledgement — and so the broker's next read from that client — waits for it).
 *
 * Order is kept: once anything waits, everything after it waits behind it.
 */
import { performance } from 'node:perf_hooks';

export interface TurnBudget {
  /** Runs `fn` now if this turn has budget left and nothing waits; otherwise queues it. */
  run(fn: () => void): void;
  /** Whether `run` would queue: lets a hot path skip building a closure when it need not. */
  mustWait(): boolean;
  /** Work waiting for a later turn. */
  waiting(): number;
  /** Runs everything waiting now, ignoring the budget (shutdown: nothing is left behind). */
  runAll(): void;
}

export function createTurnBudget(opts: {
  /** Synchronous work per turn, in ms; 0 runs everything at once (no slicing). */
  sliceMs: number;
  /** A queued function that throws is reported here; the queue goes on. */
  onError: (err: unknown) => void;
  now?: () => number;
}): TurnBudget {
  const { sliceMs, onError } = opts;
  const now = opts.now ?? (() => performance.now());
  let queue: (() => void)[] = [];
  let head = 0;
  /** When this turn's budgeted work began; -1 until work arrives in a turn. */
  let turnStart = -1;
  let turnScheduled = false;

  const waiting = () => queue.length - head;

  /** Ends the turn's window at its check phase, and spends the next window on the queue. */
  function endOfTurn() {
    turnScheduled = false;
    turnStart = now();
    // At least one per turn, however small the budget: a slice shorter than one piece of work still
    // moves the queue on (a tiny sliceMs must not stall ingest).
    if (head < queue.length)
      do runOne();
      while (head < queue.length && now() - turnStart < sliceMs);
    turnStart = -1;
    if (head === queue.length) {
      queue = [];
      head = 0;
    } else {
      // Compact now and then so a long backlog does not keep every run closure alive.
      if (head > 4096) {
        queue = queue.slice(head);
        head = 0;
      }
      scheduleTurnEnd();
    }
  }

  function scheduleTurnEnd() {
    if (turnScheduled) return;
    turnScheduled = true;
    setImmediate(endOfTurn);
  }

  function runOne() {
    const fn = queue[head]!;
    queue[head++] = undefined as unknown as () => void;
    try {
      fn();
    } catch (err) {
      onError(err);
    }
  }

  function mustWait(): boolean {
    if (sliceMs <= 0) return false;
    if (head < queue.length) return true;
    const t = now();
    if (turnStart < 0) {
      turnStart = t;
      scheduleTurnEnd();
      return false;
    }
    return t - turnStart >= sliceMs;
  }

  return {
    mustWait,
    run(fn) {
      if (!mustWait()) return fn();
      queue.push(fn);
      scheduleTurnEnd();
    },
    waiting,
    runAll() {
      while (head < queue.length) runOne();
      queue = [];
      head = 0;
    },
  };
}
