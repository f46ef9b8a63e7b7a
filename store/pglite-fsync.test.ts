// The embedded store's commits reach the disk (store/pglite-fsync.mjs): PGlite runs with fsync off
// and its file system cannot fsync, so without the patch a commit lived in the page cache only.
// Real PGlite in a temp folder; the fsync calls themselves are watched in-process, where node:fs
// can be observed, and the worker's settings are read back through it.
import fs, { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tempDirs } from '../test/support/temp.ts';
import { openPglite, pgliteIsDurable, wrapPglite } from './pglite-driver.ts';
import { openPgliteWorker } from './pglite-proxy.ts';

const tempDir = tempDirs();
afterEach(() => vi.restoreAllMocks());

/** The file behind a descriptor of this process. */
const pathOf = (fd: number) => {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `fd ${fd}`;
  }
};

describe('fsync on the embedded store', () => {
  it('in-process: every commit fsyncs the WAL, a checkpoint the data files', async () => {
    const dir = join(tempDir('gridhub-pglite-fsync-'), 'pglite');
    const pglite = await openPglite(dir);
    expect(pgliteIsDurable(pglite)).toBe(true);
    const db = wrapPglite(pglite);
    try {
      await db.exec('CREATE TABLE t (v int)');
      const synced: string[] = [];
      const real = fs.fsyncSync;
      vi.spyOn(fs, 'fsyncSync').mockImplementation((fd: number) => {
        synced.push(pathOf(fd));
        real(fd);
      });
      for (let i = 0; i < 5; i++) await db.query('INSERT INTO t VALUES ($1)', [i]);
      const wal = synced.filter((p) => p.includes('/pg_wal/'));
      // One WAL flush per commit, at least: five commits, five fsyncs of a WAL segment.
      expect(wal.length).toBeGreaterThanOrEqual(5);
      synced.length = 0;
      await db.exec('CHECKPOINT');
      expect(synced.some((p) => p.includes('/base/'))).toBe(true);
      expect(await db.query('SHOW fsync')).toEqual([{ fsync: 'on' }]);
    } finally {
      await db.close();
    }
  });

  it('a new WAL segment is not filled with zeros first (a 16 MB write that held a write for ~100 ms)', async () => {
    const dir = join(tempDir('gridhub-pglite-fsync-'), 'pglite');
    const pglite = await openPglite(dir);
    const db = wrapPglite(pglite);
    try {
      await db.exec('CREATE TABLE t (v int)');
      const written = new Map<string, number>();
      const real = fs.writeSync as (...a: unknown[]) => number;
      vi.spyOn(fs, 'writeSync').mockImplementation(((fd: number, ...rest: unknown[]) => {
        const n = real(fd, ...rest);
        const p = pathOf(fd);
        if (p.includes('/pg_wal/')) written.set(p, (written.get(p) ?? 0) + n);
        return n;
      }) as typeof fs.writeSync);
      // Each switch makes the next commit open a segment PostgreSQL has never used.
      for (let i = 0; i < 3; i++) {
        await db.query('SELECT pg_switch_wal()');
        await db.query('INSERT INTO t VALUES ($1)', [i]);
      }
      // A new segment is made under a temporary name, then renamed into place.
      const made = [...written].filter(([p]) => p.includes('/pg_wal/xlogtemp'));
      expect(made.length).toBeGreaterThanOrEqual(1);
      // Zero-filled, each would have taken 16 MiB of writes before its first record.
      for (const [p, bytes] of made) expect(bytes, p).toBeLessThan(1024 * 1024);
      expect(await db.query('SHOW wal_init_zero')).toEqual([{ wal_init_zero: 'off' }]);
    } finally {
      await db.close();
    }
  });

  it('in the worker: fsync on, WAL flushed with fsync(), the store says it is durable', async () => {
    const dir = join(tempDir('gridhub-pglite-fsync-'), 'pglite');
    const db = await openPgliteWorker(dir);
    try {
      expect(db.durable).toBe(true);
      expect(await db.query('SHOW fsync')).toEqual([{ fsync: 'on' }]);
      expect(await db.query('SHOW wal_sync_method')).toEqual([{ wal_sync_method: 'fsync' }]);
      expect(await db.query('SHOW wal_init_zero')).toEqual([{ wal_init_zero: 'off' }]);
      await db.exec('CREATE TABLE t (v int); INSERT INTO t VALUES (1)');
      expect(await db.query('SELECT v FROM t')).toEqual([{ v: 1 }]);
    } finally {
      await db.close();
    }
    // In memory there is no disk to reach: not durable, and not claimed to be.
    const mem = await openPgliteWorker('memory://');
    try {
      expect(mem.durable).toBe(false);
    } finally {
      await mem.close();
    }
  });
});
