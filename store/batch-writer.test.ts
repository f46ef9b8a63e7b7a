// The store's batch writer (issue 13, CPU per message): a batch is written with plain INSERTs, and
// written again with ON CONFLICT DO NOTHING when it holds a reading already stored, as does every
// batch for REDELIVERY_WINDOW_MS after. On a real PostgreSQL 15 and on the embedded store: whatever
// path a batch takes, every reading is stored exactly once, the first value kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPgDatabase, pgSkipReason } from '../test/support/pg.ts';
import { createBatchWriter, REDELIVERY_WINDOW_MS } from './batch-writer.ts';
import type { Db } from './db.ts';
import { migrate } from './migrate.ts';
import { createPgDb } from './pg-driver.ts';
import { openPglite, wrapPglite } from './pglite-driver.ts';
import { emptyWriteSet, type WriteSet } from './telemetry.ts';

const T0 = Date.UTC(2026, 11, 6, 8, 0, 0);

/** A numeric batch: one reading per (device, key, ts) given, value `v`, and their latest values. */
function readings(rows: [device: string, key: string, ts: number, v: number][]): WriteSet {
  const w = emptyWriteSet();
  const latest = new Map<string, (typeof w.latest)[number]>();
  for (const [deviceId, key, ts, value] of rows) {
    w.telemetry.ts.push(ts);
    w.telemetry.deviceId.push(deviceId);
    w.telemetry.key.push(key);
    w.telemetry.value.push(value);
    const prev = latest.get(`${deviceId}\u0000${key}`);
    if (!prev || prev.ts <= ts)
      latest.set(`${deviceId}\u0000${key}`, { deviceId, key, ts, value, json: null });
  }
  w.latest = [...latest.values()].sort((a, b) =>
    a.deviceId === b.deviceId ? (a.key < b.key ? -1 : 1) : a.deviceId < b.deviceId ? -1 : 1,
  );
  return w;
}

const stores: [name: string, open: () => Promise<Db | undefined>][] = [
  [
    'PostgreSQL',
    async () => {
      const url = await freshPgDatabase();
      return url ? createPgDb(url) : undefined;
    },
  ],
  ['PGlite', async () => wrapPglite(await openPglite('memory://'))],
];

