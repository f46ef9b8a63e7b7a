/**
 * The one seam between gridhub and its database. Two drivers implement it: `pg` (PostgreSQL or
 * TimescaleDB over the network) and PGlite (embedded, in-process, the default). Repositories
 * normalise types at their edge (int8 is a string from `pg`, a number or BigInt from PGlite).
 */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Db extends Queryable {
  readonly driver: 'pg' | 'pglite';
  /** Runs several statements separated by semicolons, without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs fn in one transaction on one connection; rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * PostgreSQL: the ingest writer's own connections (issue 13), so a request of the API never
   * waits for a pool connection behind a batch write. Absent (PGlite, one connection): the writer
   * uses this Db. Closed with it.
   */
  readonly writer?: Db;
  /** Drivers that can fail apart from a query (the embedded store's worker thread) say so here. */
  health?(): StoreHealth;
}

/** ok while the driver can answer; otherwise why not (shown in the hub's health). */
export type StoreHealth = { ok: true } | { ok: false; reason: string };

export type Dialect = 'timescale' | 'postgres';
