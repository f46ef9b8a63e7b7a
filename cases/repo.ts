/**
 * The cases' store: every SQL statement of the case service lives here (the service's files hold
 * none), so the queries can be read, indexed and tuned in one place.
 */
import type { CaseStatus, Urgency } from '../domain/index.ts';
import type { Queryable } from '../store/index.ts';
import type { CaseState, TimelineEntry } from './workflow.ts';

/**
 * A sensor case's windows, from its rule when the anomaly opened it (issue 10: they travel with the
 * anomaly and are stored on the case, so the case service never asks the rules engine).
 */
export interface CaseWindows {
  /** How long the condition must stay clear after handling before the sensor verifies. */
  verifyAfterMs: number;
  /** How long after closing a repeat sends the case back as rework instead of opening a new one. */
  relapseWindowMs: number;
}

/** A rule's defaults (rules/schema.ts `verifyAfter` 15m, `relapseWindow` 24h): for cases stored
 * before the windows were, whose rule no longer exists. */
export const DEFAULT_WINDOWS: CaseWindows = { verifyAfterMs: 15 * 60_000, relapseWindowMs: 24 * 3_600_000 };

/** A case as stored and as the API shows it. */
export interface CaseRecord {
  id: string;
  source: 'sensor' | 'report';
  status: CaseStatus;
  category: string;
  gridCode: string | null;
  urgency: Urgency;
  deviceId: string | null;
  ruleId: string | null;
  description: string | null;
  location: { lng: number; lat: number } | null;
  photos: string[];
  openedAt: number;
  deadline: number | null;
  closedAt: number | null;
  assignee: string | null;
  escalationLevel: string;
  occurrences: number;
  lastSeenAt: number;
  peak: { key: string; value: number; ts: number } | null;
  evidence: Record<string, unknown>;
  clearedAt: number | null;
  /** Sensor cases: the rule's windows (null for a reported case). */
  windows: CaseWindows | null;
  state: CaseState;
}

interface CaseRow {
  id: string;
  source: 'sensor' | 'report';
  status: CaseStatus;
  category: string;
  grid_code: string | null;
  urgency: Urgency;
  device_id: string | null;
  rule_id: string | null;
  description: string | null;
  lng: number | null;
  lat: number | null;
  photos: string[];
  opened_at: Date;
  deadline: Date | null;
  closed_at: Date | null;
  assignee: string | null;
  escalation_level: string;
  occurrences: number;
  last_seen_at: Date;
  peak: CaseRecord['peak'];
  evidence: Record<string, unknown>;
  cleared_at: Date | null;
  verify_after_ms: number | string | null;
  relapse_window_ms: number | string | null;
  state: CaseState;
}

const ms = (d: Date | null) => (d === null ? null : new Date(d).getTime());
const date = (t: number | null) => (t === null ? null : new Date(t));

export function fromRow(r: CaseRow): CaseRecord {
  return {
    id: r.id,
    source: r.source,
    status: r.status,
    category: r.category,
    gridCode: r.grid_code,
    urgency: r.urgency,
    deviceId: r.device_id,
    ruleId: r.rule_id,
    description: r.description,
    location: r.lng === null || r.lat === null ? null : { lng: Number(r.lng), lat: Number(r.lat) },
    photos: r.photos ?? [],
    openedAt: ms(r.opened_at)!,
    deadline: ms(r.deadline),
    closedAt: ms(r.closed_at),
    assignee: r.assignee,
    escalationLevel: r.escalation_level,
    occurrences: Number(r.occurrences),
    lastSeenAt: ms(r.last_seen_at)!,
    peak: r.peak,
    evidence: r.evidence ?? {},
    clearedAt: ms(r.cleared_at),
    windows:
      r.source !== 'sensor'
        ? null
        : {
            verifyAfterMs:
              r.verify_after_ms === null ? DEFAULT_WINDOWS.verifyAfterMs : Number(r.verify_after_ms),
            relapseWindowMs:
              r.relapse_window_ms === null ? DEFAULT_WINDOWS.relapseWindowMs : Number(r.relapse_window_ms),
          },
    state: r.state,
  };
}

/**
 * Writes the whole case (insert or update) and appends its new timeline entries in ONE statement:
 * atomic without a transaction, and one round trip — case latency under load is mostly waiting
 * for the store.
 */
