/**
 * The store seen through its callers' waits: every call's seconds from the call to its answer, by
 * lane — `read` (the API, the registry, the rules' reads: every caller but the two below), `write`
 * (the ingest writer, `Db.writer`) and `background` (the rules' state saves, `Db.background`). A
 * wait is what the caller saw: a free pool connection, the embedded store's queue and the write it
 * was running, the statement, and the answer's way back to this thread — so an operator can tell a
 * slow store from a slow event loop (`gridhub_http_request_duration_seconds`). Migrations are not
 * timed (the store is wrapped once it is open).
 */
import { performance } from 'node:perf_hooks';
import type { Db } from './db.ts';

export type StoreLane = 'read' | 'write' | 'background';

export function timedDb(db: Db, observe: (lane: StoreLane, seconds: number) => void): Db {
  const lane = (d: Db, name: StoreLane): Db => {
    async function timed<T>(call: () => Promise<T>): Promise<T> {
      const t0 = performance.now();
      try {
        return await call();
      } finally {
        observe(name, (performance.now() - t0) / 1000);
      }
    }
    return {
      ...d,
      query: (sql, params) => timed(() => d.query(sql, params)),
      run: (statement, params) => timed(() => d.run(statement, params)),
      exec: (sql) => timed(() => d.exec(sql)),
      transaction: (fn) => timed(() => d.transaction(fn)),
    };
  };
  // Callers take `db.writer ?? db` and `db.background ?? db`: both lanes are always set here, on
  // the same connections as before, so a store with one lane (PGlite on this thread) still tells
  // its writer's waits from its readers'.
  const writer = lane(db.writer ?? db, 'write');
  const background =
    db.background && db.background === db.writer ? writer : lane(db.background ?? db, 'background');
  return { ...lane(db, 'read'), writer, background };
}
