import pg from 'pg';
import type { Logger } from '../kernel/index.ts';
import type { Db, Queryable } from './db.ts';
import { describeStoreError, isRetryable, sqlState } from './errors.ts';
import { binaryParams } from './pg-binary.mjs';

// timestamptz comes back as Date (the default); int8 and numeric stay strings and are converted
// by the repositories, so a count over 2^53 is never silently rounded here.

/** Connections of the ingest writer's own pool: it writes at most two batches at once. */
export const WRITER_CONNECTIONS = 2;

export async function createPgDb(
  url: string,
  opts: { poolSize?: number; logger?: Logger; signal?: AbortSignal } = {},
): Promise<Db> {
  const pool = newPool(url, opts.poolSize ?? 8, opts.logger);
  await waitForServer(pool, opts.logger, opts.signal);
  // The ingest writer gets connections of its own (issue 13): the API's reads and the rules'
  // queries never wait for a connection behind a batch of thousands of rows, and a burst of API
  // requests never holds up the commit the devices' acknowledgements wait for.
  // Same application_name: operators (and the fault tests) find every connection of the hub by it.
  const writePool = newPool(url, WRITER_CONNECTIONS, opts.logger);
  const db = poolDb(
    pool,
    async () => {
      await Promise.all([pool.end(), writePool.end()]);
    },
    opts.logger,
  );
  return { ...db, writer: poolDb(writePool, () => writePool.end(), opts.logger) };
}

function newPool(url: string, max: number, logger: Logger | undefined): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    application_name: 'gridhub',
    // Nothing may wait forever on a dead server: ingest retries failed batches itself.
    connectionTimeoutMillis: 10_000,
    query_timeout: 120_000,
  });
  // An idle client that errors (server restart) must not crash the process; the next query
  // reconnects. Checked-out clients get their own listener (transaction below).
  pool.on('error', (err) => logger?.debug({ err: err.message }, 'idle database connection lost'));
  return pool;
}

/**
 * SQLSTATEs of a named statement the server does not hold as the client thinks it does: a pooler
 * between (PgBouncer in transaction mode before 1.21 sends Bind to another server connection than
 * Parse: 26000), or the statement dropped behind the client's back (DISCARD ALL).
 */
const PREPARED_LOST = new Set(['26000', '42P05']);

function poolDb(pool: pg.Pool, close: () => Promise<void>, logger?: Logger): Db {
  /** Cleared when named statements do not survive here (see PREPARED_LOST): plain queries from then on. */
  let named = true;
  const db: Db = {
    driver: 'pg',
    async query<T>(sql: string, params?: unknown[]) {
      const r = await pool.query(sql, params as unknown[]);
      return r.rows as T[];
    },
    async run(statement, params) {
      const values = binaryParams(statement, params);
      if (named)
        try {
          // A named query: node-postgres sends Parse once per connection, then only Bind and Execute.
          await pool.query({ name: statement.name, text: statement.sql, values });
          return;
        } catch (err) {
          // Not the data's fault, so not a reason to refuse the batch: the statement did not run.
          const state = sqlState(err);
          if (!state || !PREPARED_LOST.has(state)) throw err;
          named = false;
          logger?.warn(
            { err: describeStoreError(err), statement: statement.name },
            'prepared statements do not survive on this connection (a pooler in transaction mode?); writing without them',
          );
        }
      await pool.query(statement.sql, values);
    },
    async exec(sql: string) {
      await pool.query(sql);
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>) {
      const client = await pool.connect();
      let broken: Error | undefined;
      // A client checked out of the pool has no listener of the pool's: without this one, the
      // server going away mid-transaction (restart, pg_terminate_backend) is an unhandled
      // 'error' event that ends the process. The query in progress fails on its own.
      const onError = (err: Error) => {
        broken = err;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const tx: Queryable = {
          async query<R>(sql: string, params?: unknown[]) {
            return (await client.query(sql, params as unknown[])).rows as R[];
          },
        };
        const out = await fn(tx);
        await client.query('COMMIT');
        return out;
      } catch (err) {
        // A connection that died mid-transaction never answers a ROLLBACK: bound it, and throw
        // the connection away rather than return it to the pool.
        await Promise.race([
          client.query('ROLLBACK'),
          new Promise((_, reject) => setTimeout(() => reject(new Error('rollback timed out')), 2000).unref()),
        ]).catch((e: Error) => {
          broken = e;
        });
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    close,
  };
  return db;
}

/**
 * At start, a server that is not up yet (a host booting, a container starting in parallel) is
 * waited for with backoff (0.5 s doubling to 10 s), each attempt logged, instead of the hub
 * exiting; the hub's ready line comes once it is up. An error retrying cannot cure (a bad
 * password, a database that does not exist) stops the start at once with its message. The wait
 * ends when `signal` aborts (the hub is stopped meanwhile).
 */
async function waitForServer(pool: pg.Pool, log: Logger | undefined, signal: AbortSignal | undefined) {
  for (let attempt = 0; ; attempt++) {
    try {
      const probe = await pool.connect();
      probe.release();
      if (attempt > 0) log?.info({ attempts: attempt + 1 }, 'database is up');
      return;
    } catch (err) {
      if (!isRetryable(err) || signal?.aborted) {
        await pool.end().catch(() => {});
        throw err;
      }
      const delay = Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
      log?.warn(
        { err: describeStoreError(err), attempt: attempt + 1, retryInMs: delay },
        'database not reachable yet; waiting',
      );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
      if (signal?.aborted) {
        await pool.end().catch(() => {});
        throw new Error('stopped while waiting for the database');
      }
    }
  }
}
