// The store's waits by lane (store/timed.ts), on a real PGlite in memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from './db.ts';
import { openPglite, wrapPglite } from './pglite-driver.ts';
import { type StoreLane, timedDb } from './timed.ts';

describe('timedDb', () => {
  let db: Db;
  beforeAll(async () => {
    db = wrapPglite(await openPglite('memory://'));
    await db.exec('CREATE TABLE t (v float8)');
  });
  afterAll(async () => {
    await db.close();
  });

  it('times every call by lane, answers and failures alike, and changes no result', async () => {
    const seen: [StoreLane, number][] = [];
    const t = timedDb(db, (lane, s) => seen.push([lane, s]));
    expect(await t.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await (t.writer ?? t).run(
      { name: 'timed_ins', sql: 'INSERT INTO t SELECT unnest($1::float8[])', types: ['float8[]'] },
      [[1, 2]],
    );
    await (t.background ?? t).query('INSERT INTO t VALUES (3)');
    await t.transaction(async (tx) => tx.query('INSERT INTO t VALUES (4)'));
    await expect(t.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
    expect(seen.map(([lane]) => lane)).toEqual(['read', 'write', 'background', 'read', 'read']);
    for (const [, s] of seen) {
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThan(60);
    }
    expect(await t.query('SELECT count(*)::int AS n FROM t')).toEqual([{ n: 4 }]);
    expect(t.driver).toBe('pglite');
  });

  it('a store whose writer is also its background lane times both as write', async () => {
    const lanes: StoreLane[] = [];
    const inner: Db = { ...db };
    const shared: Db = { ...db, writer: inner, background: inner };
    const t = timedDb(shared, (lane) => lanes.push(lane));
    await (t.background ?? t).query('SELECT 1');
    await (t.writer ?? t).query('SELECT 1');
    expect(lanes).toEqual(['write', 'write']);
    expect(t.writer).toBe(t.background);
  });
});
