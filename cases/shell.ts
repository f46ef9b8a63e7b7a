/**
 * The thin shell around the pure workflow (cases/workflow.ts), shared by the service's concerns
 * (sensor, timers, actions): per-case queues, persisting a case with its timeline entries and
 * running the effects the workflow decided. The workflow decides; this file does.
 */
import { randomBytes } from 'node:crypto';
import { type CaseAction, deadlineFor, type Urgency } from '../domain/index.ts';
import type { EventBus, Logger, Metrics } from '../kernel/index.ts';
import { GridhubError, zoneOffsetMs } from '../kernel/index.ts';
import type { Db } from '../store/index.ts';
import { isRetryable, sqlState } from '../store/index.ts';
import type { Catalogue } from './catalogue.ts';
import type { OpenCaseIndex } from './open-index.ts';
import { type CaseRecord, openSensorCases, saveCase } from './repo.ts';
import type { Actor, CaseState, Effect, TimelineEntry } from './workflow.ts';

export interface ShellDeps {
  db: Db;
  catalogue: Catalogue;
  events: EventBus;
  logger: Logger;
  metrics: Metrics;
  openCases: OpenCaseIndex;
}

/** A timeline entry with the effects its transition decided (none for an open or an occurrence). */
export interface Step {
  entry: TimelineEntry;
  effects?: Effect[];
}

/** Who did it, as the workflow sees a principal of the API. */
export interface Principal {
  role: string;
  userId?: string;
  unitId?: string | null;
  gridCodes?: string[];
}

export const actorOf = (p: Principal): Actor => ({
  role: p.role as Actor['role'],
  id: p.userId ?? p.role,
  ...(p.unitId ? { unitId: p.unitId } : {}),
  ...(p.gridCodes ? { gridCodes: p.gridCodes } : {}),
});

export const sensorKey = (deviceId: string, ruleId: string) => `s:${deviceId}\u0000${ruleId}`;

/** A sensor's open, occurrence or clear waits out a store outage for this long (issue 8). */
const STORE_RETRY_MS = 10 * 60_000;

