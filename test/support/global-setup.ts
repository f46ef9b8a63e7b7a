// vitest globalSetup: one throwaway PostgreSQL cluster for the whole run, exposed to tests as inject('pgUrl').
// Without server binaries: CI fails loudly, elsewhere pgUrl is '' and PostgreSQL tests skip (see ./pg.ts).

import type { TestProject } from 'vitest/node';
import { findPgBin, PG_INSTALL_HINT, startPgCluster } from './pg-cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the shared test cluster's `postgres` database; '' when PostgreSQL is not installed. */
    pgUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (!findPgBin()) {
    if (process.env.CI === 'true') {
      throw new Error(
        `PostgreSQL server binaries not found (looked in $PG_BIN and /usr/lib/postgresql/*/bin); CI requires them: ${PG_INSTALL_HINT}`,
      );
    }
    project.provide('pgUrl', '');
    console.warn(
      `[gridhub] PostgreSQL not installed: PostgreSQL-backed tests skip or fall back. To run them: ${PG_INSTALL_HINT}`,
    );
    return undefined;
  }
  const cluster = await startPgCluster({ log: (m) => console.log(`[gridhub] ${m}`) });
  project.provide('pgUrl', cluster.url);
  return () => cluster.stop();
}
