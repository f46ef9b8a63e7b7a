import type { Prepared } from './db.ts';
/** See pglite-run.mjs. */
export function preparedRunner(
  pglite: unknown,
): ((statement: Prepared, params: readonly (readonly unknown[])[]) => Promise<void>) | undefined;
