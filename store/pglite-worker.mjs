// The embedded store's own thread (issue 13): this worker owns the one PGlite instance, so the
// WebAssembly PostgreSQL (parsing, planning, writing a 7,500-row batch) runs beside the broker's
// thread instead of on it. Plain JavaScript on purpose: a worker does not inherit the tsx loader the
// main thread registers (bin/gridhub.js), and this file needs none.
//
// Protocol (store/pglite-proxy.ts is the other side), one message per request, one answer per id:
//   { id, op: 'query', sql, params, tx?, lane? }  → { id, rows }
//   { id, op: 'run', statement, params, lane? } → { id }   (a prepared write: store/pglite-run.mjs)
//   { id, op: 'exec', sql }                → { id }
//   { id, op: 'begin', tx }                → { id } once the transaction holds the connection
//   { id, op: 'commit' | 'rollback', tx }  → { id } once it has ended
//   { id, op: 'close' }                    → { id } once PGlite is closed
// A failure answers { id, error: { message, code, … } }: the SQLSTATE travels as `code`, so
// store/errors.ts judges a worker's error exactly as an in-process one.
//
// One connection, two lanes. PGlite runs one statement at a time; requests wait here, in two queues:
// `read` (the API, the rules, the registry: every caller but the ingest writer) and `write` (the
// ingest writer, `lane: 'write'`). The next request is a waiting read, if any — at most
// READS_IN_A_ROW of them while writes wait, so writes are never starved — so a dashboard's query
// waits for the one write statement in progress (bounded by GRIDHUB_INGEST_EMBEDDED_TX_ROWS), never
// for the whole queue of batches behind it (issue 13: reads never queue behind ingest writes).
// Transactions: `begin` waits its turn in its lane, then holds the connection until `commit` or
// `rollback`; queries carrying that transaction's id run inside it at once, everything else waits —
// as the callers of the in-process driver wait.

import { mkdirSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { durableStartParams, enableFsync, syncTree } from './pglite-fsync.mjs';
import { preparedRunner } from './pglite-run.mjs';

const { dataDir, sharedBuffersMb, initOnly } = workerData;

/** Fields of a PostgreSQL error worth carrying over (SQLSTATE `code` first of all). */
const ERROR_FIELDS = [
  'code',
  'detail',
  'hint',
  'severity',
  'constraint',
  'table',
  'column',
  'schema',
  'position',
];

function describe(err) {
  const out = { message: err instanceof Error ? err.message : String(err) };
  if (err && typeof err === 'object')
    for (const f of ERROR_FIELDS) {
      const v = err[f];
      if (typeof v === 'string' || typeof v === 'number') out[f] = v;
    }
  return out;
}

/**
 * PGlite's start parameters: fsync on (store/pglite-fsync.mjs), and the size of PostgreSQL's buffer
 * cache: PostgreSQL's default (128 MB) is written through at start, so it is resident from the first
 * query (issue 13, memory).
 */
function startParams(mb) {
  const params = durableStartParams(PGlite.defaultStartParams);
  return mb ? [...params, '-c', `shared_buffers=${Number(mb)}MB`] : params;
}

/** Open transactions by id: the PGlite transaction object and how to end it. */
const open = new Map();
let pglite;
/** Prepared writes (store/pglite-run.mjs); query() where this build cannot run them. */
let run;

async function begin(txId) {
  let settle;
  const ended = new Promise((resolve, reject) => {
    settle = { resolve, reject };
  });
  let started;
  const entered = new Promise((resolve) => {
    started = resolve;
  });
  const done = pglite
    .transaction(async (tx) => {
      open.set(txId, { tx, settle });
      started();
      await ended; // commit resolves it; rollback rejects it, so PGlite rolls back
    })
    .finally(() => open.delete(txId));
  // Whatever the transaction's end, `done` is awaited by commit/rollback; a failure to begin at
  // all (the callback never ran) is this request's answer.
  const first = await Promise.race([
    entered.then(() => 'entered'),
    done.then(
      () => 'ended',
      (e) => e,
    ),
  ]);
  if (first !== 'entered') {
    if (first instanceof Error || typeof first !== 'string') throw first;
    throw new Error('transaction ended before it began');
  }
  open.get(txId).done = done;
}

async function end(txId, commit) {
  const t = open.get(txId);
  if (!t) throw new Error(`no open transaction ${txId}`);
  if (commit) t.settle.resolve();
  else t.settle.reject(new Error('rolled back by the caller'));
  try {
    await t.done;
  } catch (err) {
    if (commit) throw err;
  }
}

async function handle(msg) {
  switch (msg.op) {
    case 'query': {
      if (msg.tx !== undefined) {
        const t = open.get(msg.tx);
        if (!t) throw new Error(`no open transaction ${msg.tx}`);
        return { rows: (await t.tx.query(msg.sql, msg.params)).rows };
      }
      return { rows: (await pglite.query(msg.sql, msg.params)).rows };
    }
    case 'run':
      if (run) await run(msg.statement, msg.params);
      else await pglite.query(msg.statement.sql, msg.params);
      return {};
    case 'exec':
      await pglite.exec(msg.sql);
      return {};
    case 'begin':
      await begin(msg.tx);
      return {};
    case 'commit':
      await end(msg.tx, true);
      return {};
    case 'rollback':
      await end(msg.tx, false);
      return {};
    case 'close':
      await pglite.close();
      return {};
    default:
      throw new Error(`unknown operation ${String(msg.op)}`);
  }
}

try {
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  pglite = await PGlite.create({ dataDir, startParams: startParams(sharedBuffersMb) });
  // A new data folder: initdb ran in this thread and its memory stays with the thread; the caller
  // starts a fresh worker for the store itself (store/pglite-proxy.ts).
  if (initOnly) await pglite.close();
  run = preparedRunner(pglite);
  const inMemory = dataDir.startsWith('memory://');
  const durable = !inMemory && enableFsync(pglite);
  // What PostgreSQL wrote while starting (initdb, crash recovery) was written before fsync was on.
  if (!inMemory) syncTree(dataDir);
  parentPort.postMessage({ id: 0, ready: true, durable });
} catch (err) {
  parentPort.postMessage({ id: 0, error: describe(err) });
  process.exit(1);
}

const READS_IN_A_ROW = 8;
const lanes = { read: [], write: [] };
let busy = false;
let readsInRow = 0;

function reply(msg, out) {
  parentPort.postMessage({ id: msg.id, ...out });
}
function replyError(msg, err) {
  parentPort.postMessage({ id: msg.id, error: describe(err) });
}

/** A `close` waits for everything queued before it, whatever its lane. */
let closeRequest;

function next() {
  if (!lanes.read.length && !lanes.write.length) {
    const c = closeRequest;
    closeRequest = undefined;
    return c;
  }
  if (lanes.read.length && (readsInRow < READS_IN_A_ROW || !lanes.write.length)) {
    readsInRow++;
    return lanes.read.shift();
  }
  readsInRow = 0;
  return lanes.write.shift() ?? lanes.read.shift();
}

/** Runs the queued requests one at a time; a transaction keeps the connection until it ends. */
async function pump() {
  if (busy) return;
  busy = true;
  try {
    for (let msg = next(); msg; msg = next()) {
      try {
        const out = await handle(msg);
        reply(msg, out);
      } catch (err) {
        replyError(msg, err);
        continue;
      }
      if (msg.op === 'begin') await open.get(msg.tx)?.done.catch(() => {});
      // PGlite answers through microtasks only: without this turn of the event loop, requests that
      // arrived meanwhile would not be in their lanes yet, and a read would not pass queued writes.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    busy = false;
  }
}

parentPort.on('message', (msg) => {
  // Inside an open transaction: at once (the transaction holds the connection already).
  if (msg.tx !== undefined && msg.op !== 'begin') {
    handle(msg).then(
      (out) => reply(msg, out),
      (err) => replyError(msg, err),
    );
    return;
  }
  if (msg.op === 'close') closeRequest = msg;
  else (msg.lane === 'write' ? lanes.write : lanes.read).push(msg);
  void pump();
});
