/**
 * The sensor's side of the cases: an anomaly of a rule opens a case, adds an occurrence to the
 * open one or sends a recently closed one back to rework (relapse); a cleared condition is noted
 * on the open case, for the sensor's verification (cases/timers.ts).
 */
import type { Urgency } from '../domain/index.ts';
import type { Device } from '../registry/index.ts';
import type { Db } from '../store/index.ts';
import type { Catalogue } from './catalogue.ts';
import type { OpenCaseIndex } from './open-index.ts';
import { type CaseRecord, type CaseWindows, lastClosedSensorCase } from './repo.ts';
import { type CaseShell, stepsOf } from './shell.ts';
import { occurrenceEntry, openCase, SENSOR_ACTOR, transition } from './workflow.ts';

export interface SensorAnomaly {
  device: Device;
  ruleId: string;
  category: string;
  urgency: Urgency;
  /** Event time of the reading that opened the condition. */
  ts: number;
  explanation: string;
  observed: Record<string, number>;
  snapshot?: string | null;
  /** The rule's numeric limits for this device (drawn on the trend next to the case). */
  limits?: { key: string; op: string; value: number; agg?: string; window?: string }[];
  /** The rule's verification and relapse windows, stored on the case it opens or repeats. */
  windows: CaseWindows;
}

const HOUR = 3_600_000;

export function createSensorCases(deps: {
  db: Db;
  catalogue: Catalogue;
  clock: { now(): number };
  openCases: OpenCaseIndex;
  shell: CaseShell;
}) {
  const { db, catalogue, clock, openCases, shell } = deps;
  const { m, log } = shell;

  /** The sensor's condition opened: a new case, an occurrence of the open one, or a relapse. */
  function sensorActive(a: SensorAnomaly): Promise<CaseRecord | undefined> {
    return shell.sensorQueue(a.device.id, a.ruleId, async () => {
      const now = clock.now();
      const at = Math.min(a.ts, now);
      const peak = Object.entries(a.observed)[0];
      // A repeat carries the rule's windows as they are now: a rule edited since the case opened
      // applies from the next occurrence on.
      const repeat = (c: CaseRecord): CaseRecord => ({
        ...c,
        occurrences: c.occurrences + 1,
        lastSeenAt: at,
        peak:
          peak && (c.peak === null || peak[1] > c.peak.value)
            ? { key: peak[0], value: peak[1], ts: a.ts }
            : c.peak,
        clearedAt: null,
        windows: a.windows,
      });
      const open = openCases.get(a.device.id, a.ruleId);
      if (open) {
        let c = repeat(open);
        if (open.status === 'handled' || open.status === 'verified') {
          const r = transition(open.state, 'relapse', { actor: SENSOR_ACTOR, now, note: a.explanation });
          if (r.ok) {
            c = shell.applyState(c, r.next);
            m.relapses.inc();
            await shell.persist(c, [{ entry: r.entry, effects: r.effects }]);
            return c;
          }
          await shell.persist(c, []);
          return c;
        }
        m.occurrences.inc();
        await shell.persist(c, stepsOf([occurrenceEntry(open.state, at, SENSOR_ACTOR, a.explanation)]));
        return c;
      }
      // Within the relapse window after closing, the closed case goes back to rework.
      const windowMs = a.windows.relapseWindowMs;
      const closed = await lastClosedSensorCase(db, a.device.id, a.ruleId, now - windowMs);
      if (closed) {
        const r = transition(closed.state, 'relapse', {
          actor: SENSOR_ACTOR,
          now,
          note: a.explanation,
          relapseWindowMs: windowMs,
        });
        if (r.ok) {
          const c = shell.applyState(repeat(closed), r.next);
          m.relapses.inc();
          await shell.persist(c, [{ entry: r.entry, effects: r.effects }]);
          return c;
        }
      }
      const gridCode = a.device.gridCode;
      if (!gridCode) {
        m.unplaced.inc();
        log.warn(
          { deviceId: a.device.id, ruleId: a.ruleId },
          'anomaly of a device outside every grid: no case opened (place the device)',
        );
        return undefined;
      }
      const category = catalogue.categories.get(a.category);
      if (!category) {
        log.error(
          { ruleId: a.ruleId, category: a.category },
          'rule names an unknown category: no case opened',
        );
        return undefined;
      }
      const opened = openCase({
        gridCode,
        now: at,
        autoRegister: category.autoRegister,
        deadlineFor: shell.deadlineOf(a.category, a.urgency),
        actor: SENSOR_ACTOR,
        note: a.explanation,
      });
      const c = shell.applyState(
        {
          id: shell.newId(at),
          source: 'sensor',
          status: opened.state.status,
          category: a.category,
          gridCode,
          urgency: a.urgency,
          deviceId: a.device.id,
          ruleId: a.ruleId,
          description: a.explanation,
          location: a.device.location,
          photos: a.snapshot ? [a.snapshot] : [],
          openedAt: at,
          deadline: null,
          closedAt: null,
          assignee: null,
          escalationLevel: 'grid',
          occurrences: 1,
          lastSeenAt: at,
          peak: peak ? { key: peak[0], value: peak[1], ts: a.ts } : null,
          evidence: {
            explanation: a.explanation,
            observed: a.observed,
            readingTs: new Date(a.ts).toISOString(),
            // The trend window the dashboard charts next to the case.
            trendWindow: {
              from: new Date(a.ts - HOUR).toISOString(),
              to: new Date(a.ts + HOUR).toISOString(),
            },
            ...(a.snapshot ? { snapshot: a.snapshot } : {}),
            ...(a.limits?.length ? { limits: a.limits } : {}),
          },
          clearedAt: null,
          windows: a.windows,
          state: opened.state,
        },
        opened.state,
      );
      await shell.persist(c, stepsOf(opened.entries));
      m.opened.inc({ source: 'sensor' });
      return c;
    });
  }

  /** The sensor's condition cleared: remember when, for verification. */
  function sensorCleared(deviceId: string, ruleId: string, ts: number): Promise<void> {
    return shell.sensorQueue(deviceId, ruleId, async () => {
      const open = openCases.get(deviceId, ruleId);
      if (!open || open.clearedAt !== null) return;
      await shell.persist({ ...open, clearedAt: Math.min(ts, clock.now()) }, []);
    });
  }

  return { sensorActive, sensorCleared };
}
