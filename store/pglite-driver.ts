import { mkdirSync } from 'node:fs';
import type { Db, Queryable } from './db.ts';
import { durableStartParams, enableFsync, syncTree } from './pglite-fsync.mjs';
import { preparedRunner } from './pglite-run.mjs';

/** The part of a PGlite instance we use; both the official build and the TimescaleDB test build fit. */
export interface PgliteLike {
  query<T>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  exec(sql: string): Promise<unknown>;
  transaction<T>(
    fn: (tx: { query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }> }) => Promise<T>,
  ): Promise<T>;
  close(): Promise<void>;
}

/**
 * Opens the embedded store in `dataDir` (created if missing); `memory://` keeps it in memory.
 * `sharedBuffersMb` sizes PostgreSQL's buffer cache (PGlite's default, 128 MB, when unset).
 */
export async function openPglite(
  dataDir: string,
  opts: { sharedBuffersMb?: number } = {},
): Promise<PgliteLike> {
  const { PGlite } = await import('@electric-sql/pglite');
  const inMemory = dataDir.startsWith('memory://');
  if (!inMemory) mkdirSync(dataDir, { recursive: true });
  // fsync on, as in the worker (store/pglite-fsync.mjs).
  const params = durableStartParams(PGlite.defaultStartParams);
  const startParams = opts.sharedBuffersMb
    ? [...params, '-c', `shared_buffers=${opts.sharedBuffersMb}MB`]
    : params;
  const pglite = await PGlite.create({ dataDir, startParams });
  if (!inMemory) {
    enableFsync(pglite);
    syncTree(dataDir);
  }
  return pglite as unknown as PgliteLike;
}

/** Whether this PGlite's commits are fsync'd (store/pglite-fsync.mjs). */
export const pgliteIsDurable = (pglite: unknown): boolean =>
  (pglite as { mod?: { NODEFS?: { stream_ops?: { gridhubFsync?: boolean } } } })?.mod?.NODEFS?.stream_ops
    ?.gridhubFsync === true;

export function wrapPglite(pglite: PgliteLike): Db {
  // A build without the protocol calls prepared writes need runs them as queries.
  const prepared = preparedRunner(pglite);
  return {
    driver: 'pglite',
    async query<T>(sql: string, params?: unknown[]) {
      return (await pglite.query<T>(sql, params)).rows;
    },
    async run(statement, params) {
      if (prepared) await prepared(statement, params);
      else await pglite.query(statement.sql, params as unknown[]);
    },
    async exec(sql: string) {
      await pglite.exec(sql);
    },
    transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      return pglite.transaction((tx) =>
        fn({
          async query<R>(sql: string, params?: unknown[]) {
            return (await tx.query<R>(sql, params)).rows;
          },
        }),
      );
    },
    async close() {
      await pglite.close();
    },
  };
}
