// Finding 1 of issue 8: one message from any device stopped the whole hub. Real broker over TCP,
// real stores (embedded PGlite and a throwaway PostgreSQL 15): a poison message is rejected with a
// reason, every other device keeps being acknowledged, and a batch the store refuses is split
// until the refused readings are found.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type StoreKind, startTestHub, type TestHub } from './support/hub.ts';

describe.each<StoreKind>(['pglite', 'pg'])('poison messages on %s', (store) => {
  let t: TestHub;
  let genericToken: string;
  let dustToken: string;

  beforeAll(async () => {
    t = await startTestHub({ store, overrides: { ingest: { flushIntervalMs: 20 } } });
    genericToken = await t.device({ id: 'poison-gen', profile: 'generic' });
    dustToken = await t.device({ id: 'poison-dust', profile: 'air-quality' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const rejected = async (id: string) =>
    (await t.api('GET', `/api/rejected?deviceId=${id}&limit=1000`)).body.items as {
      code: string;
      reason: string;
      payload: string;
    }[];
  const count = async (sql: string, params: unknown[]) =>
    Number((await t.hub.parts.store.db.query<{ n: string | number }>(sql, params))[0]!.n);

  it('a NUL in a string value is refused at validation; the other keys and every other device go on', async () => {
    const bad = await t.connect(genericToken);
    const good = await t.connect(dustToken);
    await bad.publishAsync('v1/devices/me/telemetry', '{"state":"a\\u0000b","mode":"eco","n":7}', { qos: 1 });
    await good.publishAsync('v1/devices/me/telemetry', '{"pm10":42}', { qos: 1 });
    await bad.publishAsync('v1/devices/me/telemetry', '{"n":8}', { qos: 1 });
    expect(await count('SELECT count(*) AS n FROM telemetry WHERE device_id = $1', ['poison-gen'])).toBe(2);
    expect(
      await count('SELECT count(*) AS n FROM telemetry_values WHERE device_id = $1', ['poison-gen']),
    ).toBe(1);
    const r = (await rejected('poison-gen')).find((x) => x.code === 'bad_text');
    expect(r?.reason).toBe('state: contains U+0000 (NUL), which the store cannot hold');
    expect(t.hub.parts.ingest.stats().retrying).toBe(0);
    expect((await t.api('GET', '/api/health')).body.status).toBe('ok');
  });

  it('the bytes ab\\x00cd are refused as JSON and their copy in the rejected store holds no NUL', async () => {
    const bad = await t.connect(genericToken);
    await bad.publishAsync('v1/devices/me/telemetry', Buffer.from([0x61, 0x62, 0x00, 0x63, 0x64]), {
      qos: 1,
    });
    // A key with a lone surrogate (as escaped JSON) quoted in a reason, too.
    await bad.publishAsync('v1/devices/me/telemetry', '{"\\ud800":1}', { qos: 1 });
    const good = await t.connect(dustToken);
    await good.publishAsync('v1/devices/me/telemetry', '{"pm10":43}', { qos: 1 });
    const rows = await rejected('poison-gen');
    const copy = rows.find((x) => x.code === 'malformed_json');
    expect(copy?.payload).toBe('ab\\u0000cd');
    expect(rows.find((x) => x.code === 'bad_text' && /surrogate/.test(x.reason))).toBeTruthy();
  });

  it('{"ts":1e20,...} is rejected with a reason and the hub goes on', async () => {
    const c = await t.connect(dustToken);
    await c.publishAsync('v1/devices/me/telemetry', '{"ts":1e20,"values":{"pm10":5}}', { qos: 1 });
    await c.publishAsync('v1/devices/me/telemetry', '{"ts":-1e20,"values":{"pm10":5}}', { qos: 1 });
    await c.publishAsync('v1/devices/me/telemetry', '{"pm10":44}', { qos: 1 });
    const rows = await rejected('poison-dust');
    expect(rows.map((r) => r.code).sort()).toEqual(['ts_future', 'ts_past']);
    expect(rows.find((r) => r.code === 'ts_future')?.reason).toMatch(/100000000000000000000 ms is .* ahead/);
    expect(await count('SELECT count(*) AS n FROM telemetry WHERE device_id = $1', ['poison-dust'])).toBe(3);
  });

  it('a batch the store refuses in part is split: refused readings rejected with the store reason, the rest written', async () => {
    // The store refuses some readings for a reason retrying cannot cure (a CHECK constraint,
    // SQLSTATE 23514), as it did for NUL before validation knew about it.
    await t.hub.parts.store.db.exec(
      'ALTER TABLE telemetry ADD CONSTRAINT poison_test_no_666 CHECK (value <> 666)',
    );
    try {
      const tokens = await Promise.all(
        [1, 2, 3].map((i) => t.device({ id: `split-${i}`, profile: 'generic' })),
      );
      const clients = await Promise.all(tokens.map((tok) => t.connect(tok)));
      const base = Date.now() - 600_000;
      // 3 devices × 200 readings, 3 of them refused, in QoS 1 and QoS 0 messages that share batches.
      await Promise.all(
        clients.map(async (c, d) => {
          const sends: Promise<unknown>[] = [];
          for (let m = 0; m < 10; m++) {
            const records = Array.from({ length: 20 }, (_, i) => {
              const k = m * 20 + i;
              return { ts: base + k * 1000, values: { v: k === 57 + d * 50 ? 666 : k } };
            });
            const payload = JSON.stringify(records);
            if (m % 2) sends.push(c.publishAsync('v1/devices/me/telemetry', payload, { qos: 1 }));
            else c.publish('v1/devices/me/telemetry', payload, { qos: 0 });
          }
          await Promise.all(sends);
        }),
      );
      await eventually(
        async () =>
          (await count(`SELECT count(*) AS n FROM telemetry WHERE device_id LIKE 'split-%'`, [])) === 597,
      );
      const refused = await t.hub.parts.store.db.query<{
        device_id: string;
        reason: string;
        payload: string;
      }>(
        `SELECT device_id, reason, payload FROM rejected_messages WHERE code = 'store_refused' ORDER BY device_id`,
      );
      expect(refused.map((r) => r.device_id)).toEqual(['split-1', 'split-2', 'split-3']);
      expect(refused[0]!.reason).toMatch(
        /the store refused telemetry v at .*poison_test_no_666.*SQLSTATE 23514/,
      );
      expect(refused[0]!.payload).toBe('666');
      expect(t.hub.parts.ingest.stats().retrying).toBe(0);
      const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/gridhub_rejected_readings_total\{reason="store_refused"\} 3/);
      expect(metrics).toMatch(/gridhub_flush_splits_total [1-9]/);
    } finally {
      await t.hub.parts.store.db.exec('ALTER TABLE telemetry DROP CONSTRAINT poison_test_no_666');
    }
  });
});
