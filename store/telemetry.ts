import type { Db, Dialect } from './db.ts';
import { sqlState } from './errors.ts';
import { float8ArrayParam, textArrayParam } from './pg-binary.ts';

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

// Epoch milliseconds travel as float8 and become timestamptz in SQL: no Date objects or ISO
// strings on the hot path.
const TS = 'to_timestamp(t / 1000.0)';
interface ArrayParams {
  float8(values: readonly (number | null)[]): unknown;
  text(values: readonly (string | null)[]): unknown;
}
/** The hot path's arrays: binary on PostgreSQL (store/pg-binary.ts), JS arrays for PGlite. */
const asIs = <T>(values: T): T => values;
const arrayParams = (driver: Db['driver']): ArrayParams =>
  driver === 'pg' ? { float8: float8ArrayParam, text: textArrayParam } : { float8: asIs, text: asIs };

/** How long after meeting a reading already stored every batch is written with ON CONFLICT. */
export const REDELIVERY_WINDOW_MS = 10_000;

/** Writes batches to one store (see createBatchWriter). */
export interface BatchWriter {
  /** Writes one batch in one transaction; resolves with the rows written, by table. */
  write(w: WriteSet): Promise<Record<string, number>>;
}

/**
 * The store's batch writer. Every write is idempotent — a batch retried after an outage, replayed
 * from the spool or redelivered by a device is stored once — but idempotence is paid for only when
 * it is needed (issue 13, CPU per message): a batch is first written with plain INSERTs, whose primary
 * keys refuse a reading already stored (SQLSTATE 23505) and roll the whole statement back; that batch
 * is then written again with ON CONFLICT DO NOTHING, and so is every batch for the next
 * REDELIVERY_WINDOW_MS, since redeliveries come in runs (a reconnecting gateway, a spool replay).
 * ON CONFLICT costs a speculative insertion per row: a third of a telemetry row's write on the
 * embedded store, measured with 15,000-row batches.
 */
