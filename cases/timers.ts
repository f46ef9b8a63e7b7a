/**
 * The cases' hub-clock work, on the case service's own timer (issue 10): the sensor verifies
 * handled cases whose condition stayed clear long enough after handling (the case's stored
 * `verifyAfter`); overdue cases escalate one level up the grid hierarchy (GB/T 30428: grid →
 * community → street → district), once per level. A manual clock move (rehearsals,
 * `POST /api/clock`) runs a pass at once.
 */
import type { Clock, Logger } from '../kernel/index.ts';
import type { Db } from '../store/index.ts';
import { type CaseRecord, DEFAULT_WINDOWS, handledAndClear, loadCase, overdueBelowTop } from './repo.ts';
import type { CaseShell, Step } from './shell.ts';
import { overdueEscalation, SENSOR_ACTOR, SYSTEM_ACTOR, transition } from './workflow.ts';

export function createCaseTimers(deps: {
  db: Db;
  clock: Clock;
  logger: Logger;
  shell: CaseShell;
  /** How often the timers run on a system clock (default 5 s). */
  tickIntervalMs?: number;
}) {
  const { db, clock, shell } = deps;

  /** Re-reads a case under its key and applies `step` to the current version. */
  function update(found: CaseRecord, step: (c: CaseRecord) => Promise<boolean>): Promise<boolean> {
    return shell.withKey(shell.keyOf(found), async () => {
      const c = await loadCase(db, found.id);
      return c ? step(c) : false;
    });
  }

  async function verifyCleared(now: number): Promise<number> {
    let verified = 0;
    for (const found of await handledAndClear(db)) {
      const done = await update(found, async (c) => {
        if (c.status !== 'handled' || c.clearedAt === null) return false;
        const since = Math.max(c.clearedAt, c.state.handledAt ?? 0);
        const verifyAfterMs = (c.windows ?? DEFAULT_WINDOWS).verifyAfterMs;
        if (now - since < verifyAfterMs) return false;
        const r = transition(c.state, 'verify', {
          actor: SENSOR_ACTOR,
          now,
          note: `condition clear since ${new Date(c.clearedAt).toISOString()}`,
        });
        if (!r.ok) return false;
        await shell.persist(shell.applyState(c, r.next), [{ entry: r.entry, effects: r.effects }]);
        return true;
      });
      if (done) verified++;
    }
    return verified;
  }

  async function escalateOverdue(now: number): Promise<number> {
    let escalated = 0;
    for (const found of await overdueBelowTop(db, now)) {
      await update(found, async (current) => {
        let c = current;
        const steps: Step[] = [];
        // Catches up at most the three levels above the grid in one pass.
        for (let i = 0; i < 3; i++) {
          if (!overdueEscalation(c.state, now)) break;
          const r = transition(c.state, 'escalate', {
            actor: SYSTEM_ACTOR,
            now,
            note: `overdue since ${new Date(c.deadline!).toISOString()}`,
          });
          if (!r.ok) break;
          c = shell.applyState(c, r.next);
          steps.push({ entry: r.entry, effects: r.effects });
        }
        if (steps.length === 0) return false;
        await shell.persist(c, steps);
        escalated += steps.length;
        return true;
      });
    }
    return escalated;
  }

  let ticking: Promise<{ verified: number; escalated: number }> | undefined;
  let rerun: Promise<{ verified: number; escalated: number }> | undefined;
  /**
   * Runs a pass at the current hub time. A call during a pass gets a further pass once that one
   * ends, so a clock moved mid-pass (or a clear recorded mid-pass) is never left unprocessed. A
   * failing pass (the store is down) is logged and counts nothing; the next pass tries again.
   */
  function tickNow(): Promise<{ verified: number; escalated: number }> {
    if (ticking) {
      rerun ??= ticking.then(() => {
        rerun = undefined;
        return tickNow();
      });
      return rerun;
    }
    ticking = (async () => {
      const now = clock.now();
      const verified = await verifyCleared(now);
      const escalated = await escalateOverdue(now);
      return { verified, escalated };
    })()
      .catch((err) => {
        deps.logger.error({ err }, 'case timers failed');
        return { verified: 0, escalated: 0 };
      })
      .finally(() => {
        ticking = undefined;
      });
    return ticking;
  }

  const pass = () => void tickNow();

  let timer: NodeJS.Timeout | undefined;
  let unsubscribeClock: (() => void) | undefined;
  return {
    tickNow,
    start() {
      timer = setInterval(pass, deps.tickIntervalMs ?? 5000);
      timer.unref();
      // Rehearsals move a manual clock: verification and escalation follow at once.
      unsubscribeClock = clock.onChange(pass);
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      unsubscribeClock?.();
      unsubscribeClock = undefined;
      await (rerun ?? ticking);
    },
  };
}
