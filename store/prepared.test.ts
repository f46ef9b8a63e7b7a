// Prepared writes (Db.run, issue 13): parsed once per connection, then bound and executed with
// binary arrays. On a real PostgreSQL 15, on PGlite in-process and on PGlite in its worker thread:
// awkward values arrive intact, a failing run leaves the statement and the connection usable, a
// statement that does not parse is not taken for prepared, bad parameters fail alone, and on the
// in-process PGlite a run never slips into another caller's open transaction.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPgDatabase, pgSkipReason } from '../test/support/pg.ts';
import type { Db, Prepared } from './db.ts';
import { createPgDb } from './pg-driver.ts';
import { openPglite, wrapPglite } from './pglite-driver.ts';
import { openPgliteWorker } from './pglite-proxy.ts';

const stores: [name: string, open: () => Promise<Db | undefined>][] = [
  [
    'PostgreSQL',
    async () => {
      const url = await freshPgDatabase();
      return url ? createPgDb(url) : undefined;
    },
  ],
  ['PGlite in-process', async () => wrapPglite(await openPglite('memory://'))],
  ['PGlite in its worker', () => openPgliteWorker('memory://')],
];

const INSERT: Prepared = {
  name: 'test_prepared_insert',
  sql: 'INSERT INTO p (k, v, s) SELECT * FROM unnest($1::text[], $2::float8[], $3::text[])',
  types: ['text[]', 'float8[]', 'text[]'],
};

const texts = ['plain', 'a "quoted" {b,c}', 'back\\slash', 'NULL', '', "it's", '网格 ✓ 😀', 'x'.repeat(3000)];
const numbers = [0, -0, 1.5, -273.15, 1765000000123, Number.MAX_VALUE, Number.MIN_VALUE, 0.1 + 0.2];

describe.each(stores)('prepared writes on %s', (name, open) => {
  let db: Db | undefined;
  beforeAll(async () => {
    if (name === 'PostgreSQL' && pgSkipReason()) {
      if (process.env.CI === 'true') throw new Error(pgSkipReason());
      return;
    }
    db = await open();
    await db!.exec('CREATE TABLE p (k text PRIMARY KEY, v float8, s text)');
  });
  afterAll(() => db?.close());
  const need = () => {
    if (!db) throw new Error('no store (PostgreSQL binaries missing?)');
    return db;
  };

  it('awkward texts, NULLs and extreme doubles arrive intact', async (ctx) => {
    if (!db) return ctx.skip();
    const s = texts.map((t, i) => (i % 3 === 0 ? null : t));
    await need().run(INSERT, [texts, numbers, s]);
    const rows = await need().query<{ k: string; v: number; s: string | null }>(
      'SELECT k, v, s FROM p WHERE k = ANY($1::text[])',
      [texts],
    );
    const byKey = new Map(rows.map((r) => [r.k, r]));
    expect(rows).toHaveLength(texts.length);
    texts.forEach((k, i) => {
      expect(byKey.get(k)!.s).toBe(s[i]);
      expect(Object.is(byKey.get(k)!.v, numbers[i])).toBe(true);
    });
  });

  it('a run refused by a constraint rejects with its SQLSTATE; the statement and the connection stay usable', async (ctx) => {
    if (!db) return ctx.skip();
    await need().run(INSERT, [['dup-1'], [1], ['first']]);
    await expect(
      need().run(INSERT, [
        ['dup-2', 'dup-1'],
        [2, 3],
        ['x', 'y'],
      ]),
    ).rejects.toMatchObject({
      code: '23505',
    });
    // The refused statement rolled back as a whole: dup-2 is not there.
    await need().run(INSERT, [['dup-3'], [4], ['after']]);
    const rows = await need().query<{ k: string; s: string }>(
      "SELECT k, s FROM p WHERE k LIKE 'dup-%' ORDER BY k",
    );
    expect(rows).toEqual([
      { k: 'dup-1', s: 'first' },
      { k: 'dup-3', s: 'after' },
    ]);
  });

  it('a statement that does not parse fails each time it is run, and nothing else is disturbed', async (ctx) => {
    if (!db) return ctx.skip();
    const broken: Prepared = {
      name: 'test_prepared_broken',
      sql: 'INSERT INTO no_such_table SELECT * FROM unnest($1::text[])',
      types: ['text[]'],
    };
    for (let i = 0; i < 2; i++)
      await expect(need().run(broken, [['a']])).rejects.toMatchObject({ code: '42P01' });
    await need().exec('CREATE TABLE no_such_table (k text)');
    await need().run(broken, [['now it exists']]);
    expect(await need().query('SELECT k FROM no_such_table')).toEqual([{ k: 'now it exists' }]);
  });

  it('parameters that do not fit the statement fail that call alone, naming the statement', async (ctx) => {
    if (!db) return ctx.skip();
    await expect(need().run(INSERT, [['only-one-array']])).rejects.toThrow(/test_prepared_insert.*3/);
    await expect(need().run(INSERT, [['k'], 'not an array' as never, ['s']])).rejects.toThrow(
      /test_prepared_insert/,
    );
    await need().run(INSERT, [['fine'], [1], ['still']]);
    expect(await need().query("SELECT s FROM p WHERE k = 'fine'")).toEqual([{ s: 'still' }]);
  });
});

