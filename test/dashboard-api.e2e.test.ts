// The API the dashboard's newer parts use (issue 11): the case list sorted on the server with paging
// correct across pages, and a device's online history from the connects and disconnects the hub
// recorded. A real store (PostgreSQL 15; the embedded store where PostgreSQL is missing), a real
// broker with MQTT clients over TCP, the manual clock.

import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPresenceLog } from '../store/index.ts';
import { cell } from './support/grids.ts';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';

const T0 = Date.parse('2026-03-03T02:00:00Z'); // Tuesday 10:00 in Asia/Shanghai
const MIN = 60_000;
const GRID_A = '330102001001001';
const GRID_B = '330102001001002';
const URGENCIES = ['low', 'normal', 'urgent'] as const;
const RANK = { low: 0, normal: 1, urgent: 2 } as const;

interface Row {
  id: string;
  urgency: keyof typeof RANK;
  openedAt: string;
  deadline: string | null;
  gridCode: string;
}

describe('dashboard API: server-side sort, online history', () => {
  let t: TestHub;
  let now = T0;
  const tokens: Record<string, string> = {};
  const setClock = async (ms: number) => {
    now = ms;
    expect((await t.api('POST', '/api/clock', { set: new Date(ms).toISOString() })).status).toBe(200);
  };

  beforeAll(async () => {
    t = await startTestHub({ store: 'pg', overrides: { clock: 'manual' } });
    await setClock(T0);
    await t.api('PUT', '/api/grids', {
      type: 'FeatureCollection',
      features: [cell(GRID_A, 120, 30), cell(GRID_B, 120.001, 30)],
    });
    await t.api('PUT', '/api/units/sanitation', { name: '环卫所', categories: ['0102'] });
    for (const u of [
      { id: 'insp-a', role: 'inspector', gridCodes: [GRID_A] },
      { id: 'san', role: 'unit', unitId: 'sanitation' },
      { id: 'watch', role: 'viewer' },
    ]) {
      expect(
        (await t.api('POST', '/api/users', { ...u, name: u.id, password: 'correct horse' })).status,
      ).toBe(201);
      tokens[u.id] = (
        await t.api('POST', '/api/auth/login', { username: u.id, password: 'correct horse' }, null)
      ).body.token;
    }
    // 17 reports, one a minute, urgencies and grids mixed; every third one registered (it gets a
    // deadline), the others keep none — the sort must place them last either way.
    for (let i = 0; i < 17; i++) {
      await setClock(T0 + i * MIN);
      const r = await t.api('POST', '/api/cases', {
        category: '0102',
        description: `report ${i}`,
        gridCode: i % 2 ? GRID_B : GRID_A,
        urgency: URGENCIES[(i * 7) % 3],
      });
      expect(r.status).toBe(201);
      if (i % 3 === 0)
        expect((await t.api('POST', `/api/cases/${r.body.id}/actions`, { action: 'register' })).status).toBe(
          200,
        );
    }
  }, 120_000);
  afterAll(() => t?.stop());

  const all = async (query: string, token?: string) => {
    const out: Row[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: { status: number; body: { items: Row[]; next: string | null } } = await t.api(
        'GET',
        `/api/cases?${query}&limit=4${cursor ? `&cursor=${cursor}` : ''}`,
        undefined,
        token,
      );
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(4);
      out.push(...r.body.items);
      cursor = r.body.next;
      pages++;
    } while (cursor && pages < 20);
    return out;
  };

  it('pages through every sort and direction: each case once, in the order of the sort', async () => {
    const reference: Row[] = (await t.api('GET', '/api/cases?limit=500')).body.items;
    expect(reference).toHaveLength(17);
    expect(reference.filter((c) => c.deadline).length).toBe(6);
    const ms = (s: string | null) => (s ? Date.parse(s) : null);
    const byKey = (key: (c: Row) => number, asc: boolean) => (a: Row, b: Row) => {
      const d = asc ? key(a) - key(b) : key(b) - key(a);
      return d !== 0 ? d : asc ? (a.id < b.id ? -1 : 1) : a.id < b.id ? 1 : -1;
    };
    const keys = {
      opened: () => (c: Row) => ms(c.openedAt)!,
      deadline: (asc: boolean) => (c: Row) => ms(c.deadline) ?? (asc ? 9e15 : -1),
      urgency: () => (c: Row) => RANK[c.urgency] * 1e13 + ms(c.openedAt)!,
    };
    for (const sort of ['opened', 'deadline', 'urgency'] as const)
      for (const order of ['asc', 'desc'] as const) {
        const got = await all(`sort=${sort}&order=${order}`);
        const want = [...reference].sort(byKey(keys[sort](order === 'asc'), order === 'asc'));
        expect(
          got.map((c) => c.id),
          `${sort} ${order}`,
        ).toEqual(want.map((c) => c.id));
      }
    // Cases without a deadline come last both ways.
    const asc = await all('sort=deadline&order=asc');
    const desc = await all('sort=deadline&order=desc');
    expect(asc.slice(-11).every((c) => c.deadline === null)).toBe(true);
    expect(desc.slice(-11).every((c) => c.deadline === null)).toBe(true);
    // Most urgent first by default direction.
    const urgentFirst = await all('sort=urgency');
    expect(urgentFirst[0]?.urgency).toBe('urgent');
    expect(urgentFirst.at(-1)?.urgency).toBe('low');
    // Updated: every case once, newest change first.
    const updated = await all('sort=updated');
    expect(new Set(updated.map((c) => c.id)).size).toBe(17);
  });

  it('a filter and a scope still hold across pages of a sorted list', async () => {
    const mine = await all('sort=deadline&order=asc', tokens['insp-a']);
    expect(mine.length).toBe(9);
    expect(mine.every((c) => c.gridCode === GRID_A)).toBe(true);
    const urgentB = await all(`sort=urgency&gridCode=${GRID_B}&urgency=urgent`);
    expect(urgentB.length).toBeGreaterThan(0);
    expect(urgentB.every((c) => c.gridCode === GRID_B && c.urgency === 'urgent')).toBe(true);
  });

  it('a bad sort, direction or cursor is a 400 naming the parameter', async () => {
    for (const [q, field] of [
      ['sort=priority', 'sort'],
      ['order=up', 'order'],
      [`cursor=${Buffer.from('x|y|z').toString('base64url')}`, 'cursor'],
      [`cursor=${Buffer.from('123456789012345678|c1').toString('base64url')}`, 'cursor'],
    ]) {
      const r = await t.api('GET', `/api/cases?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.message, q).toContain(field);
    }
    // A cursor at the edge of its form (17 digits, negative) is accepted.
    for (const c of ['99999999999999999|zz', '-1|a'])
      expect((await t.api('GET', `/api/cases?cursor=${Buffer.from(c).toString('base64url')}`)).status).toBe(
        200,
      );
  });

  it('records connects and disconnects and serves them as periods, scoped like the device', async () => {
    await setClock(T0 + 60 * MIN);
    const token = await t.device({
      id: 'bin-p1',
      profile: 'waste-container',
      location: { lng: 120.0005, lat: 30.0005 },
    });
    const c1 = await t.connect(token);
    await eventually(async () => (await t.api('GET', '/api/devices/bin-p1')).body.status === 'online');
    await setClock(T0 + 70 * MIN);
    await c1.endAsync();
    await eventually(async () => (await t.api('GET', '/api/devices/bin-p1')).body.status === 'offline');
    await setClock(T0 + 80 * MIN);
    const c2 = await t.connect(token);
    await eventually(async () => (await t.api('GET', '/api/devices/bin-p1')).body.status === 'online');
    await setClock(T0 + 90 * MIN);
    const from = new Date(T0 + 30 * MIN).toISOString();
    const periods = await eventually(async () => {
      const r = await t.api('GET', `/api/devices/bin-p1/presence?from=${from}`);
      expect(r.status).toBe(200);
      return r.body.items.length === 3 ? r.body : undefined;
    });
    expect(periods.status).toBe('online');
    expect(periods.items).toEqual([
      {
        from: new Date(T0 + 60 * MIN).toISOString(),
        to: new Date(T0 + 70 * MIN).toISOString(),
        online: true,
      },
      {
        from: new Date(T0 + 70 * MIN).toISOString(),
        to: new Date(T0 + 80 * MIN).toISOString(),
        online: false,
      },
      {
        from: new Date(T0 + 80 * MIN).toISOString(),
        to: new Date(T0 + 90 * MIN).toISOString(),
        online: true,
      },
    ]);
    // A window that opens mid-period starts with the state it opened in.
    const mid = await t.api(
      'GET',
      `/api/devices/bin-p1/presence?from=${new Date(T0 + 75 * MIN).toISOString()}&to=${new Date(T0 + 85 * MIN).toISOString()}`,
    );
    expect(mid.body.items).toEqual([
      {
        from: new Date(T0 + 75 * MIN).toISOString(),
        to: new Date(T0 + 80 * MIN).toISOString(),
        online: false,
      },
      {
        from: new Date(T0 + 80 * MIN).toISOString(),
        to: new Date(T0 + 85 * MIN).toISOString(),
        online: true,
      },
    ]);
    // (Sessions idle out by the hub's clock, which moved on: sign in again.)
    for (const u of ['insp-a', 'san', 'watch'])
      tokens[u] = (
        await t.api('POST', '/api/auth/login', { username: u, password: 'correct horse' }, null)
      ).body.token;
    // Who may read it: signed-in users who see the device; the inspector of its grid yes, a unit
    // without cases on it no (404, as if it did not exist); nobody without credentials.
    expect((await t.api('GET', '/api/devices/bin-p1/presence', undefined, tokens['insp-a'])).status).toBe(
      200,
    );
    expect((await t.api('GET', '/api/devices/bin-p1/presence', undefined, tokens.watch)).status).toBe(200);
    expect((await t.api('GET', '/api/devices/bin-p1/presence', undefined, tokens.san)).status).toBe(404);
    expect((await t.api('GET', '/api/devices/bin-p1/presence', undefined, null)).status).toBe(401);
    expect((await t.api('GET', '/api/devices/nobody/presence')).status).toBe(404);
    // Ranges at their edge: 31 days is fine, a minute more is a 400 naming from; from after to too.
    const q = (a: number, b: number) =>
      t.api(
        'GET',
        `/api/devices/bin-p1/presence?from=${new Date(a).toISOString()}&to=${new Date(b).toISOString()}`,
      );
    expect((await q(now - 31 * 1440 * MIN, now)).status).toBe(200);
    const tooLong = await q(now - 31 * 1440 * MIN - MIN, now);
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toContain('from');
    expect((await q(now, now - MIN)).status).toBe(400);
    await c2.endAsync();
  });

  it('a restart closes the periods the hub could not record as ended', async () => {
    const token = await t.device({
      id: 'bin-p2',
      profile: 'waste-container',
      location: { lng: 120.0005, lat: 30.0005 },
    });
    await setClock(T0 + 100 * MIN);
    await t.connect(token);
    await eventually(async () => (await t.api('GET', '/api/devices/bin-p2')).body.status === 'online');
    await setClock(T0 + 105 * MIN);
    // As after a crash: the last recorded change says online. The start step of the next hub's
    // presence log (run here on the same store) writes the offline change at its start time.
    await eventually(async () => {
      const r = await t.api(
        'GET',
        `/api/devices/bin-p2/presence?from=${new Date(T0 + 99 * MIN).toISOString()}`,
      );
      return r.body.items.length === 1 ? true : undefined;
    });
    const log = createPresenceLog({
      db: t.hub.parts.store.db,
      logger: pino({ level: 'silent' }),
      now: () => T0 + 110 * MIN,
    });
    await log.start();
    await setClock(T0 + 120 * MIN);
    const r = await t.api(
      'GET',
      `/api/devices/bin-p2/presence?from=${new Date(T0 + 99 * MIN).toISOString()}`,
    );
    expect(r.body.items.slice(0, 2)).toEqual([
      {
        from: new Date(T0 + 100 * MIN).toISOString(),
        to: new Date(T0 + 110 * MIN).toISOString(),
        online: true,
      },
      {
        from: new Date(T0 + 110 * MIN).toISOString(),
        to: new Date(T0 + 120 * MIN).toISOString(),
        online: false,
      },
    ]);
  });
});
