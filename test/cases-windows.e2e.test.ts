// A sensor case keeps the windows of the rule that opened it (issue 10): the anomaly carries them,
// the case stores them, and the case service runs its own timer on the hub clock — so the rules
// engine is never asked. Real store (PostgreSQL 15; embedded where PostgreSQL is missing), MQTT.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManualClock } from '../kernel/index.ts';
import { cell } from './support/grids.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';

// Tuesday 2026-03-03 10:00 in Asia/Shanghai (UTC+8).
const T0 = Date.parse('2026-03-03T02:00:00Z');
const MIN = 60_000;
const GRID = '330102001001001';
const IN_GRID = { lng: 120.0005, lat: 30.0005 };

const quickRule = (id: string, verifyAfter: string, relapseWindow: string) => ({
  id,
  name: `PM10 over 200 (${id})`,
  appliesTo: { profile: 'air-quality', deviceIds: [`dust-${id}`] },
  category: '0303',
  urgency: 'urgent',
  condition: { kind: 'threshold', key: 'pm10', op: '>', value: 200 },
  verifyAfter,
  relapseWindow,
});

async function openCaseOf(t: TestHub, ruleId: string, at: number) {
  expect((await t.api('POST', '/api/rules', quickRule(ruleId, '2m', '2h'))).status).toBe(201);
  const c = await t.connect(
    await t.device({ id: `dust-${ruleId}`, profile: 'air-quality', location: IN_GRID }),
  );
  const send = async (pm10: number, ts: number) => {
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ ts, values: { pm10 } }), { qos: 1 });
    await t.hub.parts.rules.idle();
  };
  await send(260, at);
  const [found] = (await t.api('GET', `/api/cases?ruleId=${ruleId}`)).body.items;
  expect(found).toMatchObject({ source: 'sensor', deviceId: `dust-${ruleId}` });
  return { id: found.id as string, send, client: c };
}

describe('sensor cases keep their rule windows', () => {
  let t: TestHub;
  beforeAll(async () => {
    // The case timer's interval is out of reach: only a clock move can run it in this test.
    t = await startTestHub({
      store: 'pg',
      overrides: { clock: 'manual' },
      deps: { cases: { tickIntervalMs: 3_600_000 } },
    });
    await t.api('POST', '/api/clock', { set: new Date(T0).toISOString() });
    await t.api('PUT', '/api/grids', { type: 'FeatureCollection', features: [cell(GRID, 120, 30)] });
    await t.api('PUT', '/api/units/env', { name: '环保所', categories: ['0303'] });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("verifies on the case's own window after its rule is deleted, on a manual clock move alone", async () => {
    const { id, send, client } = await openCaseOf(t, 'dust-quick', T0);
    for (const [action, extra] of [
      ['dispatch', { assignee: 'env' }],
      ['start', {}],
      ['handle', {}],
    ] as const) {
      const r = await t.api('POST', `/api/cases/${id}/actions`, { action, ...extra });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    await t.api('POST', '/api/clock', { set: new Date(T0 + MIN).toISOString() });
    await send(40, T0 + MIN); // the condition clears
    // The rule goes: nothing is left to ask for its windows; the case has them.
    expect((await t.api('DELETE', '/api/rules/dust-quick')).status).toBe(204);
    await t.api('POST', '/api/clock', { set: new Date(T0 + 2 * MIN).toISOString() });
    expect((await t.api('GET', `/api/cases/${id}`)).body.status).toBe('handled'); // 1 min < 2m
    // Moved without the API: the case service's clock listener alone runs the verification, at the
    // rule's 2 minutes (the default would be 15).
    (t.hub.clock as ManualClock).advance(MIN + 1000);
    const c = await eventually(async () => {
      const body = (await t.api('GET', `/api/cases/${id}`)).body;
      return body.status === 'verified' ? body : undefined;
    });
    expect(c.timeline.at(-1)).toMatchObject({ action: 'verify', actor: 'sensor', role: 'system' });
    await client.endAsync();
  });

  it('the live event of an action names who acts next (the workflow effects, run by the shell)', async () => {
    const { id, client } = await openCaseOf(t, 'dust-notify', T0 + 3 * MIN);
    const events: any[] = [];
    const off = t.hub.events.subscribe((e) => events.push(e));
    try {
      await t.api('POST', `/api/cases/${id}/actions`, { action: 'dispatch', assignee: 'env' });
      await t.api('POST', `/api/cases/${id}/actions`, { action: 'escalate' });
    } finally {
      off();
    }
    expect(events).toEqual([
      expect.objectContaining({
        type: 'case',
        action: 'dispatch',
        caseId: id,
        notify: [{ audience: 'unit', unitId: 'env' }],
      }),
      expect.objectContaining({
        type: 'case',
        action: 'escalate',
        caseId: id,
        level: 'community',
        areaCode: GRID.slice(0, 12),
      }),
    ]);
    expect(events[1].notify).toBeUndefined();
    await client.endAsync();
  });
});

describe('upgrading a store whose cases predate the stored windows (migration 1010)', () => {
  it("fills each open sensor case's windows from its rule; a case whose rule is gone reads the defaults", async () => {
    let t = await startTestHub({ store: 'pg', overrides: { clock: 'manual' } });
    const { dataDir } = t;
    const databaseUrl = t.hub.config.databaseUrl;
    try {
      await t.api('POST', '/api/clock', { set: new Date(T0).toISOString() });
      await t.api('PUT', '/api/grids', { type: 'FeatureCollection', features: [cell(GRID, 120, 30)] });
      const kept = await openCaseOf(t, 'dust-kept', T0);
      const gone = await openCaseOf(t, 'dust-gone', T0);
      await kept.client.endAsync();
      await gone.client.endAsync();
      expect((await t.api('DELETE', '/api/rules/dust-gone')).status).toBe(204);
      // The store as it was before migration 1010.
      const db = t.hub.parts.store.db;
      await db.query('ALTER TABLE cases DROP COLUMN verify_after_ms, DROP COLUMN relapse_window_ms');
      await db.query('DELETE FROM schema_migrations WHERE version = 1010');
      await t.stop({ keepData: true });

      t = await startTestHub({ store: 'pg', dataDir, databaseUrl, overrides: { clock: 'manual' } });
      const rows = await t.hub.parts.store.db.query<{
        id: string;
        verify_after_ms: string | null;
        relapse_window_ms: string | null;
      }>('SELECT id, verify_after_ms, relapse_window_ms FROM cases WHERE id = ANY($1::text[])', [
        [kept.id, gone.id],
      ]);
      const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
      expect(byId[kept.id]).toMatchObject({ verify_after_ms: '120000', relapse_window_ms: '7200000' });
      expect(byId[gone.id]).toMatchObject({ verify_after_ms: null, relapse_window_ms: null });
    } finally {
      await t.stop();
    }
  });
});