describe.each(stores)('the batch writer on %s', (name, open) => {
  let db: Db | undefined;
  let clock = 0;
  let redelivered = 0;
  let writer: ReturnType<typeof createBatchWriter>;
  let device = 0;
  /** A device of its own for each test. */
  const fresh = () => `bw-${++device}`;

  beforeAll(async () => {
    if (name === 'PostgreSQL' && pgSkipReason()) {
      if (process.env.CI === 'true') throw new Error(pgSkipReason());
      return;
    }
    db = await open();
    await migrate(db!, { timescale: 'off', retentionDays: 400, compressAfterDays: 7 });
    writer = createBatchWriter(db!, { now: () => clock, onRedelivered: () => redelivered++ });
  });
  afterAll(() => db?.close());

  const stored = async (deviceId: string) =>
    (
      await db!.query<{ key: string; t: number; value: number }>(
        `SELECT key, (extract(epoch FROM ts) * 1000)::float8 AS t, value FROM telemetry
          WHERE device_id = $1 ORDER BY key, ts`,
        [deviceId],
      )
    ).map((r) => [r.key, Number(r.t), Number(r.value)]);
  const latestOf = async (deviceId: string) =>
    (
      await db!.query<{ key: string; value: number }>(
        'SELECT key, value FROM telemetry_latest WHERE device_id = $1 ORDER BY key',
        [deviceId],
      )
    ).map((r) => [r.key, Number(r.value)]);

  it('new readings are written plainly, and a batch with a stored reading keeps the first value', async (ctx) => {
    if (!db) return ctx.skip();
    const d = fresh();
    clock += 10 * REDELIVERY_WINDOW_MS;
    const before = redelivered;
    expect(await writer.write(readings([[d, 'pm25', T0, 1]]))).toEqual({ telemetry: 1 });
    expect(redelivered).toBe(before);
    // The same reading again (a device's redelivery), beside a new one: both land, once.
    await writer.write(
      readings([
        [d, 'pm25', T0, 99],
        [d, 'pm25', T0 + 1000, 2],
      ]),
    );
    expect(redelivered).toBe(before + 1);
    expect(await stored(d)).toEqual([
      ['pm25', T0, 1],
      ['pm25', T0 + 1000, 2],
    ]);
    expect(await latestOf(d)).toEqual([['pm25', 2]]);
  });

  it('latest values alone (the last parts of a batch written in parts) are upserted; an older one never wins', async (ctx) => {
    if (!db) return ctx.skip();
    const d = fresh();
    const onlyLatest = (ts: number, value: number) => {
      const w = emptyWriteSet();
      w.latest = [{ deviceId: d, key: 'pm25', ts, value, json: null }];
      return w;
    };
    expect(await writer.write(onlyLatest(T0 + 2000, 7))).toEqual({});
    expect(await latestOf(d)).toEqual([['pm25', 7]]);
    await writer.write(onlyLatest(T0 + 1000, 6)); // older: kept out
    expect(await latestOf(d)).toEqual([['pm25', 7]]);
    await writer.write(onlyLatest(T0 + 3000, 8));
    expect(await latestOf(d)).toEqual([['pm25', 8]]);
    expect(await stored(d)).toEqual([]);
  });

  it('the same reading twice in one batch is stored once', async (ctx) => {
    if (!db) return ctx.skip();
    const d = fresh();
    clock += 10 * REDELIVERY_WINDOW_MS;
    const before = redelivered;
    await writer.write(
      readings([
        [d, 'noise', T0, 55],
        [d, 'noise', T0, 55],
        [d, 'noise', T0 + 1000, 56],
      ]),
    );
    expect(redelivered).toBe(before + 1);
    expect(await stored(d)).toEqual([
      ['noise', T0, 55],
      ['noise', T0 + 1000, 56],
    ]);
  });

  it('inside the window every batch skips stored readings at once; the window ends at its edge', async (ctx) => {
    if (!db) return ctx.skip();
    const d = fresh();
    clock += 10 * REDELIVERY_WINDOW_MS;
    await writer.write(readings([[d, 'pm10', T0, 1]]));
    const before = redelivered;
    await writer.write(readings([[d, 'pm10', T0, 2]])); // opens the window
    expect(redelivered).toBe(before + 1);
    // One millisecond before the window ends: written with ON CONFLICT straight away, so no refusal.
    clock += REDELIVERY_WINDOW_MS - 1;
    await writer.write(readings([[d, 'pm10', T0, 3]]));
    expect(redelivered).toBe(before + 1);
    // At its end, a batch is tried plainly again: this one is refused once more, then written.
    clock += 1;
    await writer.write(
      readings([
        [d, 'pm10', T0, 4],
        [d, 'pm10', T0 + 1000, 5],
      ]),
    );
    expect(redelivered).toBe(before + 2);
    expect(await stored(d)).toEqual([
      ['pm10', T0, 1],
      ['pm10', T0 + 1000, 5],
    ]);
  });

  it('a mixed batch (values, events, rejected rows) goes through its transaction the same way', async (ctx) => {
    if (!db) return ctx.skip();
    const d = fresh();
    clock += 10 * REDELIVERY_WINDOW_MS;
    const mixed = (v: number, json: string, confidence: number, reason: string): WriteSet => {
      const w = readings([[d, 'level', T0, v]]);
      w.values = { ts: [T0], deviceId: [d], key: ['status'], json: [json] };
      w.events = [{ ts: T0, deviceId: d, type: 'person', confidence, snapshot: null, data: {} }];
      w.rejected = [
        {
          receivedAt: T0,
          deviceId: d,
          clientId: d,
          topic: 'v1/devices/me/telemetry',
          code: 'range',
          reason,
          payload: null,
        },
      ];
      return w;
    };
    const before = redelivered;
    expect(await writer.write(mixed(1, '"ok"', 0.9, 'first'))).toEqual({
      telemetry: 1,
      telemetry_values: 1,
      device_events: 1,
      rejected_messages: 1,
    });
    expect(redelivered).toBe(before);
    // Redelivered whole: the refused attempt rolled back, so the rejected row is not kept twice.
    await writer.write(mixed(2, '"changed"', 0.1, 'second'));
    expect(redelivered).toBe(before + 1);
    expect(await stored(d)).toEqual([['level', T0, 1]]);
    // Its latest value went through the transaction's upsert: the redelivery's equal time wins.
    expect(await latestOf(d)).toEqual([['level', 2]]);
    const values = await db.query<{ value: unknown }>(
      'SELECT value FROM telemetry_values WHERE device_id = $1',
      [d],
    );
    expect(values.map((r) => r.value)).toEqual(['ok']);
    const events = await db.query<{ confidence: number }>(
      'SELECT confidence FROM device_events WHERE device_id = $1',
      [d],
    );
    expect(events.map((r) => Number(r.confidence))).toEqual([0.9]);
    const rejected = await db.query<{ reason: string }>(
      'SELECT reason FROM rejected_messages WHERE device_id = $1 ORDER BY id',
      [d],
    );
    expect(rejected.map((r) => r.reason)).toEqual(['first', 'second']);
  });

  it('any other refusal is the caller’s: a value the column cannot hold is thrown, not skipped', async (ctx) => {
    if (!db) return ctx.skip();
    const d = fresh();
    clock += 10 * REDELIVERY_WINDOW_MS;
    const before = redelivered;
    // A timestamp past PostgreSQL's range: 22008, datetime field overflow.
    await expect(writer.write(readings([[d, 'pm25', 1e18, 1]]))).rejects.toMatchObject({ code: '22008' });
    expect(redelivered).toBe(before);
    expect(await stored(d)).toEqual([]);
  });
});
