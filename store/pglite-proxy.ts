import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Db, Prepared, Queryable, StoreHealth } from './db.ts';

/**
 * The embedded store off the broker's thread (issue 13): PGlite runs in a worker thread
 * (`pglite-worker.mjs`) and this Db forwards every call over the worker's message port. Results and
 * parameters cross by structured clone (Date, BigInt, Uint8Array and plain objects survive it).
 *
 * - Transactions are begin/query/commit messages bound to one transaction id; while one is open,
 *   every other caller's query waits in the worker (PGlite has one connection), as in-process.
 * - A failed statement rejects with an Error carrying the SQLSTATE as `code` (and detail, hint,
 *   constraint…), so `isRetryable` and `describeStoreError` judge it as they judge the in-process
 *   driver's errors.
 * - The worker dying (an abort in the WebAssembly, out of memory) fails every pending call and
 *   every later one with `store unavailable: …` (retryable: ingest holds its acknowledgements and
 *   spools), and `health()` says why.
 */
export interface WorkerDb extends Db {
  health(): StoreHealth;
  /** Commits are fsync'd (store/pglite-fsync.mjs): false in memory, or with a PGlite build it cannot patch. */
  readonly durable: boolean;
}

interface StoreErrorFields {
  message: string;
  code?: string;
  [field: string]: unknown;
}

interface Reply {
  id: number;
  rows?: unknown[];
  error?: StoreErrorFields;
  ready?: boolean;
  durable?: boolean;
}

const WORKER_URL = new URL('./pglite-worker.mjs', import.meta.url);
/** The worker's first message: PGlite is open, or why it could not be. */
function firstReply(worker: Worker): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onExit = (code: number) =>
      reject(new Error(`the embedded store's worker exited (code ${code}) before it was ready`));
    worker.once('message', (r: Reply) => {
      worker.off('exit', onExit);
      if (r.error) reject(toError(r.error));
      else resolve();
    });
    worker.once('error', reject);
    worker.once('exit', onExit);
  });
}

/** How long close waits for PGlite to close cleanly before the thread is terminated. */
const CLOSE_TIMEOUT_MS = 10_000;

function toError(e: StoreErrorFields): Error {
  const err = new Error(e.message);
  for (const [k, v] of Object.entries(e))
    if (k !== 'message') (err as unknown as Record<string, unknown>)[k] = v;
  return err;
}

export interface PgliteWorkerOptions {
  /** Replaces the worker's entry (tests wrap it to make it crash). */
  workerUrl?: URL;
  /** PostgreSQL's shared_buffers in MiB (PGlite's default, 128, when unset). */
  sharedBuffersMb?: number;
}

/**
 * Starts the worker, opens PGlite in `dataDir` there (created if missing; `memory://` in memory).
 * A data folder that does not exist yet is first initialised in a worker of its own that then
 * ends: initdb's memory (about 0.4 GB resident) leaves with that thread instead of staying for the
 * life of the hub (issue 13, memory). The folder is PGlite's own format either way.
 */
export async function openPgliteWorker(dataDir: string, opts: PgliteWorkerOptions = {}): Promise<WorkerDb> {
  const url = opts.workerUrl ?? WORKER_URL;
  const workerData = { dataDir, sharedBuffersMb: opts.sharedBuffersMb };
  if (!dataDir.startsWith('memory://') && !existsSync(join(dataDir, 'PG_VERSION'))) {
    const init = new Worker(url, { workerData: { ...workerData, initOnly: true } });
    try {
      await firstReply(init);
    } finally {
      await init.terminate();
    }
  }
  const worker = new Worker(url, { workerData });
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let nextTx = 1;
  let dead: Error | undefined;
  let closing = false;

  let durable = false;
  const ready = new Promise<void>((resolve, reject) => {
    pending.set(0, {
      resolve: (r) => {
        if (r.error) return reject(toError(r.error));
        durable = r.durable === true;
        resolve();
      },
      reject,
    });
  });

  worker.on('message', (r: Reply) => {
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    p.resolve(r);
  });
  const fail = (why: string) => {
    if (dead) return;
    dead = new Error(`store unavailable: the embedded store's worker ${why}`);
    for (const p of pending.values()) p.reject(dead);
    pending.clear();
  };
  worker.on('error', (err) => fail(`failed: ${err.message}`));
  worker.on('exit', (code) => fail(closing ? 'was closed' : `exited (code ${code})`));

  function call(msg: Record<string, unknown>): Promise<Reply> {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    return new Promise<Reply>((resolve, reject) => {
      pending.set(id, {
        resolve: (r) => (r.error ? reject(toError(r.error)) : resolve(r)),
        reject,
      });
      try {
        worker.postMessage({ ...msg, id });
      } catch (err) {
        // A parameter structured clone cannot copy (a function, a symbol): this call fails alone.
        pending.delete(id);
        reject(err as Error);
      }
    });
  }

  try {
    await ready;
  } catch (err) {
    await worker.terminate();
    throw err;
  }

  const query = async <T>(sql: string, params?: unknown[], tx?: number, lane?: 'write'): Promise<T[]> =>
    (await call({ op: 'query', sql, params, tx, lane })).rows as T[];

  /** The Db's calls in one lane: the worker serves waiting reads before the ingest writer's batches. */
  function inLane(lane: 'write' | undefined) {
    return {
      query: <T>(sql: string, params?: unknown[]) => query<T>(sql, params, undefined, lane),
      async run(statement: Prepared, params: readonly (readonly unknown[])[]) {
        // Plain arrays cross to the worker, which encodes them: a structured clone of a 1,000-row
        // batch's arrays costs the broker's thread a sixth of encoding them here (measured).
        await call({ op: 'run', statement: { ...statement }, params, lane });
      },
      async exec(sql: string) {
        await call({ op: 'exec', sql, lane });
      },
      async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
        const tx = nextTx++;
        await call({ op: 'begin', tx, lane });
        let out: T;
        try {
          out = await fn({ query: <R>(sql: string, params?: unknown[]) => query<R>(sql, params, tx) });
        } catch (err) {
          await call({ op: 'rollback', tx }).catch(() => {});
          throw err;
        }
        await call({ op: 'commit', tx });
        return out;
      },
    };
  }

  const health = (): StoreHealth => (dead && !closing ? { ok: false, reason: dead.message } : { ok: true });
  const writeLane: Db = { driver: 'pglite', ...inLane('write'), close: async () => {}, health };
  return {
    driver: 'pglite',
    durable,
    ...inLane(undefined),
    // The ingest writer's view (issue 13): same connection, the write lane. Closed with this Db.
    writer: writeLane,
    // The rules' state saves (tens of ms each on the embedded store) wait behind reads there too.
    background: writeLane,
    async close() {
      if (closing) return;
      closing = true;
      if (!dead) {
        const timer = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref());
        await Promise.race([call({ op: 'close' }).catch(() => {}), timer]);
      }
      await worker.terminate();
    },
    health,
  };
}
