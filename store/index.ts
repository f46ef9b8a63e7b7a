import type { Logger } from '../kernel/index.ts';
import type { Db, Dialect } from './db.ts';
import { type MigrateOptions, migrate } from './migrate.ts';
import { createPgDb } from './pg-driver.ts';
import { openPglite, type PgliteLike, pgliteIsDurable, wrapPglite } from './pglite-driver.ts';
import { openPgliteWorker } from './pglite-proxy.ts';
import { type StoreLane, timedDb } from './timed.ts';

export * from './batch-writer.ts';
export type { Db, Dialect, Prepared, Queryable, StoreHealth } from './db.ts';
export { describeStoreError, isRetryable, sqlState } from './errors.ts';
export { type MigrateOptions, migrate } from './migrate.ts';
export { type PgliteLike, wrapPglite } from './pglite-driver.ts';
export { openPgliteWorker, type WorkerDb } from './pglite-proxy.ts';
export {
  createPresenceLog,
  type PresenceEvent,
  type PresenceLog,
  type PresencePeriod,
  presencePeriods,
  readPresence,
} from './presence.ts';
export { DEVICE_TABLES, deleteInChunks, removeDeviceData, type TableSpec } from './purge.ts';
export { createRetention, type Retention, type RetentionOptions } from './retention.ts';
export * from './telemetry.ts';
export { formatTs, jsonProblem, storableText, textProblem } from './text.ts';
export type { StoreLane } from './timed.ts';

export interface Store {
  db: Db;
  dialect: Dialect;
  close(): Promise<void>;
}

/**
 * Opens the store the configuration names — PostgreSQL/TimescaleDB when a URL is given, the
 * embedded PGlite in `dataDir` otherwise (or a PGlite instance handed in, as the TimescaleDB test
 * build is) — and brings its schema up to date.
 */
export async function openStore(opts: {
  databaseUrl?: string;
  dataDir: string;
  pglite?: PgliteLike;
  poolSize?: number;
  /** Embedded store: PGlite in a worker thread (default) or on the calling thread (issue 13). */
  embeddedWorker?: boolean;
  /** Embedded store: PostgreSQL's shared_buffers in MiB (PGlite's 128 when unset). */
  embeddedSharedBuffersMb?: number;
  migrate: MigrateOptions;
  logger: Logger;
  /** Aborts the wait for a database that is not up yet. */
  signal?: AbortSignal;
  /** Each call's wait once the store is open, by lane (store/timed.ts). */
  onCall?: (lane: StoreLane, seconds: number) => void;
}): Promise<Store> {
  let db: Db;
  if (opts.pglite) db = wrapPglite(opts.pglite);
  else if (opts.databaseUrl)
    db = await createPgDb(opts.databaseUrl, {
      poolSize: opts.poolSize,
      logger: opts.logger,
      signal: opts.signal,
    });
  else {
    // The same folder either way: a store written by one opens in the other.
    const dir = `${opts.dataDir.replace(/\/$/, '')}/pglite`;
    const sharedBuffersMb = opts.embeddedSharedBuffersMb;
    let durable: boolean;
    if (opts.embeddedWorker === false) {
      const pglite = await openPglite(dir, { sharedBuffersMb });
      durable = pgliteIsDurable(pglite);
      db = wrapPglite(pglite);
    } else {
      const worker = await openPgliteWorker(dir, { sharedBuffersMb });
      durable = worker.durable;
      db = worker;
    }
    if (!durable)
      opts.logger.warn(
        { dir },
        'embedded store: this PGlite build cannot fsync, so a commit survives a crash of the hub but not of the machine',
      );
  }
  try {
    const { dialect } = await migrate(db, opts.migrate, opts.logger);
    opts.logger.info({ driver: db.driver, dialect }, 'store ready');
    return { db: opts.onCall ? timedDb(db, opts.onCall) : db, dialect, close: () => db.close() };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
export { createMediaStore, type MediaMeta, type MediaStore } from './media.ts';
