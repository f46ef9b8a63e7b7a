import { randomBytes } from 'node:crypto';
import type { Clock, EventBus, Logger, Metrics } from '../kernel/index.ts';
import { badRequest, GridhubError, notFound, zoneOffsetMs } from '../kernel/index.ts';
import type { Device, People, Registry } from '../registry/index.ts';
import type { Db } from '../store/index.ts';
import { isRetryable, sqlState } from '../store/index.ts';
import { deadlineFor } from './calendar.ts';
import type { Catalogue } from './catalogue.ts';
import type { Urgency } from './categories.ts';
import { computeKpis, type KpiCase, type KpiLevel } from './kpi.ts';
import {
  type CaseRecord,
  type CaseRow,
  fromRow,
  loadCase,
  loadTimeline,
  loadTimelines,
  saveCase,
} from './repo.ts';
import {
  type Actor,
  allowedActions,
  type CaseAction,
  type CaseState,
  occurrenceEntry,
  openCase,
  overdueEscalation,
  SENSOR_ACTOR,
  SYSTEM_ACTOR,
  type TimelineEntry,
  transition,
} from './workflow.ts';

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
}

export interface CaseFilter {
  status?: string;
  gridCode?: string;
  deviceId?: string;
  ruleId?: string;
  category?: string;
  urgency?: string;
  overdue?: boolean;
  from?: number;
  to?: number;
  source?: 'sensor' | 'report';
  /** The column to sort by (default `opened`, the opening time). */
  sort?: CaseSort;
  /** Newest / largest first (default) or oldest / smallest first. */
  order?: 'desc' | 'asc';
  limit: number;
  cursor?: string;
  /** What a scoped user may see (web/access.ts): a unit its cases, an inspector its grids. */
  scope?: { unitId?: string; gridPrefixes?: string[] };
}

const OPEN_SQL = `status NOT IN ('closed', 'rejected')`;

/** What the case list can be sorted by (GET /api/cases?sort=): each one number per row (below). */
export const CASE_SORTS = ['opened', 'deadline', 'urgency', 'updated'] as const;
export type CaseSort = (typeof CASE_SORTS)[number];
const MS = (col: string) => `floor(extract(epoch from ${col}) * 1000)::float8`;
/**
 * Each sort as one number per row, so keyset paging is `(key, id) < (cursor key, cursor id)`
 * whatever the column and the pages stay correct while cases change. A case without a deadline
 * comes last in either direction; urgency ranks urgent > normal > low, ties by opening time
 * (rank × 10¹³ + epoch ms stays exact in a float8: below 2⁵³).
 */
function sortKeySql(sort: CaseSort, asc: boolean): string {
  switch (sort) {
    case 'opened':
      return MS('opened_at');
    case 'updated':
      return MS('updated_at');
    case 'deadline':
      return `COALESCE(${MS('deadline')}, ${asc ? '9e15' : '-1'})`;
    case 'urgency':
      return `(CASE urgency WHEN 'urgent' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END) * 1e13 + ${MS('opened_at')}`;
  }
}
const HOUR = 3_600_000;

/**
 * The thin shell around the pure workflow: it loads a case, applies a transition, persists the
 * new state with its timeline entries in one transaction and publishes the change. All mutations
 * go through one queue, so a sensor occurrence and a person's action never interleave.
 */