export async function saveCase(db: Queryable, c: CaseRecord, newEntries: TimelineEntry[]): Promise<void> {
  const events = newEntries.map((e) => {
    const { action, from, to, actor, role, at, note, ...data } = e;
    return { action, from, to, actor, role, at, note: note ?? null, data: JSON.stringify(data) };
  });
  await db.query(
    `WITH saved AS (
       INSERT INTO cases (id, source, status, category, grid_code, urgency, device_id, rule_id, description, lng, lat,
         photos, opened_at, deadline, closed_at, assignee, escalation_level, occurrences, last_seen_at, peak, evidence,
         state, cleared_at, verify_after_ms, relapse_window_ms, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
         $32, $33, now())
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, grid_code = excluded.grid_code, urgency = excluded.urgency,
         deadline = excluded.deadline, closed_at = excluded.closed_at, assignee = excluded.assignee,
         escalation_level = excluded.escalation_level, occurrences = excluded.occurrences,
         last_seen_at = excluded.last_seen_at, peak = excluded.peak, evidence = excluded.evidence,
         state = excluded.state, cleared_at = excluded.cleared_at, verify_after_ms = excluded.verify_after_ms,
         relapse_window_ms = excluded.relapse_window_ms, updated_at = now()
       RETURNING id),
     base AS (SELECT coalesce(max(seq), 0) AS n FROM case_events WHERE case_id = $1)
     INSERT INTO case_events (case_id, seq, at, action, from_status, to_status, actor, role, note, data)
     SELECT saved.id, base.n + e.ord, to_timestamp(e.at / 1000.0), e.action, e.from_s, e.to_s, e.actor, e.role, e.note, e.data::jsonb
       FROM saved, base,
            unnest($24::float8[], $25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::text[], $31::text[])
              WITH ORDINALITY AS e(at, action, from_s, to_s, actor, role, note, data, ord)`,
    [
      c.id,
      c.source,
      c.status,
      c.category,
      c.gridCode,
      c.urgency,
      c.deviceId,
      c.ruleId,
      c.description,
      c.location?.lng ?? null,
      c.location?.lat ?? null,
      JSON.stringify(c.photos),
      date(c.openedAt),
      date(c.deadline),
      date(c.closedAt),
      c.assignee,
      c.escalationLevel,
      c.occurrences,
      date(c.lastSeenAt),
      c.peak === null ? null : JSON.stringify(c.peak),
      JSON.stringify(c.evidence),
      JSON.stringify(c.state),
      date(c.clearedAt),
      events.map((e) => e.at),
      events.map((e) => e.action),
      events.map((e) => e.from),
      events.map((e) => e.to),
      events.map((e) => e.actor),
      events.map((e) => e.role),
      events.map((e) => e.note),
      events.map((e) => e.data),
      c.windows?.verifyAfterMs ?? null,
      c.windows?.relapseWindowMs ?? null,
    ],
  );
}

export async function loadCase(db: Queryable, id: string): Promise<CaseRecord | undefined> {
  const rows = await db.query<CaseRow>('SELECT * FROM cases WHERE id = $1', [id]);
  return rows[0] && fromRow(rows[0]);
}

type EventRow = {
  case_id: string;
  at: Date;
  action: string;
  from_status: string | null;
  to_status: string;
  actor: string;
  role: string;
  note: string | null;
  data: Record<string, unknown>;
};

const toEntry = (r: EventRow) =>
  ({
    ...r.data,
    action: r.action,
    from: r.from_status,
    to: r.to_status,
    actor: r.actor,
    role: r.role,
    at: new Date(r.at).getTime(),
    ...(r.note === null ? {} : { note: r.note }),
  }) as TimelineEntry;

export async function loadTimeline(db: Queryable, id: string): Promise<TimelineEntry[]> {
  return (await db.query<EventRow>('SELECT * FROM case_events WHERE case_id = $1 ORDER BY seq', [id])).map(
    toEntry,
  );
}

