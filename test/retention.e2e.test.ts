// Findings 4, 5 and 6 of issue 8 on every store: retention on every table (in bounded chunks), a
// bounded rejected store under a flood, `latest` not frozen by a clock running ahead, and a
// deleted device's data removed (or tombstoned) so a re-created id starts empty.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteInChunks } from '../store/index.ts';
import { type StoreKind, startTestHub, type TestHub } from './support/hub.ts';

const DAY = 86_400_000;

describe.each<StoreKind>(['pglite', 'pg', 'timescale'])('retention and deletion on %s', (store) => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({
      store,
      overrides: {
        ingest: { flushIntervalMs: 10, rejectedSamplePerMinute: 5 },
        store: {
          retentionDays: 30,
          rejectedRetentionDays: 7,
          eventsRetentionDays: 10,
          valuesRetentionDays: 20,
        },
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });
  const db = () => t.hub.parts.store.db;
  const count = async (sql: string, params: unknown[] = []) =>
    Number((await db().query<{ n: string | number }>(sql, params))[0]!.n);

  it('deletes what is older than each table’s retention, in every table, and keeps the rest', async () => {
    const now = Date.now();
    const at = (days: number) => new Date(now - days * DAY);
    for (const days of [1, 15, 25, 40]) {
      await db().query(`INSERT INTO telemetry (ts, device_id, key, value) VALUES ($1, 'ret-1', 'v', 1)`, [
        at(days),
      ]);
      await db().query(
        `INSERT INTO telemetry_values (ts, device_id, key, value) VALUES ($1, 'ret-1', 's', '"x"')`,
        [at(days)],
      );
      await db().query(
        `INSERT INTO device_events (ts, device_id, type, confidence, data) VALUES ($1, 'ret-1', 'fire', 0.9, '{}')`,
        [at(days)],
      );
      await db().query(
        `INSERT INTO rejected_messages (received_at, device_id, topic, code, reason) VALUES ($1, 'ret-1', 't', 'empty', 'r')`,
        [at(days)],
      );
    }
    await t.hub.parts.retention.runOnce();
    const left = async (table: string, col: string) =>
      count(`SELECT count(*) AS n FROM ${table} WHERE device_id = 'ret-1' AND ${col} IS NOT NULL`);
    if (store !== 'timescale') expect(await left('telemetry', 'ts')).toBe(3); // 40 d gone (30 d kept)
    expect(await left('telemetry_values', 'ts')).toBe(2); // 20 d: 1 and 15 kept
    expect(await left('device_events', 'ts')).toBe(1); // 10 d
    expect(await left('rejected_messages', 'received_at')).toBe(1); // 7 d
    if (store === 'timescale') {
      // Whole chunks (1 day) are dropped: the 40-day-old reading's chunk is gone.
      expect(await left('telemetry', 'ts')).toBe(3);
    }
  });

  it('deletes in bounded chunks', async () => {
    for (let i = 0; i < 10; i++)
      await db().query(
        `INSERT INTO rejected_messages (received_at, device_id, topic, code, reason) VALUES ($1, 'chunk-1', 't', 'empty', 'r')`,
        [new Date(Date.now() - 100 * DAY)],
      );
    const table = { name: 'rejected_messages', key: 'id', time: 'received_at' };
    // 3 a chunk, at most 2 chunks this call: 6 go, 4 wait for the next pass.
    expect(await deleteInChunks(db(), table, `device_id = $1`, ['chunk-1'], { chunk: 3, maxChunks: 2 })).toBe(
      6,
    );
    expect(await deleteInChunks(db(), table, `device_id = $1`, ['chunk-1'], { chunk: 3 })).toBe(4);
  });

  it('finding 6: a device deleted and re-created with the same id starts empty', async () => {
    const spec = { id: 'reborn-1', profile: 'generic' };
    let c = await t.connect(await t.device(spec));
    await c.publishAsync('v1/devices/me/telemetry', '{"v":30,"s":"on"}', { qos: 1 });
    await c.publishAsync('v1/devices/me/telemetry', 'not json', { qos: 1 });
    expect(await count(`SELECT count(*) AS n FROM telemetry WHERE device_id = 'reborn-1'`)).toBe(1);
    await c.endAsync();
    expect((await t.api('DELETE', '/api/devices/reborn-1')).status).toBeLessThan(300);
    c = await t.connect(await t.device(spec));
    const dev = await t.api('GET', '/api/devices/reborn-1');
    expect(dev.body.latest ?? {}).toEqual({});
    const series = await t.api('GET', `/api/devices/reborn-1/series?key=v&from=${Date.now() - DAY}`);
    expect(series.body.points).toEqual([]);
    expect((await t.api('GET', '/api/rejected?deviceId=reborn-1')).body.items).toEqual([]);
    for (const table of ['telemetry', 'telemetry_values', 'rejected_messages'])
      expect(await count(`SELECT count(*) AS n FROM ${table} WHERE device_id LIKE 'reborn-1%'`)).toBe(0);
    await c.endAsync();
  });

  it('finding 5: a reading a few minutes ahead does not freeze latest; latest never goes back', async () => {
    const c = await t.connect(await t.device({ id: 'ahead-1', profile: 'air-quality' }));
    await c.publishAsync(
      'v1/devices/me/telemetry',
      JSON.stringify({ ts: Date.now() + 9 * 60_000, values: { pm10: 30 } }),
      {
        qos: 1,
      },
    );
    await new Promise((r) => setTimeout(r, 5));
    await c.publishAsync('v1/devices/me/telemetry', '{"pm10":90}', { qos: 1 });
    expect((await t.api('GET', '/api/devices/ahead-1')).body.latest.pm10.value).toBe(90);
    // An old reading (a gateway catching up) does not take latest back.
    await c.publishAsync(
      'v1/devices/me/telemetry',
      JSON.stringify({ ts: Date.now() - 3_600_000, values: { pm10: 10 } }),
      {
        qos: 1,
      },
    );
    expect((await t.api('GET', '/api/devices/ahead-1')).body.latest.pm10.value).toBe(90);
    await c.endAsync();
  });

  it('finding 4: under a flood of bad input the rejected store keeps a sample, the metrics count all', async () => {
    const c = await t.connect(await t.device({ id: 'flood-1', profile: 'air-quality' }));
    const before = await (await fetch(`${t.httpUrl}/metrics`)).text();
    const keptBefore = Number(/gridhub_rejected_not_kept_total (\d+)/.exec(before)?.[1] ?? 0);
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        c.publishAsync('v1/devices/me/telemetry', `{"pm10": oops ${i}`, { qos: 1 }),
      ),
    );
    await Promise.all(
      Array.from({ length: 3 }, () => c.publishAsync('v1/devices/me/telemetry', '{"pm10": -5}', { qos: 1 })),
    );
    await t.hub.parts.ingest.flush();
    const rows = (await t.api('GET', '/api/rejected?deviceId=flood-1&limit=1000')).body.items as {
      code: string;
    }[];
    expect(rows.filter((r) => r.code === 'malformed_json')).toHaveLength(5);
    expect(rows.filter((r) => r.code === 'out_of_range')).toHaveLength(3); // another reason, its own sample
    const after = await (await fetch(`${t.httpUrl}/metrics`)).text();
    expect(Number(/gridhub_rejected_not_kept_total (\d+)/.exec(after)?.[1]) - keptBefore).toBe(95);
    expect(after).toMatch(/gridhub_rejected_messages_total\{reason="malformed_json"\} 1\d\d/);
    await c.endAsync();
  });
});