export function createBatchWriter(
  db: Db,
  opts: { now?: () => number; onRedelivered?: (w: WriteSet) => void } = {},
): BatchWriter {
  const now = opts.now ?? (() => performance.now());
  const a = arrayParams(db.driver);
  /** Set once the store refused the single-statement write (see writeOnce). */
  let singleStatementRefused = false;
  /** Until then, every batch is written with ON CONFLICT DO NOTHING. */
  let carefulUntil = Number.NEGATIVE_INFINITY;

  async function writeOnce(w: WriteSet, careful: boolean): Promise<Record<string, number>> {
    const skip = careful ? 'ON CONFLICT DO NOTHING' : '';
    // The common batch — numeric readings and their latest values — is one statement: one round
    // trip and one commit, where BEGIN, two INSERTs and COMMIT are four (issue 13: a device with one
    // message in flight waits for all of them). A data-modifying WITH runs to completion whether or
    // not the outer statement reads it, and the statement is atomic on its own (PostgreSQL 15 §7.8.4).
    if (
      w.telemetry.ts.length &&
      !w.values.ts.length &&
      !w.events.length &&
      !w.rejected.length &&
      !singleStatementRefused
    ) {
      const l = w.latest;
      try {
        await db.query(
          `WITH t AS (
             INSERT INTO telemetry (ts, device_id, key, value)
             SELECT ${TS}, d, k, v FROM unnest($1::float8[], $2::text[], $3::text[], $4::float8[]) AS u(t, d, k, v)
             ${skip})
           ${LATEST_AFTER_TELEMETRY}`,
          [
            a.float8(w.telemetry.ts),
            a.text(w.telemetry.deviceId),
            a.text(w.telemetry.key),
            a.float8(w.telemetry.value),
            ...latestParams(l, a),
          ],
        );
        return { telemetry: w.telemetry.ts.length };
      } catch (err) {
        // A store that cannot run it (an extension refusing INSERT in WITH: SQLSTATE 0A000) gets
        // the transaction below from now on; any other error is the caller's to judge.
        if (sqlState(err) !== '0A000') throw err;
        singleStatementRefused = true;
      }
    }
    return db.transaction(async (tx) => {
      const written: Record<string, number> = {};
      if (w.telemetry.ts.length) {
        await tx.query(
          `INSERT INTO telemetry (ts, device_id, key, value)
           SELECT ${TS}, d, k, v FROM unnest($1::float8[], $2::text[], $3::text[], $4::float8[]) AS u(t, d, k, v)
           ${skip}`,
          [
            a.float8(w.telemetry.ts),
            a.text(w.telemetry.deviceId),
            a.text(w.telemetry.key),
            a.float8(w.telemetry.value),
          ],
        );
        written.telemetry = w.telemetry.ts.length;
      }
      if (w.values.ts.length) {
        await tx.query(
          `INSERT INTO telemetry_values (ts, device_id, key, value)
           SELECT ${TS}, d, k, j::jsonb FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[]) AS u(t, d, k, j)
           ${skip}`,
          [w.values.ts, w.values.deviceId, w.values.key, w.values.json],
        );
        written.telemetry_values = w.values.ts.length;
      }
      if (w.events.length) {
        const e = w.events;
        await tx.query(
          `INSERT INTO device_events (ts, device_id, type, confidence, snapshot, data)
           SELECT ${TS}, d, ty, c, s, j::jsonb
             FROM unnest($1::float8[], $2::text[], $3::text[], $4::float8[], $5::text[], $6::text[]) AS u(t, d, ty, c, s, j)
           ${skip}`,
          [
            e.map((x) => x.ts),
            e.map((x) => x.deviceId),
            e.map((x) => x.type),
            e.map((x) => x.confidence),
            e.map((x) => x.snapshot),
            e.map((x) => JSON.stringify(x.data)),
          ],
        );
        written.device_events = e.length;
      }
      if (w.latest.length) await tx.query(LATEST_ALONE, latestParams(w.latest, a));
      if (w.rejected.length) {
        const r = w.rejected;
        await tx.query(
          `INSERT INTO rejected_messages (received_at, device_id, client_id, topic, code, reason, payload, suppressed)
           SELECT ${TS}, d, c, tp, cd, rs, p, n
             FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[])
               AS u(t, d, c, tp, cd, rs, p, n)`,
          [
            r.map((x) => x.receivedAt),
            r.map((x) => x.deviceId),
            r.map((x) => x.clientId),
            r.map((x) => x.topic),
            r.map((x) => x.code),
            r.map((x) => x.reason),
            r.map((x) => x.payload),
            r.map((x) => x.suppressed ?? 0),
          ],
        );
        written.rejected_messages = r.length;
      }
      return written;
    });
  }

  return {
    async write(w) {
      if (now() < carefulUntil) return writeOnce(w, true);
      try {
        return await writeOnce(w, false);
      } catch (err) {
        // unique_violation: the batch holds a reading already stored (or one twice).
        if (sqlState(err) !== '23505') throw err;
        carefulUntil = now() + REDELIVERY_WINDOW_MS;
        opts.onRedelivered?.(w);
        return writeOnce(w, true);
      }
    },
  };
}

/**
 * The latest value of every (device, key) in the batch, its parameters numbered from $<first>: one
 * row per (device, key) — the caller deduplicates — and an older reading never wins. Rows are taken
 * in key order, so two batches in flight take their row locks in the same order (else 40P01).
 */
const latestUpsert = (first: number) => {
  const p = (n: number) => `$${first + n}`;
  return `INSERT INTO telemetry_latest (device_id, key, ts, value, value_json)
     SELECT d, k, ${TS}, v, j::jsonb
       FROM unnest(${p(0)}::text[], ${p(1)}::text[], ${p(2)}::float8[], ${p(3)}::float8[], ${p(4)}::text[]) AS u(d, k, t, v, j)
     ORDER BY d, k
     ON CONFLICT (device_id, key) DO UPDATE SET ts = excluded.ts, value = excluded.value, value_json = excluded.value_json
     WHERE telemetry_latest.ts <= excluded.ts`;
};
const LATEST_ALONE = latestUpsert(1);
const LATEST_AFTER_TELEMETRY = latestUpsert(5);
const latestParams = (rows: LatestRow[], a: ArrayParams) => [
  a.text(rows.map((r) => r.deviceId)),
  a.text(rows.map((r) => r.key)),
  a.float8(rows.map((r) => r.ts)),
  a.float8(rows.map((r) => r.value)),
  a.text(rows.map((r) => r.json)),
];

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
