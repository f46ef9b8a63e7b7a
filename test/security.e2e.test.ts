// HTTP access control (issue 7) against a real hub: real PostgreSQL (the embedded store where it
// is missing), the manual clock, raw HTTP requests whose targets go on the wire as written.
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cell } from './support/grids.ts';
import { percentEncoded, rawRequest } from './support/http.ts';
import { ADMIN_TOKEN, startTestHub, type TestHub } from './support/hub.ts';

const T0 = Date.parse('2026-03-03T02:00:00Z');
const GRID_A = '330102001001001';
const GRID_B = '330102001001002';
const IN_A = { lng: 120.0005, lat: 30.0005 };
const IN_B = { lng: 120.0015, lat: 30.0005 };
const PASSWORD = 'correct horse battery';
type Access = { kind: 'public' | 'optional' } | { kind: 'roles'; roles: string[] };

const USERS = [
  { id: 'boss', role: 'admin' },
  { id: 'op1', role: 'operator' },
  { id: 'disp1', role: 'dispatcher' },
  { id: 'san1', role: 'unit', unitId: 'sanitation' },
  { id: 'park1', role: 'unit', unitId: 'parks' },
  { id: 'insp1', role: 'inspector', gridCodes: [GRID_A] },
  { id: 'view1', role: 'viewer' },
];

