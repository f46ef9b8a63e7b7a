// Prepared writes on the embedded store (issue 13: a device with one message in flight waits for
// every statement of its write). PGlite's query() sends Parse, Describe, Bind, Describe, Execute and
// Sync as six calls into its WebAssembly, and PostgreSQL parses and plans the statement anew each
// time: 0.46 ms for the one-reading write of telemetry and latest values, in memory, where binding
// and executing a statement prepared once takes 0.10 ms. Here a statement is parsed once, under its
// name, and every later run is one message — Bind, Execute, Sync — with its arrays in PostgreSQL's
// binary format (store/pg-binary.mjs), so nothing is printed as text and parsed back.
//
// Plain JavaScript: the store's worker thread (pglite-worker.mjs), which has no TypeScript loader,
// imports it, and so does the in-process driver (pglite-driver.ts).
import { protocol } from '@electric-sql/pglite';
import { binaryParams } from './pg-binary.mjs';

const { serialize } = protocol;

/**
 * Returns run(statement, params) for one PGlite instance, or undefined when the build lacks the
 * protocol calls this needs (the caller then uses query()). Runs take PGlite's own locks, as
 * query() does: a transaction or a query of another caller in progress is waited for, never
 * interleaved with.
 */
export function preparedRunner(pglite) {
  if (
    typeof pglite?.execProtocol !== 'function' ||
    typeof pglite._runExclusiveTransaction !== 'function' ||
    typeof pglite._runExclusiveQuery !== 'function'
  )
    return undefined;
  /** Names this connection has prepared. */
  const prepared = new Set();
  const exclusive = (fn) => pglite._runExclusiveTransaction(() => pglite._runExclusiveQuery(fn));
  return (statement, params) => {
    // Encoded before the lock: a bad parameter fails this call alone.
    const values = binaryParams(statement, params);
    const prepare = () =>
      pglite.execProtocol(
        concat([serialize.parse({ name: statement.name, text: statement.sql }), serialize.sync()]),
        { throwOnError: true },
      );
    // A failing Bind or Execute is answered with its error, and PostgreSQL skips to the Sync: the
    // statement stays prepared and the connection usable.
    const bindAndExecute = () =>
      pglite.execProtocol(
        concat([
          serialize.bind({ statement: statement.name, values }),
          serialize.execute({}),
          serialize.sync(),
        ]),
        { throwOnError: true },
      );
    return exclusive(async () => {
      if (!prepared.has(statement.name)) {
        // On its own, so a failure here (bad SQL, a missing table) leaves nothing prepared.
        await prepare();
        prepared.add(statement.name);
      }
      try {
        await bindAndExecute();
      } catch (err) {
        // Dropped behind this runner's back (DEALLOCATE, DISCARD ALL): prepared again, once.
        if (err?.code !== '26000') throw err;
        prepared.delete(statement.name);
        await prepare();
        prepared.add(statement.name);
        await bindAndExecute();
      }
    });
  };
}

function concat(parts) {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
