import pg from 'pg';
import type { Db, Queryable } from './db.ts';

// timestamptz comes back as Date (the default); int8 and numeric stay strings and are converted
// by the repositories, so a count over 2^53 is never silently rounded here.

export async function createPgDb(url: string, opts: { poolSize?: number } = {}): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 8,
    application_name: 'gridhub',
    // Nothing may wait forever on a dead server: ingest retries failed batches itself.
    connectionTimeoutMillis: 10_000,
    query_timeout: 120_000,
  });
  // An idle client that errors (server restart) must not crash the process; the next query
  // reconnects.
  pool.on('error', () => {});
  // Fail fast with a clear message when the server is unreachable.
  const probe = await pool.connect();
  probe.release();
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
        client.release(broken);
      }
    },
    async close() {
      await pool.end();
    },
  };
  return db;
}
