/**
 * The store's batch writer: the ingest pipeline's one way into the telemetry tables. A batch (a
 * WriteSet, store/telemetry.ts) is written in one statement or one transaction, idempotently.
 */
import type { Db, Prepared } from './db.ts';
import { sqlState } from './errors.ts';
import { float8ArrayParam, textArrayParam } from './pg-binary.mjs';
import type { LatestRow, WriteSet } from './telemetry.ts';

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
    const onlyLatest =
      !w.telemetry.ts.length && !w.values.ts.length && !w.events.length && !w.rejected.length;
    // Latest values alone (the last parts of a batch the embedded store writes in parts): one
    // prepared statement, atomic on its own, where a transaction took BEGIN, the upsert and COMMIT.
    if (onlyLatest) {
      if (w.latest.length) await db.run(LATEST_PREPARED, latestArrays(w.latest));
      return {};
    }
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
        // Prepared once per connection: bound and executed only (store/db.ts, Db.run).
        await db.run(careful ? TELEMETRY_AND_LATEST_CAREFUL : TELEMETRY_AND_LATEST, [
          w.telemetry.ts,
          w.telemetry.deviceId,
          w.telemetry.key,
          w.telemetry.value,
          ...latestArrays(l),
        ]);
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
const LATEST_PREPARED: Prepared = {
  name: 'gridhub_latest',
  sql: LATEST_ALONE,
  types: ['text[]', 'text[]', 'float8[]', 'float8[]', 'text[]'],
};
const latestArrays = (rows: LatestRow[]) => [
  rows.map((r) => r.deviceId),
  rows.map((r) => r.key),
  rows.map((r) => r.ts),
  rows.map((r) => r.value),
  rows.map((r) => r.json),
];

/** Telemetry and latest values in one statement (see writeOnce), with or without ON CONFLICT. */
const telemetryAndLatest = (careful: boolean): Prepared => ({
  name: careful ? 'gridhub_telemetry_latest_careful' : 'gridhub_telemetry_latest',
  sql: `WITH t AS (
     INSERT INTO telemetry (ts, device_id, key, value)
     SELECT ${TS}, d, k, v FROM unnest($1::float8[], $2::text[], $3::text[], $4::float8[]) AS u(t, d, k, v)
     ${careful ? 'ON CONFLICT DO NOTHING' : ''})
   ${latestUpsert(5)}`,
  types: ['float8[]', 'text[]', 'text[]', 'float8[]', 'text[]', 'text[]', 'float8[]', 'float8[]', 'text[]'],
});
const TELEMETRY_AND_LATEST = telemetryAndLatest(false);
const TELEMETRY_AND_LATEST_CAREFUL = telemetryAndLatest(true);
/** The latest-value columns for a transaction's query: latestArrays, each encoded for its type. */
const latestParams = (rows: LatestRow[], a: ArrayParams) =>
  latestArrays(rows).map((col, i) =>
    LATEST_PREPARED.types[i] === 'float8[]'
      ? a.float8(col as (number | null)[])
      : a.text(col as (string | null)[]),
  );
