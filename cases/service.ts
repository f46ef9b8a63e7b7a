/**
 * The case service: the pure workflow (cases/workflow.ts) behind a thin shell (cases/shell.ts),
 * in four concerns — the sensor's anomalies (cases/sensor.ts), the hub-clock timers
 * (cases/timers.ts), people's actions (cases/actions.ts) and the reads (cases/queries.ts); every
 * SQL statement in cases/repo.ts. It owns its clock work: `start()` loads the open sensor cases
 * and starts its timer; `stop()` ends the timer, waits for queued work and stops waiting out a
 * store outage.
 */
import type { Clock, EventBus, Logger, Metrics } from '../kernel/index.ts';
import type { People, Registry } from '../registry/index.ts';
import type { Db } from '../store/index.ts';
import { createCaseActions } from './actions.ts';
import type { Catalogue } from './catalogue.ts';
import { createMemoryOpenCaseIndex, type OpenCaseIndex } from './open-index.ts';
import { createCaseQueries } from './queries.ts';
import { openSensorCases } from './repo.ts';
import { createSensorCases } from './sensor.ts';
import { createCaseShell } from './shell.ts';
import { createCaseTimers } from './timers.ts';

export type { CaseFilter, CaseWindows } from './repo.ts';
export type { SensorAnomaly } from './sensor.ts';

export function createCaseService(deps: {
  db: Db;
  registry: Registry;
  people: People;
  catalogue: Catalogue;
  clock: Clock;
  events: EventBus;
  logger: Logger;
  metrics: Metrics;
  /** The open sensor cases by device and rule (default: this process's memory). */
  openCases?: OpenCaseIndex;
  /** How often verification and escalation run on a system clock (default 5 s). */
  tickIntervalMs?: number;
}) {
  const { db, clock } = deps;
  const openCases = deps.openCases ?? createMemoryOpenCaseIndex();
  const shell = createCaseShell({ ...deps, openCases });
  const sensor = createSensorCases({ db, catalogue: deps.catalogue, clock, openCases, shell });
  const timers = createCaseTimers({
    db,
    clock,
    logger: deps.logger,
    shell,
    tickIntervalMs: deps.tickIntervalMs,
  });
  const actions = createCaseActions({ ...deps, shell });
  const queries = createCaseQueries(deps);

  /** Reads the open sensor cases into the index (the sensor's hot path reads there). */
  async function load() {
    openCases.clear();
    for (const c of await openSensorCases(db)) openCases.remember(c);
  }

  let started = false;
  return {
    async start() {
      if (started) return;
      await load();
      timers.start();
      started = true;
    },
    /** Ends the timer and waits for queued case work; a store outage is no longer waited out. */
    async stop() {
      if (!started) return;
      started = false;
      shell.stopRetrying();
      await timers.stop();
      await shell.idle();
    },
    load,
    ...sensor,
    ...actions,
    ...queries,
    /** Runs verification and escalation now, at the hub's time (manual clock, tests). */
    tickNow: timers.tickNow,
    /** Resolves when every queued case mutation is done (tests, the scenario runner). */
    idle: shell.idle,
    /** At shutdown: a store failure is no longer waited out (the hub must exit within 10 s). */
    stopRetrying: shell.stopRetrying,
  };
}
export type CaseService = ReturnType<typeof createCaseService>;
