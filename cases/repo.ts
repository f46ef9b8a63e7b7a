import type { Queryable } from '../store/index.ts';
import type { CaseState, TimelineEntry } from './workflow.ts';

/** A case as stored and as the API shows it. */
export interface CaseRecord {
  id: string;
  source: 'sensor' | 'report';
  status: string;
  category: string;
  gridCode: string | null;
  urgency: 'low' | 'normal' | 'urgent';
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
  state: CaseState;
}

interface CaseRow {
  id: string;
  source: 'sensor' | 'report';
  status: string;
  category: string;
  grid_code: string | null;
  urgency: 'low' | 'normal' | 'urgent';
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
         state, cleared_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, now())
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, grid_code = excluded.grid_code, urgency = excluded.urgency,
         deadline = excluded.deadline, closed_at = excluded.closed_at, assignee = excluded.assignee,
         escalation_level = excluded.escalation_level, occurrences = excluded.occurrences,
         last_seen_at = excluded.last_seen_at, peak = excluded.peak, evidence = excluded.evidence,
         state = excluded.state, cleared_at = excluded.cleared_at, updated_at = now()
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

export type { CaseRow };