export function createCaseService(deps: {
  db: Db;
  registry: Registry;
  people: People;
  catalogue: Catalogue;
  clock: Clock;
  events: EventBus;
  logger: Logger;
  metrics: Metrics;
  /** How long the sensor may send a closed case back as rework (ruleId → ms). */
  relapseWindowMs: (ruleId: string) => number;
  /** How long the condition must stay clear before the sensor verifies (ruleId → ms). */
  verifyAfterMs: (ruleId: string) => number;
}) {
  const { db, clock, events, catalogue, registry, people } = deps;
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
  const storeRetryMs = 10 * 60_000;
  let closing = false;
  async function sensorWork<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const [deviceId, ruleId] = key.slice(2).split('\u0000') as [string, string];
    const until = Date.now() + storeRetryMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (sqlState(err) === '23505' && attempt < 3) {
          const rows = await db.query<CaseRow>(
            `SELECT * FROM cases WHERE source = 'sensor' AND device_id = $1 AND rule_id = $2 AND ${OPEN_SQL}`,
            [deviceId, ruleId],
          );
          for (const row of rows) remember(fromRow(row));
          continue;
        }
        if (!isRetryable(err) || Date.now() > until || closing) throw err;
        if (attempt === 0) log.warn({ err, deviceId, ruleId }, 'case store unreachable; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))));
      }
    }
  }

  /** The sensor's own writes wait out a store outage in their queue; a person's action fails fast. */
  const sensorQueue = <T>(key: string, fn: () => Promise<T>) => withKey(key, () => sensorWork(key, fn));

  const sensorKey = (deviceId: string, ruleId: string) => `s:${deviceId}\u0000${ruleId}`;
  const keyOf = (c: CaseRecord) =>
    c.source === 'sensor' && c.deviceId && c.ruleId ? sensorKey(c.deviceId, c.ruleId) : `c:${c.id}`;

  function newId(now: number): string {
    const local = new Date(now + zoneOffsetMs(catalogue.calendar().timezone, now));
    const day = local.toISOString().slice(0, 10).replace(/-/g, '');
    return `C${day}-${randomBytes(4).toString('hex').toUpperCase()}`;
  }

  const deadlineOf = (category: string, urgency: Urgency) =>
    deadlineFor(catalogue.calendar(), catalogue.categories.require(category).limits[urgency]);

  // The open sensor cases, by device and rule: the sensor's hot path (an occurrence, a clear)
  // reads here instead of the store. Every write goes through persist(), which keeps it current.
  // (Several hubs sharing one store will need this invalidated over the bus.)
  const openSensorCases = new Map<string, CaseRecord>();

  async function load() {
    openSensorCases.clear();
    const rows = await db.query<CaseRow>(`SELECT * FROM cases WHERE source = 'sensor' AND ${OPEN_SQL}`);
    for (const row of rows) remember(fromRow(row));
  }

  function remember(c: CaseRecord) {
    if (c.source !== 'sensor' || !c.deviceId || !c.ruleId) return;
    const key = sensorKey(c.deviceId, c.ruleId);
    if (c.status === 'closed' || c.status === 'rejected') {
      if (openSensorCases.get(key)?.id === c.id) openSensorCases.delete(key);
    } else openSensorCases.set(key, c);
  }

  async function persist(c: CaseRecord, entries: TimelineEntry[]) {
    await saveCase(db, c, entries);
    remember(c);
    for (const e of entries) {
      events.publish({
        type: 'case',
        action: e.action,
        caseId: c.id,
        status: c.status,
        gridCode: c.gridCode,
        assignee: c.assignee,
        deviceId: c.deviceId,
        at: new Date(e.at).toISOString(),
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

  function fail(result: { code: number; message: string; allowedActions: CaseAction[] }): never {
    const code =
      result.code === 409
        ? 'GRIDHUB_ERR_CONFLICT'
        : result.code === 403
          ? 'GRIDHUB_ERR_FORBIDDEN'
          : 'GRIDHUB_ERR_BAD_REQUEST';
    throw new GridhubError(code, result.message, result.code, { allowedActions: result.allowedActions });
  }

  const findOpenSensorCase = (deviceId: string, ruleId: string) =>
    openSensorCases.get(sensorKey(deviceId, ruleId));

  /** The sensor's condition opened: a new case, an occurrence of the open one, or a relapse. */
  function sensorActive(a: SensorAnomaly): Promise<CaseRecord | undefined> {
    return sensorQueue(sensorKey(a.device.id, a.ruleId), async () => {
      const now = clock.now();
      const at = Math.min(a.ts, now);
      const peak = Object.entries(a.observed)[0];
      const bumpPeak = (c: CaseRecord) =>
        peak && (c.peak === null || peak[1] > c.peak.value)
          ? { key: peak[0], value: peak[1], ts: a.ts }
          : c.peak;
      const open = findOpenSensorCase(a.device.id, a.ruleId);
      if (open) {
        let c: CaseRecord = {
          ...open,
          occurrences: open.occurrences + 1,
          lastSeenAt: at,
          peak: bumpPeak(open),
          clearedAt: null,
        };
        const entries: TimelineEntry[] = [];
        if (open.status === 'handled' || open.status === 'verified') {
          const r = transition(open.state, 'relapse', { actor: SENSOR_ACTOR, now, note: a.explanation });
          if (r.ok) {
            c = applyState(c, r.next);
            entries.push(r.entry);
            m.relapses.inc();
          }
        } else {
          entries.push(occurrenceEntry(open.state, at, SENSOR_ACTOR, a.explanation));
          m.occurrences.inc();
        }
        await persist(c, entries);
        return c;
      }
      // Within the relapse window after closing, the closed case goes back to rework.
      const windowMs = deps.relapseWindowMs(a.ruleId);
      const recent = await db.query<CaseRow>(
        `SELECT * FROM cases WHERE source = 'sensor' AND device_id = $1 AND rule_id = $2 AND status = 'closed'
           AND closed_at >= $3 ORDER BY closed_at DESC LIMIT 1`,
        [a.device.id, a.ruleId, new Date(now - windowMs)],
      );
      if (recent[0]) {
        const closed = fromRow(recent[0]);
        const r = transition(closed.state, 'relapse', {
          actor: SENSOR_ACTOR,
          now,
          note: a.explanation,
          relapseWindowMs: windowMs,
        });
        if (r.ok) {
          const c = applyState(
            {
              ...closed,
              occurrences: closed.occurrences + 1,
              lastSeenAt: at,
              peak: bumpPeak(closed),
              clearedAt: null,
            },
            r.next,
          );
          m.relapses.inc();
          await persist(c, [r.entry]);
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
        deadlineFor: deadlineOf(a.category, a.urgency),
        actor: SENSOR_ACTOR,
        note: a.explanation,
      });
      const c = applyState(
        {
          id: newId(at),
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
          state: opened.state,
        },
        opened.state,
      );
      await persist(c, opened.entries);
      m.opened.inc({ source: 'sensor' });
      return c;
    });
  }

  /** The sensor's condition cleared: remember when, for verification. */
  function sensorCleared(deviceId: string, ruleId: string, ts: number): Promise<void> {
    return sensorQueue(sensorKey(deviceId, ruleId), async () => {
      const open = findOpenSensorCase(deviceId, ruleId);
      if (!open || open.clearedAt !== null) return;
      await persist({ ...open, clearedAt: Math.min(ts, clock.now()) }, []);
    });
  }

  /**
   * Hub-clock work: the sensor verifies handled cases whose condition stayed clear long enough
   * after handling; overdue cases escalate one level up, once per level.
   */
  /** Re-reads a case under its key and applies `step` to the current version. */
  function update(found: CaseRecord, step: (c: CaseRecord) => Promise<boolean>): Promise<boolean> {
    return withKey(keyOf(found), async () => {
      const c = await loadCase(db, found.id);
      return c ? step(c) : false;
    });
  }

  async function tick(): Promise<{ verified: number; escalated: number }> {
    const now = clock.now();
    let verified = 0;
    let escalated = 0;
    const handled = await db.query<CaseRow>(
      `SELECT * FROM cases WHERE source = 'sensor' AND status = 'handled' AND cleared_at IS NOT NULL`,
    );
    for (const row of handled) {
      const done = await update(fromRow(row), async (c) => {
        if (c.status !== 'handled' || c.clearedAt === null) return false;
        const since = Math.max(c.clearedAt, c.state.handledAt ?? 0);
        if (now - since < deps.verifyAfterMs(c.ruleId ?? '')) return false;
        const r = transition(c.state, 'verify', {
          actor: SENSOR_ACTOR,
          now,
          note: `condition clear since ${new Date(c.clearedAt).toISOString()}`,
        });
        if (!r.ok) return false;
        await persist(applyState(c, r.next), [r.entry]);
        return true;
      });
      if (done) verified++;
    }
    const overdue = await db.query<CaseRow>(
      `SELECT * FROM cases WHERE status NOT IN ('closed', 'rejected', 'deferred') AND deadline <= $1
         AND escalation_level <> 'district'`,
      [new Date(now)],
    );
    for (const row of overdue) {
      await update(fromRow(row), async (current) => {
        let c = current;
        const entries: TimelineEntry[] = [];
        for (let i = 0; i < 3; i++) {
          if (!overdueEscalation(c.state, now)) break;
          const r = transition(c.state, 'escalate', {
            actor: SYSTEM_ACTOR,
            now,
            note: `overdue since ${new Date(c.deadline!).toISOString()}`,
          });
          if (!r.ok) break;
          c = applyState(c, r.next);
          entries.push(r.entry);
          m.escalations.inc();
        }
        if (entries.length === 0) return false;
        await persist(c, entries);
        escalated += entries.length;
        return true;
      });
    }
    return { verified, escalated };
  }

  function actorOf(p: {
    role: string;
    userId?: string;
    unitId?: string | null;
    gridCodes?: string[];
  }): Actor {
    return {
      role: p.role as Actor['role'],
      id: p.userId ?? p.role,
      ...(p.unitId ? { unitId: p.unitId } : {}),
      ...(p.gridCodes ? { gridCodes: p.gridCodes } : {}),
    };
  }

  function act(
    id: string,
    action: CaseAction,
    opts: { principal: Parameters<typeof actorOf>[0]; note?: string; assignee?: string },
  ): Promise<CaseRecord> {
    return (async () => {
      const found = await loadCase(db, id);
      if (!found) throw notFound('case', id);
      return withKey(keyOf(found), async () => {
        const c = (await loadCase(db, id)) ?? found;
        if (action === 'dispatch' && opts.assignee && !people.units.get(opts.assignee)) {
          throw badRequest(`assignee: no unit '${opts.assignee}'`);
        }
        const r = transition(c.state, action, {
          actor: actorOf(opts.principal),
          now: clock.now(),
          note: opts.note,
          assignee: opts.assignee,
          deadlineFor: deadlineOf(c.category, c.urgency),
          relapseWindowMs: c.ruleId ? deps.relapseWindowMs(c.ruleId) : undefined,
        });
        if (!r.ok) fail(r);
        const next = applyState(c, r.next);
        await persist(next, [r.entry]);
        return next;
      });
    })();
  }

  /** A case reported by a person (POST /api/cases): placed by its location or given grid. */
  function report(
    input: {
      category: string;
      description: string;
      location?: { lng: number; lat: number };
      gridCode?: string;
      photos?: string[];
      urgency?: Urgency;
    },
    principal: Parameters<typeof actorOf>[0],
  ): Promise<CaseRecord> {
    return (async () => {
      const category = catalogue.categories.get(input.category);
      if (!category) throw badRequest(`category: unknown category '${input.category}'`);
      let gridCode = input.gridCode ?? null;
      if (gridCode && !registry.grids.get(gridCode)) throw badRequest(`gridCode: no grid '${gridCode}'`);
      if (!gridCode && input.location)
        gridCode = registry.grids.locate(input.location.lng, input.location.lat);
      if (!gridCode)
        throw badRequest(
          'location: outside every grid (give a location inside the city grids, or a gridCode)',
        );
      // A grid worker reports in the grids assigned to them (责任田).
      const placed = gridCode;
      if (principal.role === 'inspector' && !(principal.gridCodes ?? []).some((g) => placed.startsWith(g))) {
        throw new GridhubError(
          'GRIDHUB_ERR_FORBIDDEN',
          `grid ${placed} is not among the grids assigned to you`,
          403,
        );
      }
      const now = clock.now();
      const urgency = input.urgency ?? category.defaultUrgency;
      const opened = openCase({
        gridCode,
        now,
        autoRegister: false,
        deadlineFor: deadlineOf(category.code, urgency),
        actor: actorOf(principal),
        note: input.description,
      });
      const c = applyState(
        {
          id: newId(now),
          source: 'report',
          status: opened.state.status,
          category: category.code,
          gridCode,
          urgency,
          deviceId: null,
          ruleId: null,
          description: input.description,
          location: input.location ?? null,
          photos: input.photos ?? [],
          openedAt: now,
          deadline: null,
          closedAt: null,
          assignee: null,
          escalationLevel: 'grid',
          occurrences: 1,
          lastSeenAt: now,
          peak: null,
          evidence: {},
          clearedAt: null,
          state: opened.state,
        },
        opened.state,
      );
      await persist(c, opened.entries);
      m.opened.inc({ source: 'report' });
      return c;
    })();
  }

  function view(c: CaseRecord) {
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
    const { state: _state, ...rest } = c;
    return {
      ...rest,
      openedAt: iso(c.openedAt),
      deadline: iso(c.deadline),
      closedAt: iso(c.closedAt),
      lastSeenAt: iso(c.lastSeenAt),
      clearedAt: iso(c.clearedAt),
      overdue:
        c.deadline !== null && c.status !== 'closed' && c.status !== 'rejected' && c.deadline <= clock.now(),
      peak: c.peak && { ...c.peak, ts: iso(c.peak.ts) },
    };
  }

  async function get(id: string, principal?: Parameters<typeof actorOf>[0]) {
    const c = await loadCase(db, id);
    if (!c) throw notFound('case', id);
    const timeline = (await loadTimeline(db, id)).map((e) => ({ ...e, at: new Date(e.at).toISOString() }));
    return {
      ...view(c),
      timeline,
      allowedActions: principal ? allowedActions(c.state, actorOf(principal), { now: clock.now() }) : [],
      suggestedUnits: people.units.suggest(c.category, c.gridCode).map((u) => u.id),
    };
  }

  async function list(f: CaseFilter) {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (f.scope?.unitId !== undefined) add('assignee = ?', f.scope.unitId);
    else if (f.scope?.gridPrefixes) {
      const ors = f.scope.gridPrefixes.map((p) => {
        params.push(p);
        return `grid_code LIKE $${params.length} || '%'`;
      });
      where.push(ors.length ? `(${ors.join(' OR ')})` : 'false');
    }
    if (f.status) add('status = ?', f.status);
    if (f.gridCode) add(`grid_code LIKE ? || '%'`, f.gridCode);
    if (f.deviceId) add('device_id = ?', f.deviceId);
    if (f.ruleId) add('rule_id = ?', f.ruleId);
    if (f.category) add('category = ?', f.category);
    if (f.urgency) add('urgency = ?', f.urgency);
    if (f.overdue !== undefined) {
      add(
        f.overdue
          ? `${OPEN_SQL} AND deadline <= ?`
          : `NOT (${OPEN_SQL} AND deadline IS NOT NULL AND deadline <= ?)`,
        new Date(clock.now()),
      );
    }
    if (f.from !== undefined) add('opened_at >= ?', new Date(f.from));
    if (f.to !== undefined) add('opened_at < ?', new Date(f.to));
    if (f.source) add('source = ?', f.source);
    const asc = f.order === 'asc';
    const key = sortKeySql(f.sort ?? 'opened', asc);
    if (f.cursor) {
      const [k, id] = Buffer.from(f.cursor, 'base64url').toString('utf8').split('|');
      params.push(Number(k), id);
      where.push(`(${key}, id) ${asc ? '>' : '<'} ($${params.length - 1}::float8, $${params.length})`);
    }
    params.push(f.limit + 1);
    const dir = asc ? 'ASC' : 'DESC';
    const rows = await db.query<CaseRow & { sort_key: number }>(
      `SELECT *, ${key} AS sort_key FROM cases ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY sort_key ${dir}, id ${dir} LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(fromRow).map(view),
      next:
        rows.length > f.limit && last
          ? Buffer.from(`${Number(last.sort_key)}|${last.id}`).toString('base64url')
          : null,
    };
  }

  /**
   * The overview's figures in one pass: open cases per grid (by urgency, overdue), counts by status,
   * and the devices with an open sensor case (drawn "in alarm" on the map). `scope` narrows it to an
   * inspector's grids or a unit's cases.
   */
  async function summary(scope: { gridPrefixes?: string[]; assignee?: string } = {}) {
    const where: string[] = [];
    const params: unknown[] = [new Date(clock.now())];
    if (scope.gridPrefixes) {
      params.push(scope.gridPrefixes);
      where.push(`EXISTS (SELECT 1 FROM unnest($${params.length}::text[]) p WHERE grid_code LIKE p || '%')`);
    }
    if (scope.assignee !== undefined) {
      params.push(scope.assignee);
      where.push(`assignee = $${params.length}`);
    }
    const w = where.length ? `AND ${where.join(' AND ')}` : '';
    const rows = await db.query<{
      grid_code: string | null;
      status: string;
      urgency: string;
      n: number | string;
      overdue: number | string;
    }>(
      `SELECT grid_code, status, urgency, count(*) AS n,
              count(*) FILTER (WHERE ${OPEN_SQL} AND deadline <= $1) AS overdue
         FROM cases WHERE TRUE ${w} GROUP BY grid_code, status, urgency`,
      params,
    );
    const devices = await db.query<{ device_id: string; urgency: string }>(
      `SELECT device_id, max(urgency) AS urgency FROM cases
        WHERE source = 'sensor' AND device_id IS NOT NULL AND ${OPEN_SQL} AND $1::timestamptz IS NOT NULL ${w}
        GROUP BY device_id`,
      params,
    );
    const byStatus: Record<string, number> = {};
    const byGrid: Record<string, { open: number; urgent: number; overdue: number }> = {};
    let open = 0;
    let overdue = 0;
    for (const r of rows) {
      const n = Number(r.n);
      byStatus[r.status] = (byStatus[r.status] ?? 0) + n;
      if (r.status === 'closed' || r.status === 'rejected') continue;
      open += n;
      overdue += Number(r.overdue);
      if (!r.grid_code) continue;
      const g = byGrid[r.grid_code] ?? { open: 0, urgent: 0, overdue: 0 };
      byGrid[r.grid_code] = g;
      g.open += n;
      if (r.urgency === 'urgent') g.urgent += n;
      g.overdue += Number(r.overdue);
    }
    return {
      at: new Date(clock.now()).toISOString(),
      open,
      overdue,
      byStatus,
      byGrid,
      alarmDevices: devices.map((d) => d.device_id),
    };
  }

  async function kpis(from: number, to: number, level: KpiLevel, scope?: CaseFilter['scope']) {
    const rows = await db.query<CaseRow>(
      `SELECT * FROM cases c WHERE (deadline >= $1 AND deadline < $2)
          OR EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.at >= $1 AND e.at < $2)`,
      [new Date(from), new Date(to)],
    );
    const records = rows
      .map(fromRow)
      .filter((c) => c.gridCode !== null)
      .filter((c) =>
        scope?.unitId !== undefined
          ? c.assignee === scope.unitId
          : scope?.gridPrefixes
            ? scope.gridPrefixes.some((p) => c.gridCode!.startsWith(p))
            : true,
      );
    const timelines = await loadTimelines(
      db,
      records.map((c) => c.id),
    );
    const input: KpiCase[] = records.map((c) => ({
      id: c.id,
      gridCode: c.gridCode!,
      urgency: c.urgency,
      openedAt: c.openedAt,
      deadline: c.deadline,
      closedAt: c.closedAt,
      status: c.state.status,
      assignee: c.assignee,
      timeline: timelines.get(c.id) ?? [],
    }));
    const report = computeKpis(input, { from, to, level });
    return { ...report, from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  }

  /** The grids and devices of the cases dispatched to a unit (what a unit user may read). */
  async function unitScope(unitId: string) {
    const rows = await db.query<{ grid_code: string | null; device_id: string | null }>(
      'SELECT DISTINCT grid_code, device_id FROM cases WHERE assignee = $1',
      [unitId],
    );
    return {
      gridCodes: [...new Set(rows.map((r) => r.grid_code).filter((g): g is string => !!g))],
      deviceIds: [...new Set(rows.map((r) => r.device_id).filter((d): d is string => !!d))],
    };
  }

  /**
   * Adds a picture (a camera still stored as media) to a case's evidence (`evidence.stills`), under the
   * case's queue so it never overwrites a concurrent change. At most 20 per case.
   */
  async function attachMedia(id: string, item: { mediaId: string; url: string; [k: string]: unknown }) {
    const found = await loadCase(db, id);
    if (!found) throw notFound('case', id);
    await withKey(keyOf(found), async () => {
      const c = (await loadCase(db, id)) ?? found;
      const stills = Array.isArray(c.evidence.stills) ? (c.evidence.stills as unknown[]) : [];
      if (stills.length >= 20) return;
      await persist({ ...c, evidence: { ...c.evidence, stills: [...stills, item] } }, []);
      events.publish({
        type: 'case',
        action: 'evidence',
        caseId: c.id,
        status: c.status,
        gridCode: c.gridCode,
        at: new Date(clock.now()).toISOString(),
      });
    });
  }

  return {
    load,
    attachMedia,
    unitScope,
    sensorActive,
    sensorCleared,
    tick,
    act,
    report,
    get,
    list,
    kpis,
    summary,
    /** Resolves when every queued case mutation is done (tests, the scenario runner). */
    idle: async () => {
      while (inFlight.size) await Promise.all([...inFlight]);
    },
    /** At shutdown: a store failure is no longer waited out (the hub must exit within 10 s). */
    stopRetrying: () => {
      closing = true;
    },
  };
}
export type CaseService = ReturnType<typeof createCaseService>;
