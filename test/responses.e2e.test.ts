/**
 * Response schemas (issue 10, item 2): every route says what it answers, so the OpenAPI document
 * (`/docs/json`) describes it and the dashboard can share the types. The routes are collected the
 * way the server's own route table is (an `onRoute` hook), here on the real Fastify instance the
 * hub creates: the factory is wrapped only to add the hook, nothing else about the server changes.
 */
import type { RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_TOKEN, startTestHub, type TestHub } from './support/hub.ts';

const seen = vi.hoisted(() => [] as RouteOptions[]);
vi.mock('fastify', async (importOriginal) => {
  const real = await importOriginal<typeof import('fastify')>();
  const create = real.default as unknown as (...args: unknown[]) => {
    addHook(name: 'onRoute', fn: (r: RouteOptions) => void): unknown;
  };
  const wrapped = Object.assign((...args: unknown[]) => {
    const app = create(...args);
    app.addHook('onRoute', (r) => {
      seen.push(r);
    });
    return app;
  }, real.default);
  return { ...real, default: wrapped, fastify: wrapped };
});

/**
 * Routes that answer no JSON document, by name, with the reason. Everything else must declare a
 * 2xx response schema.
 */
const EXEMPT: Record<string, string> = {
  'GET /mqtt': 'WebSocket upgrade: MQTT over WebSocket, no HTTP answer body',
  'GET /api/cameras/:id/live': 'WebSocket upgrade: the live camera stream (MPEG-TS frames)',
  'GET /docs/': 'swagger-ui: the documentation page (a static file)',
  'GET /docs/static/*': 'swagger-ui: its static files',
  'GET /docs/json': 'swagger-ui: the OpenAPI document itself',
  'GET /docs/yaml': 'swagger-ui: the OpenAPI document itself',
  'GET /docs/static/index.html': 'swagger-ui: the documentation page (a static file)',
  'GET /docs/static/swagger-initializer.js': 'swagger-ui: a static file',
  'GET /assets/*': 'the dashboard bundle: static files',
  'OPTIONS *': 'CORS preflight (@fastify/cors): 204 without a body',
};

const is2xx = (code: string) => /^2(\d\d|xx)$/.test(code);
const methodsOf = (r: RouteOptions) => (Array.isArray(r.method) ? r.method : [r.method]);

