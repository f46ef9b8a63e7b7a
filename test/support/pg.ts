// Helpers for test files that need a real PostgreSQL (cluster started by ./global-setup.ts).

import { inject } from 'vitest';
import { createDatabaseAt, PG_INSTALL_HINT } from './pg-cluster.ts';

/** Creates a new, uniquely named, empty database on the shared cluster; undefined when there is no cluster. */
export async function freshPgDatabase(): Promise<string | undefined> {
  const url = inject('pgUrl');
  if (!url) return undefined;
  return createDatabaseAt(url);
}

/** Why PostgreSQL tests cannot run here, or undefined when the shared cluster is available. */
export function pgSkipReason(): string | undefined {
  return inject('pgUrl') ? undefined : `PostgreSQL server not installed (${PG_INSTALL_HINT})`;
}