describe('prepared writes on the in-process PGlite and transactions', () => {
  let db: Db;
  beforeAll(async () => {
    db = wrapPglite(await openPglite('memory://'));
    await db.exec('CREATE TABLE p (k text PRIMARY KEY, v float8, s text)');
  });
  afterAll(() => db.close());

  it('a run waits for another caller’s open transaction and is not rolled back with it', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let inside!: () => void;
    const entered = new Promise<void>((r) => {
      inside = r;
    });
    const tx = db
      .transaction(async (q) => {
        await q.query("INSERT INTO p VALUES ('in-tx', 1, 'rolled back')");
        inside();
        await held;
        throw new Error('the caller rolls back');
      })
      .catch((e: Error) => e.message);
    await entered;
    let ran = false;
    const run = db.run(INSERT, [['by-run'], [2], ['kept']]).then(() => {
      ran = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(ran).toBe(false);
    release();
    expect(await tx).toBe('the caller rolls back');
    await run;
    expect(await db.query('SELECT k, s FROM p ORDER BY k')).toEqual([{ k: 'by-run', s: 'kept' }]);
  });
});

// PostgreSQL with one connection, so the DEALLOCATE reaches the connection that prepared it.
const oneConnection: [name: string, open: () => Promise<Db | undefined>][] = [
  [
    'PostgreSQL',
    async () => {
      const url = await freshPgDatabase();
      return url ? createPgDb(url, { poolSize: 1 }) : undefined;
    },
  ],
  ...stores.slice(1),
];

describe.each(oneConnection)('prepared writes on %s when the statement is lost', (name, open) => {
  it('a statement gone behind the client (a pooler, DISCARD) is still written, not refused as bad data', async (ctx) => {
    const reason = name === 'PostgreSQL' ? pgSkipReason() : undefined;
    if (reason) {
      if (process.env.CI === 'true') throw new Error(reason);
      return ctx.skip(reason);
    }
    const db = (await open())!;
    try {
      await db.exec('CREATE TABLE p (k text PRIMARY KEY, v float8, s text)');
      await db.run(INSERT, [['before'], [1], ['prepared']]);
      await db.exec(`DEALLOCATE ${INSERT.name}`);
      await db.run(INSERT, [['after'], [2], ['again']]);
      await db.run(INSERT, [['later'], [3], ['still']]);
      expect(await db.query('SELECT k, s FROM p ORDER BY v')).toEqual([
        { k: 'before', s: 'prepared' },
        { k: 'after', s: 'again' },
        { k: 'later', s: 'still' },
      ]);
    } finally {
      await db.close();
    }
  });
});
