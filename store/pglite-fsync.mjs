// Durability of the embedded store (issue 13: a QoS 1 PUBACK means the reading is durable).
//
// PGlite starts PostgreSQL with fsync off (`-F` in its default start parameters), and its Node file
// system (Emscripten's NODEFS) has no fsync of its own: with fsync on, PostgreSQL's fsync() calls
// still end in nothing, and fdatasync() is a no-op in Emscripten. A commit was written to the page
// cache only: it survived the hub's crash, not the machine's. Here, PostgreSQL runs with fsync on
// and `wal_sync_method=fsync` (the one call Emscripten passes to the file system), and NODEFS gets
// the missing fsync, on the file's own descriptor. A commit then returns once its WAL is on disk,
// and a checkpoint once its data files are, as on a PostgreSQL server.
//
// `wal_init_zero=off`: PostgreSQL fills each new 16 MB WAL segment with zeros before its first
// record. On this store that write happens inside the commit that crosses into the segment (one
// backend, no WAL writer) — about once a second under full ingest, it held that write for 70–130 ms
// instead of 6–10, and every API read waiting behind it (issue 13). The segment is made by writing
// its last byte instead; its blocks are allocated as the WAL fills them, and fsync (not fdatasync)
// persists that allocation with each commit, so durability is the same.
//
// Plain JavaScript: imported by the store's worker thread (pglite-worker.mjs), which has no
// TypeScript loader, and by the in-process driver (pglite-driver.ts).
import fs from 'node:fs';
import { join } from 'node:path';

/** PGlite's start parameters with fsync on, WAL flushed with fsync(), new WAL segments not zero-filled. */
export function durableStartParams(defaults) {
  return [
    ...defaults.filter((p) => p !== '-F'),
    ...['-c', 'fsync=on', '-c', 'wal_sync_method=fsync', '-c', 'wal_init_zero=off'],
  ];
}

/**
 * Gives PGlite's NODEFS the fsync it lacks. Returns false when this PGlite build has no NODEFS
 * where it is expected (the caller says so: the store is then durable against a crash of the hub,
 * not of the machine).
 */
export function enableFsync(pglite) {
  const mod = pglite?.mod;
  const ops = mod?.NODEFS?.stream_ops;
  if (!ops) return false;
  if (ops.gridhubFsync) return true;
  ops.fsync = (stream) => {
    if (stream.nfd === undefined) return 0;
    try {
      fs.fsyncSync(stream.nfd);
      return 0;
    } catch (err) {
      // As an errno, so PostgreSQL sees the failure (and, for the WAL, stops: data_sync_retry off).
      const Errno = mod.FS?.ErrnoError;
      if (Errno) throw new Errno(29); // EIO
      throw err;
    }
  };
  ops.gridhubFsync = true;
  return true;
}

/**
 * Flushes every file of the data folder once, at open: what PostgreSQL wrote while starting
 * (crash recovery and its checkpoint) ran before fsync was enabled. Files already clean cost a
 * system call each.
 */
export function syncTree(dir) {
  let files = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        syncPath(p);
        files++;
      }
    }
    syncPath(d);
  };
  walk(dir);
  return files;
}

function syncPath(p) {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
