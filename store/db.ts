/**
 * The one seam between gridhub and its database. Two drivers implement it: `pg` (PostgreSQL or
 * TimescaleDB over the network) and PGlite (embedded, in-process, the default). Repositories
 * normalise types at their edge (int8 is a string from `pg`, a number or BigInt from PGlite).
 */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** The parameter types a prepared write takes: arrays, sent in PostgreSQL's binary format. */
export type ArrayParamType = 'float8[]' | 'text[]';

/**
 * A write statement of the hot path (see Db.run). Its name is unique to its text: a connection
 * prepares it under that name once.
 */
export interface Prepared {
  readonly name: string;
  readonly sql: string;
  /** One per parameter, in order. */
  readonly types: readonly ArrayParamType[];
}

export interface Db extends Queryable {
  readonly driver: 'pg' | 'pglite';
  /**
   * Runs a statement that returns no rows, each parameter a JavaScript array of its type. It is
   * parsed and planned once per connection, then only bound and executed (issue 13: on the
   * embedded store, PGlite's query() parses, describes and plans every statement in six calls into
   * its WebAssembly — three quarters of a one-reading write), and its arrays travel in binary.
   * Not inside a transaction.
   */
  run(statement: Prepared, params: readonly (readonly unknown[])[]): Promise<void>;
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
  /**
   * Background writes no request should wait behind (the rules' state saves). The embedded store:
   * its write lane, where waiting reads go first (store/pglite-worker.mjs). Absent (PostgreSQL,
   * whose pool serves reads on other connections): this Db.
   */
  readonly background?: Db;
  /** Drivers that can fail apart from a query (the embedded store's worker thread) say so here. */
  health?(): StoreHealth;
}

/** ok while the driver can answer; otherwise why not (shown in the hub's health). */
export type StoreHealth = { ok: true } | { ok: false; reason: string };

export type Dialect = 'timescale' | 'postgres';