export function createCaseShell(deps: ShellDeps) {
  const { db, events, catalogue, openCases } = deps;
  const log = deps.logger;
  const m = {
    opened: deps.metrics.counter('gridhub_cases_opened_total', 'Cases opened, by source'),
    closed: deps.metrics.counter('gridhub_cases_closed_total', 'Cases closed'),
    occurrences: deps.metrics.counter('gridhub_case_occurrences_total', 'Repeats added to an open case'),
    relapses: deps.metrics.counter(
      'gridhub_case_relapses_total',
      'Cases sent back to rework by their sensor',
    ),
    escalations: deps.metrics.counter('gridhub_case_escalations_total', 'Escalations up the grid hierarchy'),
    notifications: deps.metrics.counter(
      'gridhub_case_notifications_total',
      'Case changes announced on the live stream to the actor who acts next, by audience',
    ),
    unplaced: deps.metrics.counter(
      'gridhub_anomalies_unplaced_total',
      'Anomalies of devices outside every grid',
    ),
  };

  // Mutations of one case never interleave: they queue per key (a sensor case by device and rule,
  // since its id may not exist yet; a reported case by id). Different cases proceed in parallel, so
  // a busy store delays one case, not every case behind it.
  const queues = new Map<string, Promise<unknown>>();
  const inFlight = new Set<Promise<unknown>>();
  function withKey<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = queues.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const settled = run.catch(() => {});
    queues.set(key, settled);
    inFlight.add(settled);
    void settled.then(() => {
      inFlight.delete(settled);
      if (queues.get(key) === settled) queues.delete(key);
    });
    return run;
  }

  /**
   * A sensor's open, occurrence or clear must survive a database restart (issue 8): a failure
   * retrying can cure is retried with backoff inside the case's queue (so order is kept), for up to
   * 10 minutes or until the hub stops. If the store already holds an open case for the device and
   * rule (an earlier attempt's commit went through), the unique index refuses a second one
   * (23505): the open case is read back and the anomaly becomes its occurrence.
   */
  let closing = false;
  async function sensorWork<T>(deviceId: string, ruleId: string, fn: () => Promise<T>): Promise<T> {
    const until = Date.now() + STORE_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (sqlState(err) === '23505' && attempt < 3) {
          for (const c of await openSensorCases(db, { deviceId, ruleId })) openCases.remember(c);
          continue;
        }
        if (!isRetryable(err) || Date.now() > until || closing) throw err;
        if (attempt === 0) log.warn({ err, deviceId, ruleId }, 'case store unreachable; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))));
      }
    }
  }

  /** The sensor's own writes wait out a store outage in their queue; a person's action fails fast. */
  const sensorQueue = <T>(deviceId: string, ruleId: string, fn: () => Promise<T>) =>
    withKey(sensorKey(deviceId, ruleId), () => sensorWork(deviceId, ruleId, fn));

  const keyOf = (c: CaseRecord) =>
    c.source === 'sensor' && c.deviceId && c.ruleId ? sensorKey(c.deviceId, c.ruleId) : `c:${c.id}`;

  function newId(now: number): string {
    const local = new Date(now + zoneOffsetMs(catalogue.calendar().timezone, now));
    const day = local.toISOString().slice(0, 10).replace(/-/g, '');
    return `C${day}-${randomBytes(4).toString('hex').toUpperCase()}`;
  }

  const deadlineOf = (category: string, urgency: Urgency) =>
    deadlineFor(catalogue.calendar(), catalogue.categories.require(category).limits[urgency]);

  /**
   * Runs what the workflow decided, as fields of the live event (`GET /api/events`): `notify`
   * names who acts next (the dashboard highlights the case for them), an escalation names the level
   * and the area that now answers for the case.
   */
  function effectFields(effects: Effect[] | undefined) {
    const notify: { audience: string; unitId?: string }[] = [];
    let escalated: { level: string; areaCode: string } | undefined;
    for (const e of effects ?? []) {
      switch (e.type) {
        case 'notify':
          notify.push({ audience: e.audience, ...(e.unitId ? { unitId: e.unitId } : {}) });
          m.notifications.inc({ audience: e.audience });
          break;
        case 'escalated':
          escalated = { level: e.level, areaCode: e.areaCode };
          m.escalations.inc();
          break;
      }
    }
    return { ...(notify.length ? { notify } : {}), ...(escalated ?? {}) };
  }

  /** Writes the case with its new timeline entries, keeps the open-case index current, publishes. */
  async function persist(c: CaseRecord, steps: Step[]) {
    await saveCase(
      db,
      c,
      steps.map((s) => s.entry),
    );
    openCases.remember(c);
    for (const { entry, effects } of steps) {
      events.publish({
        type: 'case',
        action: entry.action,
        caseId: c.id,
        status: c.status,
        gridCode: c.gridCode,
        assignee: c.assignee,
        deviceId: c.deviceId,
        at: new Date(entry.at).toISOString(),
        ...effectFields(effects),
      });
    }
  }

  function applyState(c: CaseRecord, state: CaseState): CaseRecord {
    const wasClosed = c.status === 'closed';
    const next = {
      ...c,
      state,
      status: state.status,
      gridCode: state.gridCode,
      deadline: state.deadline,
      closedAt: state.closedAt,
      assignee: state.assignee,
      escalationLevel: state.escalationLevel,
    };
    if (!wasClosed && next.status === 'closed') m.closed.inc();
    return next;
  }

  /** The API error for an action the workflow refused (its code, with the actions valid now). */
  function refusal(result: { code: number; message: string; allowedActions: CaseAction[] }): GridhubError {
    const code =
      result.code === 409
        ? 'GRIDHUB_ERR_CONFLICT'
        : result.code === 403
          ? 'GRIDHUB_ERR_FORBIDDEN'
          : 'GRIDHUB_ERR_BAD_REQUEST';
    return new GridhubError(code, result.message, result.code, { allowedActions: result.allowedActions });
  }

  return {
    m,
    log,
    withKey,
    sensorQueue,
    keyOf,
    newId,
    deadlineOf,
    persist,
    applyState,
    refusal,
    /** Resolves when every queued case mutation is done. */
    idle: async () => {
      while (inFlight.size) await Promise.all([...inFlight]);
    },
    /** At shutdown: a store failure is no longer waited out (the hub must exit within 10 s). */
    stopRetrying: () => {
      closing = true;
    },
  };
}
export type CaseShell = ReturnType<typeof createCaseShell>;

/** Timeline entries without effects (an open, an occurrence). */
export const stepsOf = (entries: TimelineEntry[]): Step[] => entries.map((entry) => ({ entry }));
