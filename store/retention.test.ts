// The embedded store has no autovacuum, so retention vacuums it: space freed by one pass is reused
// by the next day's readings instead of the files growing for ever. A real PGlite, in memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics, silentLogger } from '../kernel/index.ts';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import { openPglite, wrapPglite } from './pglite-driver.ts';
import { createRetention } from './retention.ts';

const DAY = 86_400_000;
const DEVICES = 200;
const PER_DAY = 50_000;

describe('retention on the embedded store', () => {
  let db: Db;
  let now = Date.UTC(2026, 0, 1);
  const metrics = new Metrics();
  let retention: ReturnType<typeof createRetention>;

  beforeAll(async () => {
    db = wrapPglite(await openPglite('memory://'));
    await migrate(db, { timescale: 'off', retentionDays: 400, compressAfterDays: 7 });
    retention = createRetention({
      db,
      dialect: 'postgres',
      options: {
        retentionDays: 1,
        rejectedRetentionDays: 1,
        eventsRetentionDays: 1,
        valuesRetentionDays: 1,
        retentionInterval: 3_600_000,
      },
      now: () => now,
      logger: silentLogger(),
      metrics,
    });
  });
  afterAll(() => db.close());

  /** One day of readings (the day `now` is in), then a retention pass at the end of it. */
  async function day() {
    await db.query(
      `INSERT INTO telemetry (ts, device_id, key, value)
       SELECT to_timestamp(($1::float8 + (i / ${DEVICES}) * 1000) / 1000.0), 'rt-' || (i % ${DEVICES}), 'pm25', i % 97
         FROM generate_series(0, ${PER_DAY - 1}) i`,
      [now],
    );
    now += DAY;
    return retention.runOnce();
  }
  const size = async () =>
    Number((await db.query<{ s: number | string }>(`SELECT pg_total_relation_size('telemetry') AS s`))[0]!.s);
  const vacuums = async () =>
    Number(
      (
        await db.query<{ n: number | string }>(
          `SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relname = 'telemetry'`,
        )
      )[0]!.n,
    );

  it('each pass vacuums every table, so the files stay the size of what is kept', async () => {
    await day();
    expect(await vacuums()).toBeGreaterThanOrEqual(1);
    const oneDay = await size();
    for (let d = 0; d < 4; d++) {
      const deleted = await day();
      // Yesterday's readings are past the one-day retention; today's are kept.
      expect(deleted.telemetry).toBe(PER_DAY);
    }
    expect(
      Number((await db.query<{ n: string | number }>('SELECT count(*) AS n FROM telemetry'))[0]!.n),
    ).toBe(PER_DAY);
    // Without the vacuum the table keeps every day's pages: five days' worth here. With it, the
    // space of the deleted days is reused; room is left for one day's dead rows and slack.
    expect(await size()).toBeLessThan(2.5 * oneDay);
    expect(await vacuums()).toBeGreaterThanOrEqual(5);
    // System catalogs and every user table were vacuumed too, counted.
    const text = metrics.render();
    const m = /gridhub_store_vacuumed_tables_total(?:\{\})? (\d+)/.exec(text);
    expect(Number(m?.[1])).toBeGreaterThan(5 * 60);
  });
});