describe('HTTP access control', () => {
  let t: TestHub;
  const tokens: Record<string, string> = {};
  let sanCase: string;
  let parksCase: string;
  let bin: MqttClient;

  const as = (who: string | null) => (who === null ? null : who === 'token' ? ADMIN_TOKEN : tokens[who]!);
  const api = (method: string, path: string, body: unknown, who: string | null) =>
    t.api(method, path, body, as(who));
  const login = async (username: string, password = PASSWORD) =>
    t.api('POST', '/api/auth/login', { username, password }, null);

  beforeAll(async () => {
    t = await startTestHub({
      store: 'pg',
      overrides: { clock: 'manual', security: { maxEventClients: 50 } },
      // The backtest's row bound, low enough to reach its edge here.
      deps: { rules: { backtestMaxRows: 3 } },
    });
    await t.api('POST', '/api/clock', { set: new Date(T0).toISOString() });
    await t.api('PUT', '/api/grids', {
      type: 'FeatureCollection',
      features: [cell(GRID_A, 120, 30), cell(GRID_B, 120.001, 30)],
    });
    await t.api('PUT', '/api/units/sanitation', { name: '环卫所', categories: ['0102', '0101'] });
    await t.api('PUT', '/api/units/parks', { name: '园林所', categories: [] });
    for (const u of USERS) {
      expect((await t.api('POST', '/api/users', { ...u, name: u.id, password: PASSWORD })).status).toBe(201);
      tokens[u.id] = (await login(u.id)).body.token;
    }
    // A sensor case in grid A dispatched to sanitation; a reported case in grid B to parks.
    bin = await t.connect(await t.device({ id: 'bin-a', profile: 'waste-container', location: IN_A }));
    await t.device({ id: 'bin-b', profile: 'waste-container', location: IN_B });
    await bin.publishAsync(
      'v1/devices/me/telemetry',
      JSON.stringify({ ts: T0, values: { fillingLevel: 0.9 } }),
      {
        qos: 1,
      },
    );
    await t.hub.parts.rules.idle();
    sanCase = (await t.api('GET', '/api/cases?deviceId=bin-a')).body.items[0].id;
    expect(
      (
        await api(
          'POST',
          `/api/cases/${sanCase}/actions`,
          { action: 'dispatch', assignee: 'sanitation' },
          'disp1',
        )
      ).body.status,
    ).toBe('dispatched');
    const r = await api(
      'POST',
      '/api/cases',
      { category: '0101', description: '垃圾', gridCode: GRID_B },
      'op1',
    );
    expect(r.status).toBe(201);
    parksCase = r.body.id;
    await api('POST', `/api/cases/${parksCase}/actions`, { action: 'register' }, 'op1');
    await api('POST', `/api/cases/${parksCase}/actions`, { action: 'dispatch', assignee: 'parks' }, 'disp1');
  });
  afterAll(async () => {
    await t?.stop();
  });

  describe('the route table the server registered', () => {
    const routes = () =>
      t.hub.parts.web.routeTable.filter((r) => r.method !== 'HEAD') as {
        method: string;
        url: string;
        access: Access;
      }[];
    const pathOf = (url: string) =>
      url.replace(/:id/g, 'no-such-thing').replace(/:code/g, GRID_A).replace(/\*$/, 'x').replace(/^x$/, '/x');
    const send = async (method: string, target: string, token: string | null) =>
      rawRequest(t.httpUrl, method, target, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        body: ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) ? '{}' : undefined,
      });

    it('every route declares its access, and there are routes of every kind', () => {
      const table = routes();
      expect(table.length).toBeGreaterThan(35);
      for (const r of table)
        expect(['public', 'optional', 'roles'], `${r.method} ${r.url}`).toContain(r.access?.kind);
      expect(table.filter((r) => r.access.kind === 'public').map((r) => `${r.method} ${r.url}`)).toEqual(
        expect.arrayContaining(['POST /api/auth/login', 'GET /metrics', 'GET /mqtt']),
      );
    });

    it('no credentials → 401 on every route that is not public; nothing answers 5xx', async () => {
      for (const r of routes()) {
        const a = await send(r.method, pathOf(r.url), null);
        const where = `${r.method} ${r.url} → ${a.status}`;
        expect(a.status, where).toBeLessThan(500);
        if (r.access.kind === 'roles') expect(a.status, where).toBe(401);
        else expect(a.status, where).not.toBe(401);
      }
    });

    it('percent-encoded and absolute-form targets get the same answer as the plain path (anonymous and viewer)', async () => {
      const host = new URL(t.httpUrl).host;
      for (const who of [null, 'view1']) {
        for (const r of routes()) {
          if (r.url === '/api/auth/logout') continue;
          const path = pathOf(r.url);
          const plain = await send(r.method, path, as(who));
          const encoded = await send(r.method, percentEncoded(path), as(who));
          const absolute = await send(r.method, `http://${host}${path}`, as(who));
          const where = `${who ?? 'anonymous'} ${r.method} ${path}`;
          expect(encoded.status, `${where} (encoded)`).toBe(plain.status);
          expect(absolute.status, `${where} (absolute-form)`).toBe(plain.status);
        }
      }
    });

    it('each role gets 403 exactly where the role matrix says no', async () => {
      for (const u of [...USERS, { id: 'token', role: 'admin' }]) {
        for (const r of routes()) {
          let token = as(u.id);
          // Signing out ends the session: use a fresh one for that route.
          if (r.url === '/api/auth/logout' && u.id !== 'token') token = (await login(u.id)).body.token;
          const a = await send(r.method, pathOf(r.url), token);
          const where = `${u.id} (${u.role}) ${r.method} ${r.url} → ${a.status} ${JSON.stringify(a.body)?.slice(0, 200)}`;
          expect(a.status, where).toBeLessThan(500);
          expect(a.status, where).not.toBe(401);
          const allowed = r.access.kind !== 'roles' || r.access.roles.includes(u.role);
          if (allowed) expect(a.status, where).not.toBe(403);
          else expect(a.status, where).toBe(403);
        }
      }
    });

    it('the declarations follow the role matrix of contract.md', () => {
      const roles = (method: string, url: string) => {
        const r = routes().find((x) => x.method === method && x.url === url);
        if (!r) throw new Error(`no route ${method} ${url}`);
        return r.access.kind === 'roles' ? [...r.access.roles].sort() : r.access.kind;
      };
      const all = ['admin', 'dispatcher', 'inspector', 'operator', 'unit', 'viewer'];
      for (const [m, u] of [
        ['GET', '/api/grids'],
        ['GET', '/api/grids/:code'],
        ['GET', '/api/devices'],
        ['GET', '/api/devices/:id'],
        ['GET', '/api/devices/:id/series'],
        ['GET', '/api/grids/:code/series'],
        ['GET', '/api/cases'],
        ['GET', '/api/cases/:id'],
        ['GET', '/api/kpis'],
        ['GET', '/api/events'],
        // The dashboard (issue 11): the overview's figures and polygons, evidence photos (scoped by
        // the case), and the names every case page shows (categories, units, calendar).
        ['GET', '/api/cases/summary'],
        ['GET', '/api/grids/features'],
        ['GET', '/api/media/:id'],
        ['GET', '/api/reference'],
        // A device's online history (issue 11): read like the device.
        ['GET', '/api/devices/:id/presence'],
      ])
        expect(roles(m!, u!), `${m} ${u}`).toEqual(all);
      expect(roles('POST', '/api/media')).toEqual(['admin', 'dispatcher', 'inspector', 'operator']);
      expect(roles('POST', '/api/cases/:id/actions')).toEqual([
        'admin',
        'dispatcher',
        'inspector',
        'operator',
        'unit',
      ]);
      expect(roles('POST', '/api/cases')).toEqual(['admin', 'dispatcher', 'inspector', 'operator']);
      expect(roles('GET', '/api/rules')).toEqual(['admin', 'dispatcher', 'operator', 'viewer']);
      for (const [m, u] of [
        ['POST', '/api/rules'],
        ['PUT', '/api/rules/:id'],
        ['DELETE', '/api/rules/:id'],
        ['POST', '/api/rules/:id/backtest'],
        // A device's limits at the MQTT edge and its breach counts (issue 9).
        ['GET', '/api/devices/:id/limits'],
      ])
        expect(roles(m!, u!), `${m} ${u}`).toEqual(['admin', 'operator']);
      for (const [m, u] of [
        ['POST', '/api/devices'],
        ['PATCH', '/api/devices/:id'],
        ['DELETE', '/api/devices/:id'],
        ['POST', '/api/devices/:id/token'],
        ['DELETE', '/api/devices/:id/token'],
        ['PUT', '/api/devices/:id/attributes'],
        ['POST', '/api/devices/:id/rpc'],
        ['GET', '/api/devices/:id/rpc'],
        ['GET', '/api/devices/:id/rpc/:rpcId'],
        ['PUT', '/api/grids'],
        ['GET', '/api/users'],
        ['POST', '/api/users'],
        ['GET', '/api/units'],
        ['PUT', '/api/units/:id'],
        ['GET', '/api/categories'],
        ['GET', '/api/calendar'],
        ['PUT', '/api/calendar'],
        ['POST', '/api/clock'],
        ['GET', '/api/audit'],
        ['GET', '/api/rejected'],
        ['GET', '/docs/json'],
      ])
        expect(roles(m!, u!), `${m} ${u}`).toEqual(['admin']);
    });
  });

  describe('regressions of the findings', () => {
    it('finding 1: %61pi and absolute-form targets do not skip the token check', async () => {
      const host = new URL(t.httpUrl).host;
      expect((await rawRequest(t.httpUrl, 'GET', '/%61pi/devices')).status).toBe(401);
      const created = await rawRequest(t.httpUrl, 'POST', '/%61pi/devices', {
        body: JSON.stringify({ id: 'evil-1', profile: 'generic' }),
      });
      expect(created.status).toBe(401);
      expect(JSON.stringify(created.body)).not.toContain('accessToken');
      expect((await t.api('GET', '/api/devices/evil-1')).status).toBe(404);
      const rotated = await rawRequest(t.httpUrl, 'POST', `http://${host}/api/devices/bin-a/token`);
      expect(rotated.status).toBe(401);
      expect((await rawRequest(t.httpUrl, 'GET', `http://x/%61pi/events`)).status).toBe(401);
    });

    it('request timings in /metrics are labelled by route template (no id, query or unknown path becomes a label), store waits by lane', async () => {
      expect((await t.api('GET', '/api/devices/bin-a?probe=label-from-query')).status).toBe(200);
      expect((await rawRequest(t.httpUrl, 'GET', '/%61pi/label-from-path')).status).toBe(404);
      expect((await rawRequest(t.httpUrl, 'GET', '/api/label-from-unknown-path')).status).toBe(404);
      const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
      const count = (route: string) =>
        Number(
          new RegExp(
            `^gridhub_http_request_duration_seconds_count\\{method="GET",route="${route.replace(/[/:]/g, '\\$&')}"\\} (\\d+)$`,
            'm',
          ).exec(text)?.[1] ?? 0,
        );
      expect(count('/api/devices/:id')).toBeGreaterThanOrEqual(1);
      expect(count('none')).toBeGreaterThanOrEqual(1);
      // The store's waits by lane: the API read it, ingest wrote the bin's readings.
      for (const lane of ['read', 'write'])
        expect(
          Number(
            new RegExp(`^gridhub_store_call_seconds_count\\{lane="${lane}"\\} (\\d+)$`, 'm').exec(
              text,
            )?.[1] ?? 0,
          ),
          lane,
        ).toBeGreaterThanOrEqual(1);
      for (const leak of ['bin-a', 'label-from-query', 'label-from-path', 'label-from-unknown-path'])
        expect(text).not.toContain(leak);
    });

    it('finding 2: a viewer cannot change devices, grids or rules; a unit cannot switch off a monitor', async () => {
      const v = 'view1';
      expect((await api('POST', '/api/devices/bin-a/token', undefined, v)).status).toBe(403);
      expect((await api('DELETE', '/api/devices/bin-a', undefined, v)).status).toBe(403);
      expect(
        (await api('PUT', '/api/devices/bin-a/attributes', { server: { pm10Limit: 1e9 } }, v)).status,
      ).toBe(403);
      expect(
        (await api('POST', '/api/devices', { id: 'gw-evil', profile: 'generic', gateway: true }, v)).status,
      ).toBe(403);
      expect((await api('PUT', '/api/grids', { type: 'FeatureCollection', features: [] }, v)).status).toBe(
        403,
      );
      expect((await api('POST', '/api/rules/bin-full/backtest?from=0&to=1000', undefined, v)).status).toBe(
        403,
      );
      for (const call of [
        ['DELETE', '/api/devices/bin-a/token'],
        ['DELETE', '/api/devices/bin-a'],
        ['PUT', '/api/devices/bin-a/attributes'],
      ] as const) {
        expect(
          (await api(call[0], call[1], call[0] === 'PUT' ? { server: { off: true } } : undefined, 'san1'))
            .status,
        ).toBe(403);
      }
      // Still there, with its token working.
      expect((await t.api('GET', '/api/devices/bin-a')).status).toBe(200);
      expect(bin.connected).toBe(true);
    });

    it('finding 3: unknown users cost the same work; sign-in is throttled (429, Retry-After) and works after the wait; logout ends the session; expired sessions are purged', async () => {
      await t.api('POST', '/api/users', { id: 'victim', name: 'victim', role: 'viewer', password: PASSWORD });
      const timed = async (username: string) => {
        const s = performance.now();
        expect((await login(username, 'wrong password!')).status).toBe(401);
        return performance.now() - s;
      };
      const unknown = await timed('nobody-at-all');
      const known = await timed('victim');
      // Both run the full KDF (N=2^17, ~0.4 s here); the old code answered unknown users in 2 ms.
      expect(unknown).toBeGreaterThan(known / 4);
      expect(unknown).toBeGreaterThan(50);
      for (let i = 0; i < 4; i++) expect((await login('victim', 'wrong password!')).status).toBe(401);
      // Five failures: the sixth attempt waits, even with the right password.
      const locked = await rawRequest(t.httpUrl, 'POST', '/api/auth/login', {
        body: JSON.stringify({ username: 'victim', password: PASSWORD }),
      });
      expect(locked.status).toBe(429);
      expect(locked.body.error.code).toBe('GRIDHUB_ERR_TOO_MANY_ATTEMPTS');
      const seconds = Number(locked.headers['retry-after']);
      expect(seconds).toBeGreaterThan(0);
      expect((await login('victim')).status).toBe(429);
      await t.api('POST', '/api/clock', { advance: `${seconds + 1}s` });
      const ok = await login('victim');
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({
        token: expect.any(String),
        expiresAt: expect.any(String),
        user: { id: 'victim', role: 'viewer' },
      });
      // Logout ends it.
      expect((await t.api('GET', '/api/me', undefined, ok.body.token)).status).toBe(200);
      expect((await t.api('POST', '/api/auth/logout', undefined, ok.body.token)).status).toBe(204);
      expect((await t.api('GET', '/api/me', undefined, ok.body.token)).status).toBe(401);
      // Idle expiry on the hub's clock, and the purge removes the stored session.
      const idle = (await login('victim')).body.token;
      const before = t.hub.parts.people.sessionCount();
      await t.api('POST', '/api/clock', { advance: '31m' });
      await new Promise((r) => setTimeout(r, 300));
      expect(t.hub.parts.people.sessionCount()).toBeLessThan(before);
      expect((await t.api('GET', '/api/me', undefined, idle)).status).toBe(401);
      // Every other session was idle too: sign everyone in again for the tests that follow.
      for (const u of USERS) tokens[u.id] = (await login(u.id)).body.token;
    });

    it('finding 5: series ranges and points are capped; backtests are bounded', async () => {
      const day = 86_400_000;
      const raw = await t.api(
        'GET',
        `/api/devices/bin-a/series?key=fillingLevel&from=${T0 - 40 * day}&to=${T0}`,
      );
      expect(raw.status).toBe(400);
      expect(raw.body.error.message).toMatch(/31 days/);
      const edge = await t.api(
        'GET',
        `/api/devices/bin-a/series?key=fillingLevel&from=${T0 - 31 * day}&to=${T0}`,
      );
      expect(edge.status).toBe(200);
      expect(
        (
          await t.api(
            'GET',
            `/api/devices/bin-a/series?key=fillingLevel&from=${T0 - 40 * day}&to=${T0}&bucket=1d`,
          )
        ).status,
      ).toBe(200);
      expect((await t.api('GET', `/api/devices/bin-a/series?key=fillingLevel&limit=10001`)).status).toBe(400);
      expect((await t.api('GET', `/api/devices/bin-a/series?key=fillingLevel&limit=10000`)).status).toBe(200);
      const long = await api(
        'POST',
        `/api/rules/bin-full/backtest?from=${T0 - 40 * day}&to=${T0}`,
        undefined,
        'op1',
      );
      expect(long.status).toBe(400);
      expect(
        (await api('POST', `/api/rules/bin-full/backtest?from=${T0 - day}&to=${T0 + day}`, undefined, 'op1'))
          .status,
      ).toBe(200);
      expect(
        (await api('POST', `/api/rules/bin-full/backtest?from=${T0 - day}&to=${T0}`, undefined, 'disp1'))
          .status,
      ).toBe(403);
      // The row bound: 3 readings replay, a 4th makes it too large (400 naming the bound).
      const publish = (ts: number, v: number) =>
        bin.publishAsync('v1/devices/me/telemetry', JSON.stringify({ ts, values: { fillingLevel: v } }), {
          qos: 1,
        });
      await publish(T0 + 1000, 0.5);
      await publish(T0 + 2000, 0.95);
      await t.hub.parts.rules.idle();
      const window = `from=${T0 - day}&to=${T0 + day}`;
      expect((await api('POST', `/api/rules/bin-full/backtest?${window}`, undefined, 'op1')).status).toBe(
        200,
      );
      await publish(T0 + 3000, 0.9);
      await t.hub.parts.rules.idle();
      const tooLarge = await api('POST', `/api/rules/bin-full/backtest?${window}`, undefined, 'op1');
      expect(tooLarge.status).toBe(400);
      expect(tooLarge.body.error.message).toMatch(/more than 3 readings/);
    });

    it('finding 7: a NUL in a path or query parameter is a 400 naming it, never a 500', async () => {
      const a = await rawRequest(t.httpUrl, 'GET', '/api/cases/%00', {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(a.status).toBe(400);
      expect(a.body.error.message).toMatch(/params.*NUL/);
      const q = await rawRequest(t.httpUrl, 'GET', '/api/cases?deviceId=a%00b', {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(q.status).toBe(400);
      expect(q.body.error.message).toMatch(/querystring/);
      const b = await t.api('POST', '/api/cases', {
        category: '0101',
        description: 'x\u0000y',
        gridCode: GRID_A,
      });
      expect(b.status).toBe(400);
    });
  });

  describe('scoped reads: payloads, not only status codes', () => {
    it('a unit sees the cases dispatched to it, their devices and grids; others answer 404', async () => {
      const cases = (await api('GET', '/api/cases', undefined, 'san1')).body.items.map(
        (c: { id: string }) => c.id,
      );
      expect(cases).toEqual([sanCase]);
      expect((await api('GET', `/api/cases/${parksCase}`, undefined, 'san1')).status).toBe(404);
      expect((await api('GET', `/api/cases/${sanCase}`, undefined, 'san1')).status).toBe(200);
      const devices = (await api('GET', '/api/devices', undefined, 'san1')).body.items.map(
        (d: { id: string }) => d.id,
      );
      expect(devices).toEqual(['bin-a']);
      expect((await api('GET', '/api/devices/bin-b', undefined, 'san1')).status).toBe(404);
      expect((await api('GET', '/api/devices/bin-b/series?key=fillingLevel', undefined, 'san1')).status).toBe(
        404,
      );
      expect((await api('GET', `/api/grids/${GRID_B}`, undefined, 'san1')).status).toBe(404);
      expect((await api('GET', `/api/grids/${GRID_A}`, undefined, 'san1')).body.devices).toEqual(['bin-a']);
      expect((await api('GET', `/api/cases/${sanCase}`, undefined, 'park1')).status).toBe(404);
      expect((await api('POST', `/api/cases/${sanCase}/actions`, { action: 'start' }, 'park1')).status).toBe(
        404,
      );
    });

    it('an inspector sees its grids only', async () => {
      const devices = (await api('GET', '/api/devices', undefined, 'insp1')).body.items.map(
        (d: { id: string }) => d.id,
      );
      expect(devices).toEqual(['bin-a']);
      // Other cases may have opened in grid A meanwhile (the bin went quiet): all in grid A.
      const items = (await api('GET', '/api/cases', undefined, 'insp1')).body.items as {
        id: string;
        gridCode: string;
      }[];
      expect(items.map((c) => c.id)).toContain(sanCase);
      expect(items.map((c) => c.id)).not.toContain(parksCase);
      expect(new Set(items.map((c) => c.gridCode))).toEqual(new Set([GRID_A]));
      const tree = JSON.stringify((await api('GET', '/api/grids', undefined, 'insp1')).body);
      expect(tree).toContain(GRID_A);
      expect(tree).not.toContain(GRID_B);
      expect(
        (await api('GET', `/api/grids/${GRID_B}/series?key=fillingLevel`, undefined, 'insp1')).status,
      ).toBe(404);
      const report = await api(
        'POST',
        '/api/cases',
        { category: '0101', description: 'x', gridCode: GRID_B },
        'insp1',
      );
      expect(report.status).toBe(403);
    });

    it('KPIs count only the cases in scope', async () => {
      const q = `/api/kpis?from=${T0 - 86_400_000}&to=${T0 + 86_400_000}&level=district`;
      const total = (k: { items?: { registered: number }[]; total?: { registered: number } }) =>
        JSON.stringify(k);
      const all = (await api('GET', q, undefined, 'token')).body;
      const san = (await api('GET', q, undefined, 'san1')).body;
      const insp = (await api('GET', q, undefined, 'insp1')).body;
      expect(total(all)).not.toEqual(total(san));
      const sum = (k: any) =>
        (k.items ?? k.rows ?? []).reduce((n: number, r: any) => n + (r.registered ?? 0), 0);
      expect(sum(san)).toBe(1);
      expect(sum(insp)).toBeGreaterThanOrEqual(1);
      // Everything but the one case in grid B.
      expect(sum(all) - sum(insp)).toBe(1);
    });

    it('the live stream carries only what the user may see', async () => {
      const open = async (who: string) => {
        const res = await fetch(`${t.httpUrl}/api/events`, {
          headers: { authorization: `Bearer ${tokens[who]}` },
        });
        expect(res.status).toBe(200);
        return res.body!.getReader();
      };
      const readers = { san1: await open('san1'), park1: await open('park1'), insp1: await open('insp1') };
      // A change of each case: a note-free action on each.
      await api('POST', `/api/cases/${sanCase}/actions`, { action: 'start' }, 'san1');
      await api('POST', `/api/cases/${parksCase}/actions`, { action: 'start' }, 'park1');
      const text: Record<string, string> = {};
      for (const [who, r] of Object.entries(readers)) {
        text[who] = '';
        const until = Date.now() + 3000;
        while (Date.now() < until) {
          const chunk = await Promise.race([
            r.read(),
            new Promise<{ value: undefined; done: false }>((res) =>
              setTimeout(() => res({ value: undefined, done: false }), 500),
            ),
          ]);
          if (chunk.value) text[who] += new TextDecoder().decode(chunk.value);
          if (text[who]!.includes('"action":"start"') && Date.now() > until - 2000) break;
        }
        await r.cancel();
      }
      expect(text.san1).toContain(sanCase);
      expect(text.san1).not.toContain(parksCase);
      expect(text.park1).toContain(parksCase);
      expect(text.park1).not.toContain(sanCase);
      expect(text.insp1).toContain(sanCase);
      expect(text.insp1).not.toContain(parksCase);
    });
  });
});
