import type { Db, Dialect } from './db.ts';

/** Columnar batches: one array per column, so a flush is one `unnest` INSERT per table. */
export interface TelemetryBatch {
  ts: number[];
  deviceId: string[];
  key: string[];
  value: number[];
}
export interface ValueBatch {
  ts: number[];
  deviceId: string[];
  key: string[];
  json: string[];
}
export interface EventRow {
  ts: number;
  deviceId: string;
  type: string;
  confidence: number | null;
  snapshot: string | null;
  data: Record<string, unknown>;
}
export interface RejectedRow {
  receivedAt: number;
  deviceId: string | null;
  clientId: string | null;
  topic: string;
  code: string;
  reason: string;
  payload: string | null;
  /** Similar rejections (device, reason) only counted since the previous kept row. */
  suppressed?: number;
}
export interface LatestRow {
  deviceId: string;
  key: string;
  ts: number;
  value: number | null;
  json: string | null;
}

export interface WriteSet {
  telemetry: TelemetryBatch;
  values: ValueBatch;
  events: EventRow[];
  rejected: RejectedRow[];
  latest: LatestRow[];
}

export const emptyWriteSet = (): WriteSet => ({
  telemetry: { ts: [], deviceId: [], key: [], value: [] },
  values: { ts: [], deviceId: [], key: [], json: [] },
  events: [],
  rejected: [],
  latest: [],
});

/** Rows in a write set, over every table. */
export function writeSetSize(w: WriteSet): number {
  return w.telemetry.ts.length + w.values.ts.length + w.events.length + w.latest.length + w.rejected.length;
}

/**
 * Rows [from, to) of a write set, counting through its tables in a fixed order (telemetry, values,
 * events, latest, rejected). Splitting a batch in halves with this finds the rows a store refuses
 * in O(bad · log n) writes.
 */
export function sliceWriteSet(w: WriteSet, from: number, to: number): WriteSet {
  const out = emptyWriteSet();
  let base = 0;
  const range = (n: number): [number, number] => {
    const a = Math.max(0, Math.min(n, from - base));
    const b = Math.max(0, Math.min(n, to - base));
    base += n;
    return [a, b];
  };
  const [t0, t1] = range(w.telemetry.ts.length);
  out.telemetry = {
    ts: w.telemetry.ts.slice(t0, t1),
    deviceId: w.telemetry.deviceId.slice(t0, t1),
    key: w.telemetry.key.slice(t0, t1),
    value: w.telemetry.value.slice(t0, t1),
  };
  const [v0, v1] = range(w.values.ts.length);
  out.values = {
    ts: w.values.ts.slice(v0, v1),
    deviceId: w.values.deviceId.slice(v0, v1),
    key: w.values.key.slice(v0, v1),
    json: w.values.json.slice(v0, v1),
  };
  const [e0, e1] = range(w.events.length);
  out.events = w.events.slice(e0, e1);
  const [l0, l1] = range(w.latest.length);
  out.latest = w.latest.slice(l0, l1);
  const [r0, r1] = range(w.rejected.length);
  out.rejected = w.rejected.slice(r0, r1);
  return out;
}

/**
 * Several write sets as one (replaying a spool in fewer transactions). Latest values stay one row
 * per (device, key), the newest — an upsert may not touch a row twice in one statement.
 */
export function mergeWriteSets(list: WriteSet[]): WriteSet {
  const out = emptyWriteSet();
  const latest = new Map<string, LatestRow>();
  for (const w of list) {
    out.telemetry.ts.push(...w.telemetry.ts);
    out.telemetry.deviceId.push(...w.telemetry.deviceId);
    out.telemetry.key.push(...w.telemetry.key);
    out.telemetry.value.push(...w.telemetry.value);
    out.values.ts.push(...w.values.ts);
    out.values.deviceId.push(...w.values.deviceId);
    out.values.key.push(...w.values.key);
    out.values.json.push(...w.values.json);
    out.events.push(...w.events);
    out.rejected.push(...w.rejected);
    for (const l of w.latest) {
      const k = `${l.deviceId}\u0000${l.key}`;
      const prev = latest.get(k);
      if (!prev || prev.ts <= l.ts) latest.set(k, l);
    }
  }
  out.latest = [...latest.values()];
  return out;
}

