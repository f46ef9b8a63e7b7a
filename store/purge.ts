import type { Db } from './db.ts';

/**
 * Deletes rows in bounded chunks, never one long statement holding locks over a whole table: each
 * chunk is its own statement (autocommit), found through the table's key so it works on
 * TimescaleDB hypertables too (a ctid is only unique within one chunk there). Returns the rows
 * deleted; stops after `maxChunks` so one call is bounded in time (the next run continues).
 */
export async function deleteInChunks(
  db: Db,
  table: TableSpec,
  where: string,
  params: unknown[],
  opts: { chunk?: number; maxChunks?: number } = {},
): Promise<number> {
  const chunk = opts.chunk ?? 5000;
  const n = params.length + 1;
  let total = 0;
  for (let i = 0; i < (opts.maxChunks ?? 10_000); i++) {
    const rows = await db.query<{ n: string | number }>(
      `WITH gone AS (
         DELETE FROM ${table.name} WHERE (${table.key}) IN (SELECT ${table.key} FROM ${table.name} WHERE ${where} LIMIT $${n})
         RETURNING 1)
       SELECT count(*) AS n FROM gone`,
      [...params, chunk],
    );
    const deleted = Number(rows[0]?.n ?? 0);
    total += deleted;
    if (deleted < chunk) break;
    // Let other work (ingest's writes) in between chunks.
    await new Promise((r) => setImmediate(r));
  }
  return total;
}

/** Rewrites device_id in bounded chunks (tombstoning), like deleteInChunks. */
async function renameInChunks(db: Db, table: TableSpec, from: string, to: string, chunk = 5000) {
  for (;;) {
    const rows = await db.query<{ n: string | number }>(
      `WITH moved AS (
         UPDATE ${table.name} SET device_id = $2 WHERE (${table.key}) IN (SELECT ${table.key} FROM ${table.name} WHERE device_id = $1 LIMIT $3)
         RETURNING 1)
       SELECT count(*) AS n FROM moved`,
      [from, to, chunk],
    );
    if (Number(rows[0]?.n ?? 0) < chunk) return;
    await new Promise((r) => setImmediate(r));
  }
}

export interface TableSpec {
  name: string;
  /** A unique key, as a column list. */
  key: string;
  /** The time column retention goes by. */
  time: string;
}

export const DEVICE_TABLES: TableSpec[] = [
  { name: 'telemetry', key: 'device_id, key, ts', time: 'ts' },
  { name: 'telemetry_values', key: 'device_id, key, ts', time: 'ts' },
  { name: 'device_events', key: 'device_id, type, ts', time: 'ts' },
  { name: 'device_presence', key: 'device_id, ts, online', time: 'ts' },
  { name: 'rejected_messages', key: 'id', time: 'received_at' },
];

/**
 * A deleted device's data (issue 8, finding 6): a device re-created with the same id must start
 * empty. `purge` deletes its readings, events and rejected messages; `tombstone` keeps them under
 * `ID~deleted~TIME` (readable by that id for an audit, invisible to the new device). Latest values
 * and rule state go in both modes. Cases stay: they are the city's record, not the device's.
 */
export async function removeDeviceData(
  db: Db,
  deviceId: string,
  mode: 'purge' | 'tombstone',
  now: number,
): Promise<void> {
  const tomb = `${deviceId}~deleted~${new Date(now).toISOString()}`;
  for (const t of DEVICE_TABLES) {
    if (mode === 'purge') await deleteInChunks(db, t, 'device_id = $1', [deviceId]);
    else await renameInChunks(db, t, deviceId, tomb);
  }
  await db.query('DELETE FROM telemetry_latest WHERE device_id = $1', [deviceId]);
  await db.query('DELETE FROM rule_state WHERE device_id = $1', [deviceId]);
}