/** Timelines of many cases in one query (KPIs). */
export async function loadTimelines(db: Queryable, ids: string[]): Promise<Map<string, TimelineEntry[]>> {
  const out = new Map<string, TimelineEntry[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  const rows = await db.query<EventRow>(
    'SELECT * FROM case_events WHERE case_id = ANY($1::text[]) ORDER BY case_id, seq',
    [ids],
  );
  for (const r of rows) out.get(r.case_id)?.push(toEntry(r));
  return out;
}

// --- the case service's queries ------------------------------------------------------------------

const OPEN_SQL = `status NOT IN ('closed', 'rejected')`;

/** Open sensor cases: all of them (the open-case index at start), or one device and rule's. */
export async function openSensorCases(
  db: Queryable,
  of?: { deviceId: string; ruleId: string },
): Promise<CaseRecord[]> {
  const rows = of
    ? await db.query<CaseRow>(
        `SELECT * FROM cases WHERE source = 'sensor' AND device_id = $1 AND rule_id = $2 AND ${OPEN_SQL}`,
        [of.deviceId, of.ruleId],
      )
    : await db.query<CaseRow>(`SELECT * FROM cases WHERE source = 'sensor' AND ${OPEN_SQL}`);
  return rows.map(fromRow);
}

/** The device and rule's sensor case closed most recently, at or after `since` (a relapse candidate). */
export async function lastClosedSensorCase(
  db: Queryable,
  deviceId: string,
  ruleId: string,
  since: number,
): Promise<CaseRecord | undefined> {
  const rows = await db.query<CaseRow>(
    `SELECT * FROM cases WHERE source = 'sensor' AND device_id = $1 AND rule_id = $2 AND status = 'closed'
       AND closed_at >= $3 ORDER BY closed_at DESC LIMIT 1`,
    [deviceId, ruleId, new Date(since)],
  );
  return rows[0] && fromRow(rows[0]);
}

/** Handled sensor cases whose condition has cleared: candidates for the sensor's verification. */
export async function handledAndClear(db: Queryable): Promise<CaseRecord[]> {
  const rows = await db.query<CaseRow>(
    `SELECT * FROM cases WHERE source = 'sensor' AND status = 'handled' AND cleared_at IS NOT NULL`,
  );
  return rows.map(fromRow);
}

/** Open, not deferred cases past their deadline below the top level: candidates for escalation. */
export async function overdueBelowTop(db: Queryable, now: number): Promise<CaseRecord[]> {
  const rows = await db.query<CaseRow>(
    `SELECT * FROM cases WHERE status NOT IN ('closed', 'rejected', 'deferred') AND deadline <= $1
       AND escalation_level <> 'district'`,
    [new Date(now)],
  );
  return rows.map(fromRow);
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

/**
 * One page of cases (up to `limit + 1` rows: the extra one says whether there is a next page),
 * with each row's sort key (the next page's cursor is the last row's key and id).
 */
export async function listCases(
  db: Queryable,
  f: CaseFilter,
  now: number,
): Promise<{ cases: CaseRecord[]; keys: number[] }> {
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
      new Date(now),
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
  const rows = await db.query<CaseRow & { sort_key: number | string }>(
    `SELECT *, ${key} AS sort_key FROM cases ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY sort_key ${dir}, id ${dir} LIMIT $${params.length}`,
    params,
  );
  return { cases: rows.map(fromRow), keys: rows.map((r) => Number(r.sort_key)) };
}

/** Counts by grid, status and urgency (with the overdue among them), and the devices in alarm. */
export async function summaryCounts(
  db: Queryable,
  scope: { gridPrefixes?: string[]; assignee?: string },
  now: number,
) {
  const where: string[] = [];
  const params: unknown[] = [new Date(now)];
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
  return { rows, alarmDevices: devices.map((d) => d.device_id) };
}

/** Cases due in [from, to) or with a timeline entry in it (the KPI period). */
export async function casesInPeriod(db: Queryable, from: number, to: number): Promise<CaseRecord[]> {
  const rows = await db.query<CaseRow>(
    `SELECT * FROM cases c WHERE (deadline >= $1 AND deadline < $2)
        OR EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.at >= $1 AND e.at < $2)`,
    [new Date(from), new Date(to)],
  );
  return rows.map(fromRow);
}

/** The grids and devices of the cases ever dispatched to a unit. */
export async function unitCaseScope(db: Queryable, unitId: string) {
  const rows = await db.query<{ grid_code: string | null; device_id: string | null }>(
    'SELECT DISTINCT grid_code, device_id FROM cases WHERE assignee = $1',
    [unitId],
  );
  return {
    gridCodes: [...new Set(rows.map((r) => r.grid_code).filter((g): g is string => !!g))],
    deviceIds: [...new Set(rows.map((r) => r.device_id).filter((d): d is string => !!d))],
  };
}