/** What a one-row write set holds, for a rejection reason. */
export function describeRow(w: WriteSet): {
  table: string;
  deviceId: string | null;
  key: string;
  ts: number;
  value: string;
} {
  if (w.telemetry.ts.length)
    return {
      table: 'telemetry',
      deviceId: w.telemetry.deviceId[0]!,
      key: w.telemetry.key[0]!,
      ts: w.telemetry.ts[0]!,
      value: String(w.telemetry.value[0]),
    };
  if (w.values.ts.length)
    return {
      table: 'telemetry_values',
      deviceId: w.values.deviceId[0]!,
      key: w.values.key[0]!,
      ts: w.values.ts[0]!,
      value: w.values.json[0]!,
    };
  if (w.events.length) {
    const e = w.events[0]!;
    return { table: 'device_events', deviceId: e.deviceId, key: e.type, ts: e.ts, value: JSON.stringify(e) };
  }
  if (w.latest.length) {
    const l = w.latest[0]!;
    return {
      table: 'telemetry_latest',
      deviceId: l.deviceId,
      key: l.key,
      ts: l.ts,
      value: l.json ?? String(l.value),
    };
  }
  const r = w.rejected[0]!;
  return { table: 'rejected_messages', deviceId: r.deviceId, key: r.code, ts: r.receivedAt, value: r.reason };
}

export type Agg = 'avg' | 'min' | 'max' | 'sum' | 'count' | 'last';
export interface SeriesQuery {
  deviceIds: string[];
  key: string;
  from: number;
  to: number;
  bucketMs?: number;
  agg: Agg;
  /** Day and week buckets start at local midnight (Monday for weeks) in this zone offset. */
  originMs: number;
  limit: number;
}
export interface Point {
  ts: string;
  value: number;
}

const RAW_AGG: Record<Agg, string> = {
  avg: 'avg(value)',
  min: 'min(value)',
  max: 'max(value)',
  sum: 'sum(value)',
  count: 'count(*)',
  last: '(array_agg(value ORDER BY ts DESC))[1]',
};
// Over continuous-aggregate rows: averages are re-weighted by count, never averaged twice.
const ROLLUP_AGG: Record<Agg, string> = {
  avg: 'sum(sum) / sum(count)',
  min: 'min(min)',
  max: 'max(max)',
  sum: 'sum(sum)',
  count: 'sum(count)',
  last: '(array_agg(last ORDER BY bucket DESC))[1]',
};

const MINUTE = 60_000;
const HOUR = 3_600_000;

