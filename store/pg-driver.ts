import pg from 'pg';
import type { Logger } from '../hub/logger.ts';
import type { Db, Queryable } from './db.ts';
import { describeStoreError, isRetryable } from './errors.ts';

// timestamptz comes back as Date (the default); int8 and numeric stay strings and are converted
// by the repositories, so a count over 2^53 is never silently rounded here.

export async function createPgDb(
  url: string,
  opts: { poolSize?: number; logger?: Logger; signal?: AbortSignal } = {},
): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 8,
    application_name: 'gridhub',
    // Nothing may wait forever on a dead server: ingest retries failed batches itself.
    connectionTimeoutMillis: 10_000,
    query_timeout: 120_000,
  });
  // An idle client that errors (server restart) must not crash the process; the next query
  // reconnects. Checked-out clients get their own listener (transaction below).
  pool.on('error', (err) => opts.logger?.debug({ err: err.message }, 'idle database connection lost'));
  await waitForServer(pool, opts.logger, opts.signal);
  const db: Db = {
    driver: 'pg',
    async query<T>(sql: string, params?: unknown[]) {
      const r = await pool.query(sql, params as unknown[]);
      return r.rows as T[];
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
    async close() {
      await pool.end();
    },
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