describe('response schemas', () => {
  let t: TestHub;
  beforeAll(async () => {
    seen.length = 0;
    t = await startTestHub();
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  const routes = () =>
    seen.flatMap((r) =>
      methodsOf(r)
        .filter((m) => m !== 'HEAD')
        .map((method) => ({ key: `${method} ${r.url}`, method, url: r.url, route: r })),
    );

  it('every registered route declares a 2xx response schema, except the listed streams and static files', () => {
    const all = routes();
    // The same table the server keeps for access control: the hook saw every route.
    const table = t.hub.parts.web.routeTable.filter((r) => r.method !== 'HEAD');
    // (swagger-ui's index route is '/docs' in one table and '/docs/' in the other: its prefix.)
    const same = (k: string) => k.replace(/(.)\/$/, '$1');
    expect(new Set(all.map((r) => same(r.key)))).toEqual(
      new Set(table.map((r) => same(`${r.method} ${r.url}`))),
    );
    expect(all.length).toBeGreaterThan(35);

    const missing = all
      .filter((r) => !(r.key in EXEMPT))
      .filter((r) => !Object.keys((r.route.schema?.response as object | undefined) ?? {}).some(is2xx))
      .map((r) => r.key);
    expect(missing, 'routes without a 2xx response schema').toEqual([]);
  });

  it('the exemptions name routes that exist (a removed route leaves no stale excuse)', () => {
    const keys = new Set(routes().map((r) => r.key));
    expect(Object.keys(EXEMPT).filter((k) => !keys.has(k))).toEqual([]);
  });

  it('the OpenAPI document at /docs/json carries the response schemas', async () => {
    const res = await fetch(`${t.httpUrl}/docs/json`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      paths: Record<
        string,
        Record<string, { responses?: Record<string, { content?: Record<string, { schema?: any }> }> }>
      >;
    };
    const openapiPath = (url: string) => url.replace(/:([A-Za-z]+)/g, '{$1}');
    const undocumented: string[] = [];
    for (const r of routes()) {
      if (r.key in EXEMPT || r.route.schema?.hide) continue;
      const op = doc.paths[openapiPath(r.url)]?.[r.method.toLowerCase()];
      const answers = Object.entries(op?.responses ?? {}).filter(([code]) => is2xx(code));
      if (answers.length === 0) undocumented.push(r.key);
    }
    expect(undocumented, 'routes whose OpenAPI operation has no 2xx response').toEqual([]);

    // The shapes the dashboard reads are spelled out, including what may be null.
    const schemaOf = (path: string, method: string, code: string) =>
      doc.paths[path]?.[method]?.responses?.[code]?.content?.['application/json']?.schema;
    const detail = schemaOf('/api/cases/{id}', 'get', '200');
    expect(Object.keys(detail?.properties ?? {})).toEqual(
      expect.arrayContaining([
        'id',
        'status',
        'openedAt',
        'deadline',
        'timeline',
        'allowedActions',
        'evidence',
      ]),
    );
    expect(detail.required).toEqual(expect.arrayContaining(['id', 'status', 'timeline']));
    expect(JSON.stringify(detail.properties.deadline)).toMatch(/null/);
    const login = schemaOf('/api/auth/login', 'post', '200');
    expect(login?.properties?.expiresAt?.type).toBe('string');
    expect(Object.keys(login?.properties?.user?.properties ?? {})).toEqual(
      expect.arrayContaining(['id', 'name', 'role', 'unitId', 'gridCodes']),
    );
    const rule = schemaOf('/api/rules/{id}', 'get', '200');
    expect(Object.keys(rule?.properties ?? {})).toEqual(
      expect.arrayContaining(['id', 'condition', 'appliesTo', 'version', 'builtin', 'disabledReason']),
    );
    expect(schemaOf('/api/users', 'get', '200')?.properties?.items?.items?.properties?.role?.enum).toContain(
      'dispatcher',
    );
  });

  it('answers still carry every field after serialization (nothing stripped, nothing turned into a 500)', async () => {
    const me = await t.api('GET', '/api/me');
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ kind: 'admin', role: 'admin', via: 'admin-token' });
    const rules = await t.api('GET', '/api/rules');
    expect(rules.status).toBe(200);
    expect(rules.body.items.length).toBeGreaterThan(0);
    for (const r of rules.body.items)
      expect(Object.keys(r)).toEqual(
        expect.arrayContaining(['condition', 'version', 'builtin', 'disabledReason']),
      );
    const health = await t.api('GET', '/api/health');
    expect(health.status).toBe(200);
    expect(Object.keys(health.body)).toEqual(
      expect.arrayContaining(['status', 'version', 'ingest', 'warnings']),
    );
  });

  it('every GET route without path parameters answers through its schema, never a 500 (admin token)', async () => {
    const failed: string[] = [];
    for (const r of routes()) {
      if (r.method !== 'GET' || r.key in EXEMPT || /[:*]/.test(r.url)) continue;
      // The event stream never ends by itself; its schema only documents it.
      if (r.url === '/api/events') continue;
      const res = await fetch(`${t.httpUrl}${r.url}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const body = await res.text();
      if (res.status >= 500) failed.push(`${r.key} → ${res.status} ${body.slice(0, 200)}`);
    }
    expect(failed).toEqual([]);
    // A calendar round-trips: read, write back, read (its schema must encode what it parsed).
    const cal = await t.api('GET', '/api/calendar');
    expect(cal.status).toBe(200);
    expect(Object.keys(cal.body).sort()).toEqual([
      'extraWorkdays',
      'holidays',
      'hours',
      'timezone',
      'workdays',
    ]);
    const put = await t.api('PUT', '/api/calendar', { ...cal.body, workdays: [5, 1, 2, 3, 4] });
    expect(put.status).toBe(200);
    expect(put.body.workdays).toEqual([1, 2, 3, 4, 5]);
  });
});
