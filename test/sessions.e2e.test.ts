// Sessions, cookies, CSRF, revocation, the audit log, HTTP hardening and a fuzz of every route,
// against a real hub (real PostgreSQL; the embedded store where it is missing).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from './support/http.ts';
import { ADMIN_TOKEN, startTestHub, type TestHub } from './support/hub.ts';

const PASSWORD = 'correct horse battery';
const METRICS_TOKEN = 'metrics-token-0123456789';

describe('sessions and hardening', () => {
  let t: TestHub;
  const login = (username: string, password = PASSWORD, headers: Record<string, string> = {}) =>
    rawRequest(t.httpUrl, 'POST', '/api/auth/login', {
      body: JSON.stringify({ username, password }),
      headers,
    });
  const cookieOf = (a: { headers: Record<string, unknown> }) =>
    String((a.headers['set-cookie'] as string[])[0]).split(';')[0]!;

  beforeAll(async () => {
    t = await startTestHub({
      store: 'pg',
      overrides: {
        clock: 'manual',
        security: { maxEventClients: 2, metricsToken: METRICS_TOKEN, corsOrigins: ['https://ops.example'] },
      },
    });
    for (const [id, role] of [
      ['ada', 'admin'],
      ['olga', 'operator'],
      ['vera', 'viewer'],
    ])
      expect((await t.api('POST', '/api/users', { id, name: id, role, password: PASSWORD })).status).toBe(
        201,
      );
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('sign-in sets the agreed session cookie; the cookie works for reads, writes need x-gridhub-csrf: 1 and a same-site Origin', async () => {
    const a = await login('olga');
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({
      token: expect.any(String),
      expiresAt: expect.any(String),
      user: { id: 'olga', name: 'olga', role: 'operator', unitId: null, gridCodes: [] },
    });
    const setCookie = (a.headers['set-cookie'] as string[])[0]!;
    expect(setCookie).toMatch(/^gridhub_session=[A-Za-z0-9_-]{40,}; HttpOnly; SameSite=Strict; Path=\/$/);
    const cookie = cookieOf(a);
    const me = await rawRequest(t.httpUrl, 'GET', '/api/me', { headers: { cookie } });
    expect(me.body).toMatchObject({ id: 'olga', role: 'operator', via: 'cookie' });
    const rule = { id: 'r-csrf', name: 'x', appliesTo: { profile: 'air-quality' } };
    const noHeader = await rawRequest(t.httpUrl, 'POST', '/api/rules', {
      headers: { cookie },
      body: JSON.stringify(rule),
    });
    expect(noHeader.status).toBe(403);
    expect(noHeader.body.error.message).toMatch(/x-gridhub-csrf/);
    const foreign = await rawRequest(t.httpUrl, 'POST', '/api/rules', {
      headers: { cookie, 'x-gridhub-csrf': '1', origin: 'https://evil.example' },
      body: JSON.stringify(rule),
    });
    expect(foreign.status).toBe(403);
    // A WebSocket upgrade from another site's page with the cookie is refused too.
    const hijack = await rawRequest(t.httpUrl, 'GET', '/api/events', {
      headers: { cookie, upgrade: 'websocket', connection: 'Upgrade', origin: 'https://evil.example' },
    });
    expect(hijack.status).toBe(403);
    const ok = await rawRequest(t.httpUrl, 'POST', '/api/auth/logout', {
      headers: { cookie, 'x-gridhub-csrf': '1', origin: t.httpUrl },
    });
    expect(ok.status).toBe(204);
    expect(String((ok.headers['set-cookie'] as string[])[0])).toMatch(/gridhub_session=;.*Max-Age=0/);
    expect((await rawRequest(t.httpUrl, 'GET', '/api/me', { headers: { cookie } })).status).toBe(401);
    // Body limits per route: sign-in takes at most 4 KiB.
    const big = await login('olga', 'x'.repeat(4 * 1024));
    expect(big.status).toBe(413);
    // Without trustProxy, forwarded headers count for nothing: no Secure cookie over plain HTTP.
    const forwarded = await login('olga', PASSWORD, {
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '203.0.113.9',
    });
    expect(String((forwarded.headers['set-cookie'] as string[])[0])).not.toMatch(/Secure/);
    // Bearer requests need no such header.
    const bearer = (await login('olga')).body.token;
    expect((await t.api('POST', '/api/auth/logout', undefined, bearer)).status).toBe(204);
  });

  it('a password change ends the other sessions (not the caller’s); a role change ends all; the policy rejects the obvious', async () => {
    const first = (await login('vera')).body.token;
    const second = (await login('vera')).body.token;
    const weak = await t.api(
      'POST',
      '/api/me/password',
      { currentPassword: PASSWORD, newPassword: 'vera' },
      second,
    );
    expect(weak.status).toBe(400);
    expect(weak.body.error.message).toMatch(/password: at least 10/);
    for (const bad of ['1234567890', 'qwertyuiop', 'Vera']) {
      const r = await t.api('POST', '/api/users', {
        id: `u-${bad.length}`,
        name: 'x',
        role: 'viewer',
        password: bad,
      });
      expect(r.status, bad).toBe(400);
    }
    expect(
      (
        await t.api('POST', '/api/users', {
          id: 'samename1',
          name: 'n',
          role: 'viewer',
          password: 'samename1',
        })
      ).status,
    ).toBe(400);
    const wrong = await t.api(
      'POST',
      '/api/me/password',
      { currentPassword: 'not it at all', newPassword: 'a new long passphrase' },
      second,
    );
    expect(wrong.status).toBe(403);
    const changed = await t.api(
      'POST',
      '/api/me/password',
      { currentPassword: PASSWORD, newPassword: 'a new long passphrase' },
      second,
    );
    expect(changed.status).toBe(200);
    expect(changed.body.endedSessions).toBeGreaterThanOrEqual(1);
    expect((await t.api('GET', '/api/me', undefined, first)).status).toBe(401);
    expect((await t.api('GET', '/api/me', undefined, second)).status).toBe(200);
    expect((await login('vera')).status).toBe(401);
    expect((await login('vera', 'a new long passphrase')).status).toBe(200);
    // An admin changes her role: every session ends.
    expect((await t.api('PATCH', '/api/users/vera', { role: 'operator' })).body.role).toBe('operator');
    expect((await t.api('GET', '/api/me', undefined, second)).status).toBe(401);
  });

  it('people with the admin role administer the hub; sessions are stored hashed', async () => {
    const token = (await login('ada')).body.token;
    expect((await t.api('GET', '/api/users', undefined, token)).status).toBe(200);
    const rows = await t.hub.parts.store.db.query<{ token_hash: string }>(
      'SELECT token_hash FROM user_tokens',
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r) => r.token_hash)).not.toContain(token);
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.token_hash))).toBe(true);
  });

  it('the audit log records changes with actor, role, address, outcome; admin only; paged', async () => {
    const op = (await login('olga')).body.token;
    await t.api('POST', '/api/devices', { id: 'aud-1', profile: 'generic' });
    await t.api('POST', '/api/devices/aud-1/token', undefined, op); // denied: 403
    await t.api('POST', '/api/devices/aud-1/token');
    await t.api('PUT', '/api/units/u1', { name: 'unit one' });
    expect((await t.api('GET', '/api/audit', undefined, op)).status).toBe(403);
    const all = (await t.api('GET', '/api/audit?limit=1000')).body.items as any[];
    const rotate = all.filter((e) => e.action === 'device.token.rotate');
    expect(rotate).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actor: 'olga',
          role: 'operator',
          outcome: 'denied',
          status: 403,
          target: 'aud-1',
        }),
        expect.objectContaining({
          actor: 'admin-token',
          role: 'admin',
          outcome: 'ok',
          status: 200,
          target: 'aud-1',
          address: '127.0.0.1',
        }),
      ]),
    );
    expect(all.some((e) => e.action === 'device.create' && e.target === null && e.outcome === 'ok')).toBe(
      true,
    );
    expect(all.some((e) => e.action === 'unit.save' && e.target === 'u1')).toBe(true);
    expect(all.some((e) => e.action === 'auth.login' && e.detail.username === 'olga')).toBe(true);
    expect(JSON.stringify(all)).not.toContain(PASSWORD);
    const page1 = (await t.api('GET', '/api/audit?limit=1&action=device.token.rotate')).body;
    expect(page1.items).toHaveLength(1);
    expect(page1.next).toEqual(expect.any(String));
    const page2 = (await t.api('GET', `/api/audit?limit=1&action=device.token.rotate&cursor=${page1.next}`))
      .body;
    expect(page2.items[0].id).not.toBe(page1.items[0].id);
    const filtered = (await t.api('GET', '/api/audit?actor=olga&outcome=denied')).body.items as any[];
    expect(filtered.length).toBeGreaterThan(0);
    expect(filtered.every((e) => e.actor === 'olga' && e.outcome === 'denied')).toBe(true);
  });

  it('security headers, CORS closed but for configured origins, /metrics behind its token without device ids, health without counts for anonymous', async () => {
    const h = await rawRequest(t.httpUrl, 'GET', '/api/health');
    expect(h.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(h.headers['content-security-policy']).toMatch(/img-src 'self' blob: data:/);
    expect(h.headers['content-security-policy']).toMatch(/connect-src 'self' ws: wss:/);
    expect(h.headers['x-content-type-options']).toBe('nosniff');
    expect(Object.keys(h.body).sort()).toEqual(expect.arrayContaining(['status', 'http', 'mqtt']));
    expect(h.body.version).toBeUndefined();
    expect(h.body.devices).toBeUndefined();
    expect((await t.api('GET', '/api/health')).body.version).toEqual(expect.any(String));
    const evil = await rawRequest(t.httpUrl, 'OPTIONS', '/api/devices', {
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    const ops = await rawRequest(t.httpUrl, 'OPTIONS', '/api/devices', {
      headers: { origin: 'https://ops.example', 'access-control-request-method': 'GET' },
    });
    expect(ops.headers['access-control-allow-origin']).toBe('https://ops.example');
    expect((await rawRequest(t.httpUrl, 'GET', '/metrics')).status).toBe(401);
    expect((await t.api('GET', '/metrics', undefined, ADMIN_TOKEN)).status).toBe(401);
    const m = await t.api('GET', '/metrics', undefined, METRICS_TOKEN);
    expect(m.status).toBe(200);
    const ids = (await t.api('GET', '/api/devices')).body.items.map((d: { id: string }) => d.id) as string[];
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect(m.body).not.toContain(id);
  });

  it('/api/events has a client cap (503 past it) and streams end when the hub stops them', async () => {
    const token = (await login('olga')).body.token;
    const open = () =>
      rawRequest(t.httpUrl, 'GET', '/api/events', { headers: { authorization: `Bearer ${token}` } });
    // rawRequest closes an event stream at its headers; hold two open with fetch.
    const ctl = new AbortController();
    const held = await Promise.all(
      [1, 2].map(() =>
        fetch(`${t.httpUrl}/api/events`, {
          headers: { authorization: `Bearer ${token}` },
          signal: ctl.signal,
        }),
      ),
    );
    expect(held.map((r) => r.status)).toEqual([200, 200]);
    const third = await open();
    expect(third.status).toBe(503);
    expect(third.headers['retry-after']).toBeDefined();
    ctl.abort();
    await new Promise((r) => setTimeout(r, 200));
    expect((await open()).status).toBe(200);
  });

  it('a fuzz of every route (params, query, body) never answers 5xx', async () => {
    const app = t.hub.parts.web;
    const routes = app.routeTable.filter(
      (r) => r.method !== 'HEAD' && r.url !== '/api/events' && r.url !== '/mqtt',
    );
    const segment = fc.oneof(
      // Already percent-encoded, as on the wire.
      fc.string({ maxLength: 40 }).map((x) => encodeURIComponent(x)),
      fc.constantFrom(
        '%00',
        'a%00b',
        '%',
        '%zz',
        '.x.',
        '330102001001001',
        '-1',
        '1e309',
        'NaN',
        '%F0%9F%92%A9',
        '\u00ff',
      ),
    );
    const value = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.integer(),
      fc.double(),
      fc.constantFrom('', '\u0000', '9999999999999999999', '-1', 'true', '1h', '2026-13-45'),
    );
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.dictionary(
        fc.constantFrom(
          'id',
          'name',
          'profile',
          'action',
          'password',
          'username',
          'features',
          'type',
          'key',
          'from',
          'to',
          'set',
          'advance',
          'location',
          'role',
          'server',
          'shared',
          'category',
          'gridCode',
          'description',
        ),
        value,
      ),
    );
    const seen: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.array(segment, { minLength: 3, maxLength: 3 }),
        fc.dictionary(
          fc.constantFrom(
            'from',
            'to',
            'limit',
            'cursor',
            'key',
            'bucket',
            'agg',
            'status',
            'gridCode',
            'level',
            'deviceId',
            'overdue',
            'actor',
            'outcome',
          ),
          fc.oneof(
            fc.string({ maxLength: 20 }),
            fc.constantFrom('%00', '0', '1e400', '-5', 'abc', '2026-01-01', '1d'),
          ),
        ),
        body,
        async (route, segs, query, payload) => {
          let i = 0;
          const path = route.url
            // inject resolves dot segments (a real client's target is not): `..` would reach /api/events.
            .replace(/:[a-z]+/gi, () => (segs[i++] ?? 'x').replace(/^\.{1,2}$/, 'x'))
            .replace(/\*$/, 'x');
          const qs = Object.entries(query)
            .map(([k, v]) => `${k}=${encodeURIComponent(v).replace(/%2500/g, '%00')}`)
            .join('&');
          const r = await app.inject({
            method: route.method as 'GET',
            url: `${path}${qs ? `?${qs}` : ''}`,
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
            // Another address: failed sign-ins here must not throttle the tests' own.
            remoteAddress: '10.77.0.1',
            payload:
              route.method === 'GET' || route.method === 'OPTIONS' ? undefined : JSON.stringify(payload),
          });
          if (r.statusCode >= 500)
            seen.push(`${route.method} ${path}?${qs} ${JSON.stringify(payload)} → ${r.statusCode} ${r.body}`);
          return r.statusCode < 500;
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 2500), seed: 7 },
    );
    expect(seen).toEqual([]);
  }, 300_000);
});

