import type { Logger, Metrics } from '../kernel/index.ts';
import type { Db, Dialect } from './db.ts';
import { deleteInChunks, type TableSpec } from './purge.ts';

export interface RetentionOptions {
  retentionDays: number;
  rejectedRetentionDays: number;
  eventsRetentionDays: number;
  valuesRetentionDays: number;
  retentionInterval: number;
}

const DAY = 86_400_000;
/** Chunks per table per pass: a pass stays bounded (≤ 1M rows a table); the next one goes on. */
const MAX_CHUNKS_PER_PASS = 200;

/**
 * Retention on every table of every store (issue 8): telemetry, non-numeric values, camera events,
 * rejected messages and expired sign-in sessions. Rows are deleted in bounded chunks, each its own
 * statement, so no pass holds a long lock; on TimescaleDB whole chunks of telemetry are dropped
 * (`drop_chunks`, also where no background worker runs the policy, as in the embedded build).
 */
export function createRetention(deps: {
  db: Db;
  dialect: Dialect;
  options: RetentionOptions;
  now: () => number;
  logger: Logger;
  metrics: Metrics;
}) {
  const { db, options } = deps;
  const deleted = deps.metrics.counter(
    'gridhub_retention_deleted_total',
    'Rows deleted by retention, by table',
  );
  const vacuumed = deps.metrics.counter(
    'gridhub_store_vacuumed_tables_total',
    'Tables the embedded store vacuumed after a retention pass (it has no autovacuum)',
  );
  let timer: NodeJS.Timeout | undefined;
  let first: NodeJS.Timeout | undefined;
  let running: Promise<Record<string, number>> | undefined;

  const plan = (): { table: TableSpec; days: number }[] => [
    { table: { name: 'telemetry', key: 'device_id, key, ts', time: 'ts' }, days: options.retentionDays },
    {
      table: { name: 'telemetry_values', key: 'device_id, key, ts', time: 'ts' },
      days: options.valuesRetentionDays,
    },
    {
      table: { name: 'device_events', key: 'device_id, type, ts', time: 'ts' },
      days: options.eventsRetentionDays,
    },
    {
      table: { name: 'device_presence', key: 'device_id, ts, online', time: 'ts' },
      days: options.eventsRetentionDays,
    },
    {
      table: { name: 'rejected_messages', key: 'id', time: 'received_at' },
      days: options.rejectedRetentionDays,
    },
  ];

  async function pass(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const now = deps.now();
    for (const { table, days } of plan()) {
      if (days <= 0) continue;
      const cutoff = new Date(now - days * DAY);
      let n: number;
      if (table.name === 'telemetry' && deps.dialect === 'timescale') {
        const rows = await db.query<{ c: unknown }>(
          `SELECT drop_chunks('telemetry', older_than => $1::timestamptz) AS c`,
          [cutoff],
        );
        n = rows.length; // chunks, not rows: TimescaleDB does not count them
      } else
        n = await deleteInChunks(db, table, `${table.time} < $1`, [cutoff], {
          maxChunks: MAX_CHUNKS_PER_PASS,
        });
      if (n) deleted.inc({ table: table.name }, n);
      out[table.name] = n;
    }
    // Expired sign-in sessions (whichever table the sessions live in, if any).
    const sessions = await db.query<{ t: string | null }>(`SELECT to_regclass('user_tokens')::text AS t`);
    if (sessions[0]?.t) {
      const n = await deleteInChunks(
        db,
        { name: 'user_tokens', key: 'token_hash', time: 'expires_at' },
        'expires_at < $1',
        [new Date(now)],
        { maxChunks: MAX_CHUNKS_PER_PASS },
      );
      if (n) deleted.inc({ table: 'user_tokens' }, n);
      out.user_tokens = n;
    }
    if (db.driver === 'pglite') await vacuumEmbedded();
    return out;
  }

  /**
   * The embedded store has no autovacuum: PGlite runs PostgreSQL in single-user mode. Without
   * VACUUM the space retention frees is never reused (measured on PGlite 0.5.16: 300,000 live rows
   * took 34 MB on the first day and 148 MB after three daily passes), and transaction ids are never
   * frozen — PostgreSQL stops taking writes as they near 2^31, which a hub committing 100 batches a
   * second reaches in about eight months. So every pass ends by vacuuming each table (user tables,
   * TimescaleDB's chunks and the system catalogs), one statement per table: the API's reads wait
   * for one table's vacuum at a time, never for all of them. After the first, a vacuum reads only
   * the pages written since the last one.
   */
  async function vacuumEmbedded() {
    const t0 = performance.now();
    const tables = await db.query<{ t: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS t
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm') AND n.nspname <> 'information_schema'
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        ORDER BY 1`,
    );
    let failed = 0;
    for (const { t } of tables) {
      try {
        await db.exec(`VACUUM ${t}`);
      } catch (err) {
        // One table that cannot be vacuumed (dropped meanwhile) does not stop the others.
        if (failed++ === 0) deps.logger.warn({ err, table: t }, 'embedded store: VACUUM failed');
      }
    }
    vacuumed.inc({}, tables.length - failed);
    deps.logger.info(
      { tables: tables.length, failed, ms: Math.round(performance.now() - t0) },
      'embedded store vacuumed',
    );
  }

  /** One pass now (also what the timer runs); concurrent calls share the pass in progress. */
  function runOnce(): Promise<Record<string, number>> {
    running ??= pass()
      .catch((err) => {
        deps.logger.warn({ err }, 'retention pass failed; the next one retries');
        return {};
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  return {
    runOnce,
    start() {
      timer = setInterval(() => void runOnce(), Math.max(1000, options.retentionInterval));
      timer.unref();
      // The first pass soon after start, not an interval later.
      first = setTimeout(() => void runOnce(), 5000);
      first.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      if (first) clearTimeout(first);
      timer = undefined;
      await running;
    },
  };
}
export type Retention = ReturnType<typeof createRetention>;
