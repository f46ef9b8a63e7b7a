// The embedded store in its worker thread (issue 13): the proxy behaves as the in-process driver —
// types survive the thread boundary, errors keep their SQLSTATE, a transaction holds the one
// connection until it ends, a data folder opens in either — and a crashed worker fails every
// pending and later call with a clear, retryable error that health reports. Real PGlite throughout.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeStoreError, isRetryable, sqlState } from './errors.ts';
import { openPglite, wrapPglite } from './pglite-driver.ts';
import { openPgliteWorker, type WorkerDb } from './pglite-proxy.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gridhub-pglite-worker-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

describe('PGlite in a worker thread', () => {
  let db: WorkerDb;
  beforeAll(async () => {
    db = await openPgliteWorker('memory://');
    await db.exec('CREATE TABLE t (id int PRIMARY KEY, note text NOT NULL); CREATE TABLE u (id int)');
  });
  afterAll(() => db.close());

  it('carries parameters and results across the thread with their types', async () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    const [row] = await db.query<Record<string, unknown>>(
      'SELECT $1::timestamptz AS ts, $2::bytea AS b, $3::jsonb AS j, $4::float8[] AS a, 12::int8 AS n, NULL AS z',
      [at, new Uint8Array([0, 255]), JSON.stringify({ k: [1, 'x'] }), [1.5, -2]],
    );
    expect(row).toEqual({
      ts: at,
      b: new Uint8Array([0, 255]),
      j: { k: [1, 'x'] },
      a: [1.5, -2],
      n: 12,
      z: null,
    });
    expect(db.driver).toBe('pglite');
    expect(db.health()).toEqual({ ok: true });
  });

  it("keeps a failed statement's SQLSTATE and fields, so errors are judged as in-process", async () => {
    await db.query('INSERT INTO t VALUES (1, $1)', ['one']);
    const dup = await rejection(db.query('INSERT INTO t VALUES (1, $1)', ['again']));
    expect(dup).toBeInstanceOf(Error);
    expect(sqlState(dup)).toBe('23505');
    expect(dup.constraint).toBe('t_pkey');
    expect(isRetryable(dup)).toBe(false);
    expect(describeStoreError(dup)).toMatch(/duplicate key.*\(SQLSTATE 23505\)/);
    const syntax = await rejection(db.query('SELEC 1'));
    expect(sqlState(syntax)).toBe('42601');
    const exec = await rejection(db.exec('SELECT 1; SELECT nope FROM nowhere'));
    expect(sqlState(exec)).toBe('42P01');
  });

  it('a parameter that cannot cross the thread fails that call alone', async () => {
    const err = await rejection(db.query('SELECT $1::text AS v', [() => 1]));
    expect(err.name).toBe('DataCloneError');
    expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('close waits for the writes queued before it', async () => {
    const other = await openPgliteWorker('memory://');
    await other.exec('CREATE TABLE w (id int)');
    const writes = [1, 2, 3].map((i) => other.writer!.query('INSERT INTO w VALUES ($1)', [i]));
    const reads = other.query<{ n: number }>('SELECT count(*)::int AS n FROM w');
    await other.close();
    await Promise.all(writes);
    // The read passed the writes still queued (reads go first); every write ran before the close.
    expect((await reads)[0]!.n).toBeLessThan(3);
    expect(other.health()).toEqual({ ok: true }); // closed on purpose is not a failure
    expect((await rejection(other.query('SELECT 1'))).message).toMatch(/store unavailable.*closed/);
  });

  it('holds the one connection for a transaction: other queries wait until it commits', async () => {
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let inside = () => {};
    const entered = new Promise<void>((r) => {
      inside = r;
    });
    const tx = db.transaction(async (q) => {
      await q.query('INSERT INTO u VALUES (1)');
      inside();
      await gate;
      await q.query('INSERT INTO u VALUES (2)');
      return 'committed';
    });
    await entered;
    let outsideDone = false;
    const outside = db.query<{ n: number }>('SELECT count(*)::int AS n FROM u').then((r) => {
      outsideDone = true;
      return r[0]!.n;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(outsideDone).toBe(false); // waiting behind the open transaction
    release();
    expect(await tx).toBe('committed');
    expect(await outside).toBe(2); // ran after the commit, saw both rows
  });

  it("serves waiting reads before the ingest writer's and the background's queued writes (issue 13)", async () => {
    const writer = db.writer!;
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let inside = () => {};
    const entered = new Promise<void>((r) => {
      inside = r;
    });
    const order: string[] = [];
    const held = writer.transaction(async (q) => {
      inside();
      await gate;
      await q.query('INSERT INTO u VALUES (100)');
    });
    await entered;
    // Ingest writes and a background write (the rules' state saves) queued in the write lane.
    const writes = [1, 2, 3].map((i) =>
      (i === 2 ? db.background! : writer)
        .query('INSERT INTO u VALUES ($1)', [100 + i])
        .then(() => order.push(`write ${i}`)),
    );
    await new Promise((r) => setTimeout(r, 20)); // the writes are queued first
    const read = db
      .query<{ n: number }>('SELECT count(*)::int AS n FROM u WHERE id >= 100')
      .then((r) => order.push(`read ${r[0]!.n}`));
    release();
    await Promise.all([held, read, ...writes]);
    // The read waited only for the transaction in progress, not for the three writes queued before it.
    expect(order).toEqual(['read 1', 'write 1', 'write 2', 'write 3']);
    await db.query('DELETE FROM u WHERE id >= 100');
  });

  it('rolls back when the function throws, and after a failed statement inside', async () => {
    const err = await rejection(
      db.transaction(async (q) => {
        await q.query('INSERT INTO u VALUES (10)');
        throw new Error('caller gave up');
      }),
    );
    expect(err.message).toBe('caller gave up');
    const bad = await rejection(
      db.transaction(async (q) => {
        await q.query('INSERT INTO u VALUES (11)');
        await q.query('INSERT INTO t VALUES (1, $1)', ['dup']);
      }),
    );
    expect(sqlState(bad)).toBe('23505');
    const rows = await db.query<{ id: number }>('SELECT id FROM u WHERE id >= 10');
    expect(rows).toEqual([]);
    // The connection is free again.
    expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});

describe('the data folder', () => {
  it('is the same format in-process and in the worker: each opens what the other wrote', async () => {
    const dir = join(tmp, 'shared');
    const inProcess = wrapPglite(await openPglite(dir));
    await inProcess.exec("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('written in-process')");
    await inProcess.close();

    const worker = await openPgliteWorker(dir);
    expect(await worker.query('SELECT v FROM kept')).toEqual([{ v: 'written in-process' }]);
    await worker.query("INSERT INTO kept VALUES ('written by the worker')");
    await worker.close();

    const again = wrapPglite(await openPglite(dir));
    expect(await again.query('SELECT v FROM kept ORDER BY v')).toEqual([
      { v: 'written by the worker' },
      { v: 'written in-process' },
    ]);
    await again.close();
  });

  it('a new folder is initialised, then opened with the buffer cache asked for; it reopens with its data', async () => {
    const dir = join(tmp, 'fresh');
    const first = await openPgliteWorker(dir, { sharedBuffersMb: 16 });
    expect(await first.query('SHOW shared_buffers')).toEqual([{ shared_buffers: '16MB' }]);
    await first.exec("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('first start')");
    await first.close();
    const again = await openPgliteWorker(dir);
    expect(await again.query('SHOW shared_buffers')).toEqual([{ shared_buffers: '128MB' }]);
    expect(await again.query('SELECT v FROM kept')).toEqual([{ v: 'first start' }]);
    await again.close();
  });

  it('a folder that cannot be opened fails the start with its reason', async () => {
    const file = join(tmp, 'not-a-dir');
    writeFileSync(file, 'x');
    const err = await rejection(openPgliteWorker(join(file, 'pglite')));
    expect(err.message).toMatch(/ENOTDIR|not a directory/i);
  });
});

describe('a worker that dies', () => {
  it('fails pending and later calls with a retryable "store unavailable", and health says why', async () => {
    // The real worker, wrapped: a query `SELECT 'crash'` ends the thread before PGlite answers.
    const wrapper = join(tmp, 'crashing-worker.mjs');
    const real = new URL('./pglite-worker.mjs', import.meta.url).href;
    writeFileSync(
      wrapper,
      `import { parentPort } from 'node:worker_threads';
parentPort.on('message', (m) => { if (m.sql === "SELECT 'crash'") process.exit(7); });
await import(${JSON.stringify(real)});
`,
    );
    const db = await openPgliteWorker('memory://', { workerUrl: pathToFileURL(wrapper) });
    try {
      expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      const pending = rejection(db.query("SELECT 'crash'"));
      const err = await pending;
      expect(err.message).toMatch(/store unavailable: the embedded store's worker exited \(code 7\)/);
      expect(isRetryable(err)).toBe(true);
      expect(db.health()).toEqual({ ok: false, reason: err.message });
      const later = await rejection(db.query('SELECT 1'));
      expect(later.message).toBe(err.message);
    } finally {
      await db.close();
    }
  });
});