export function createTelemetryReader(db: Db, dialect: Dialect) {
  const toPoints = (rows: { ts: Date | string; value: unknown }[]): Point[] =>
    rows.map((r) => ({ ts: new Date(r.ts).toISOString(), value: Number(r.value) }));

  async function series(q: SeriesQuery): Promise<Point[]> {
    const from = new Date(q.from);
    const to = new Date(q.to);
    const ids = q.deviceIds;
    if (!q.bucketMs) {
      const rows = await db.query<{ ts: Date; value: number }>(
        `SELECT ts, ${ids.length === 1 ? 'value' : 'avg(value) AS value'} FROM telemetry
          WHERE device_id = ANY($1::text[]) AND key = $2 AND ts >= $3 AND ts < $4
          ${ids.length === 1 ? '' : 'GROUP BY ts'} ORDER BY ts LIMIT $5`,
        [ids, q.key, from, to, q.limit],
      );
      return toPoints(rows);
    }
    const interval = `${q.bucketMs / 1000} seconds`;
    const origin = new Date(q.originMs);
    if (dialect === 'timescale') {
      // Whole-hour buckets read the hourly rollup, whole minutes the per-minute one; smaller
      // buckets read raw rows. Real-time aggregation covers what is not materialised yet. The
      // rollup's own buckets are the resolution: a `from` inside one includes that whole bucket, so
      // the point count matches the raw path.
      const view =
        q.bucketMs % HOUR === 0 ? 'telemetry_1h' : q.bucketMs % MINUTE === 0 ? 'telemetry_1m' : undefined;
      if (view) {
        const rows = await db.query<{ ts: Date; value: number }>(
          `SELECT time_bucket($5::interval, bucket, $6::timestamptz) AS ts, ${ROLLUP_AGG[q.agg]} AS value
             FROM ${view} WHERE device_id = ANY($1::text[]) AND key = $2
              AND bucket >= time_bucket(INTERVAL '${view === 'telemetry_1h' ? '1 hour' : '1 minute'}', $3::timestamptz) AND bucket < $4
            GROUP BY 1 ORDER BY 1 LIMIT $7`,
          [ids, q.key, from, to, interval, origin, q.limit],
        );
        return toPoints(rows);
      }
    }
    const bucketFn =
      dialect === 'timescale'
        ? 'time_bucket($5::interval, ts, $6::timestamptz)'
        : 'date_bin($5::interval, ts, $6::timestamptz)';
    const rows = await db.query<{ ts: Date; value: number }>(
      `SELECT ${bucketFn} AS ts, ${RAW_AGG[q.agg]} AS value FROM telemetry
        WHERE device_id = ANY($1::text[]) AND key = $2 AND ts >= $3 AND ts < $4
        GROUP BY 1 ORDER BY 1 LIMIT $7`,
      [ids, q.key, from, to, interval, origin, q.limit],
    );
    return toPoints(rows);
  }

  async function latest(deviceId: string) {
    const rows = await db.query<{ key: string; ts: Date; value: number | null; value_json: unknown }>(
      'SELECT key, ts, value, value_json FROM telemetry_latest WHERE device_id = $1 ORDER BY key',
      [deviceId],
    );
    const out: Record<string, { ts: string; value: unknown }> = {};
    for (const r of rows) out[r.key] = { ts: new Date(r.ts).toISOString(), value: r.value ?? r.value_json };
    return out;
  }

  async function rejected(q: {
    deviceId?: string;
    from?: number;
    to?: number;
    limit: number;
    beforeId?: number;
  }) {
    const rows = await db.query<{
      id: string | number;
      received_at: Date;
      device_id: string | null;
      client_id: string | null;
      topic: string;
      code: string;
      reason: string;
      payload: string | null;
      suppressed: number | null;
    }>(
      `SELECT * FROM rejected_messages
        WHERE ($1::text IS NULL OR device_id = $1) AND ($2::timestamptz IS NULL OR received_at >= $2)
          AND ($3::timestamptz IS NULL OR received_at < $3) AND ($4::bigint IS NULL OR id < $4)
        ORDER BY id DESC LIMIT $5`,
      [
        q.deviceId ?? null,
        q.from === undefined ? null : new Date(q.from),
        q.to === undefined ? null : new Date(q.to),
        q.beforeId ?? null,
        q.limit,
      ],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      receivedAt: new Date(r.received_at).toISOString(),
      deviceId: r.device_id,
      clientId: r.client_id,
      topic: r.topic,
      code: r.code,
      reason: r.reason,
      payload: r.payload,
      suppressed: Number(r.suppressed ?? 0),
    }));
  }

  async function events(q: { deviceId: string; from: number; to: number; limit: number }) {
    const rows = await db.query<{
      ts: Date;
      type: string;
      confidence: number | null;
      snapshot: string | null;
      data: unknown;
    }>(
      `SELECT ts, type, confidence, snapshot, data FROM device_events
        WHERE device_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts DESC LIMIT $4`,
      [q.deviceId, new Date(q.from), new Date(q.to), q.limit],
    );
    return rows.map((r) => ({ ...r, ts: new Date(r.ts).toISOString() }));
  }

  return { series, latest, rejected, events };
}
export type TelemetryReader = ReturnType<typeof createTelemetryReader>;