describe('behind a TLS-terminating proxy (trustProxy)', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({ overrides: { security: { trustProxy: '127.0.0.1' } } });
    await t.api('POST', '/api/users', { id: 'pat', name: 'pat', role: 'viewer', password: PASSWORD });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('the forwarded address counts for the audit log and throttles, and X-Forwarded-Proto: https makes the cookie Secure', async () => {
    const a = await rawRequest(t.httpUrl, 'POST', '/api/auth/login', {
      body: JSON.stringify({ username: 'pat', password: PASSWORD }),
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' },
    });
    expect(a.status).toBe(200);
    expect(String((a.headers['set-cookie'] as string[])[0])).toMatch(/; Secure$/);
    const entries = (await t.api('GET', '/api/audit?action=auth.login')).body.items as { address: string }[];
    expect(entries[0]?.address).toBe('203.0.113.9');
    // Twenty failures from one forwarded address lock that address, not the proxy's others.
    const attempt = (xff: string, username: string) =>
      rawRequest(t.httpUrl, 'POST', '/api/auth/login', {
        body: JSON.stringify({ username, password: 'wrong password!' }),
        headers: { 'x-forwarded-for': xff },
      });
    for (let i = 0; i < 20; i++) expect((await attempt('198.51.100.7', `spray-${i}`)).status).toBe(401);
    expect((await attempt('198.51.100.7', 'spray-x')).status).toBe(429);
    expect((await attempt('198.51.100.8', 'spray-y')).status).toBe(401);
  }, 120_000);
});
