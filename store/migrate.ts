import type { Logger } from '../kernel/index.ts';
import type { Db, Dialect } from './db.ts';
import { migrations, timescalePolicies } from './migrations.ts';

export interface MigrateOptions {
  timescale: 'auto' | 'on' | 'off';
  retentionDays: number;
  compressAfterDays: number;
}

/**
 * Picks the dialect (once: it is recorded with the schema, so a store made on plain PostgreSQL
 * stays plain even if the extension appears later) and applies pending migrations.
 */
export async function migrate(
  db: Db,
  opts: MigrateOptions,
  log?: Logger,
): Promise<{ dialect: Dialect; applied: number[] }> {
  await db.exec(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS store_meta (key text PRIMARY KEY, value text NOT NULL);
  `);
  const recorded = await db.query<{ value: string }>(`SELECT value FROM store_meta WHERE key = 'dialect'`);
  let dialect = recorded[0]?.value as Dialect | undefined;
  if (!dialect) {
    dialect = await chooseDialect(db, opts.timescale);
    await db.query(`INSERT INTO store_meta (key, value) VALUES ('dialect', $1)`, [dialect]);
  } else if (dialect === 'postgres' && opts.timescale === 'on') {
    throw new Error('this store was created without TimescaleDB; GRIDHUB_TIMESCALE=on cannot convert it');
  }
  if (dialect === 'timescale') {
    // An embedded TimescaleDB build loads only partly when a saved store is reopened unless the
    // library is loaded first (docs/timescale-notes.md); a server preloads it.
    if (db.driver === 'pglite') await db.exec(`LOAD 'timescaledb'`);
    await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
  }

  const done = new Set(
    (await db.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) =>
      Number(r.version),
    ),
  );
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    const sql = m.sql(dialect);
    if (m.transactional === false) {
      await db.exec(sql);
      await db.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
    } else {
      await db.transaction(async (tx) => {
        for (const stmt of splitStatements(sql)) await tx.query(stmt);
        await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      });
    }
    applied.push(m.version);
    log?.info({ version: m.version, name: m.name, dialect }, 'migration applied');
  }
  if (dialect === 'timescale') {
    for (const stmt of timescalePolicies(opts)) await db.query(stmt);
  }
  return { dialect, applied };
}

async function chooseDialect(db: Db, mode: MigrateOptions['timescale']): Promise<Dialect> {
  if (mode === 'off') return 'postgres';
  const rows = await db.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'`);
  if (rows.length === 0) {
    if (mode === 'on')
      throw new Error('GRIDHUB_TIMESCALE=on but the timescaledb extension is not available on this server');
    return 'postgres';
  }
  return 'timescale';
}

/** Splits migration text on semicolons that end a line (our migrations keep `;` out of strings). */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}
