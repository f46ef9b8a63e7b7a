/**
 * Response schemas (issue 10, item 2): every route says what it answers, so the OpenAPI document
 * (`/docs/json`) describes it and the dashboard can share the types. The routes are collected the
 * way the server's own route table is (an `onRoute` hook), here on the real Fastify instance the
 * hub creates: the factory is wrapped only to add hooks, nothing else about the server changes.
 * Two more hooks watch every JSON answer on its way out: `preSerialization` keeps what the handler
 * returned, `onSend` what the zod serializer made of it, so a field the schema does not name (and
 * `z.object` therefore strips) is caught wherever a test of this file reads it.
 */
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { z } from 'zod';
import { ensureUi } from '../web/index.ts';
import { cell } from './support/grids.ts';
import { ADMIN_TOKEN, eventually, startTestHub, type TestHub } from './support/hub.ts';

const seen = vi.hoisted(() => {
  /** Every key path of a JSON value (`a.b`, `items[].c`), array elements folded into `[]`. */
  const keyPaths = (v: unknown, at = '', out = new Set<string>()): Set<string> => {
    if (Array.isArray(v)) for (const x of v) keyPaths(x, `${at}[]`, out);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        const p = at ? `${at}.${k}` : k;
        out.add(p);
        keyPaths(x, p, out);
      }
    return out;
  };
  /** Key paths of what the handler returned that the serialized answer lacks. */
  const strippedPaths = (returned: unknown, sent: unknown) => {
    const kept = keyPaths(sent);
    return [...keyPaths(returned)].filter((p) => !kept.has(p));
  };
  return {
    routes: [] as RouteOptions[],
    returned: new WeakMap<object, unknown>(),
    /** `METHOD /route` → key paths the serializer dropped. */
    stripped: [] as string[],
    /** `METHOD /route` → how many JSON answers were compared. */
    compared: new Map<string, number>(),
    keyPaths,
    strippedPaths,
  };
});
vi.mock('fastify', async (importOriginal) => {
  const real = await importOriginal<typeof import('fastify')>();
  type Hooked = {
    addHook(name: 'onRoute', fn: (r: RouteOptions) => void): unknown;
    addHook(
      name: 'preSerialization',
      fn: (req: FastifyRequest, reply: FastifyReply, payload: unknown) => Promise<unknown>,
    ): unknown;
    addHook(
      name: 'onSend',
      fn: (req: FastifyRequest, reply: FastifyReply, payload: unknown) => Promise<unknown>,
    ): unknown;
  };
  const create = real.default as unknown as (...args: unknown[]) => Hooked;
  const wrapped = Object.assign((...args: unknown[]) => {
    const app = create(...args);
    app.addHook('onRoute', (r) => {
      seen.routes.push(r);
    });
    app.addHook('preSerialization', async (req, reply, payload) => {
      // A copy as JSON would carry it (undefined fields and Dates as the wire has them).
      if (
        reply.statusCode < 300 &&
        payload !== null &&
        typeof payload === 'object' &&
        !Buffer.isBuffer(payload)
      )
        seen.returned.set(req, JSON.parse(JSON.stringify(payload)));
      return payload;
    });
    app.addHook('onSend', async (req, reply, payload) => {
      const returned = seen.returned.get(req);
      if (returned === undefined || typeof payload !== 'string' || reply.statusCode >= 300) return payload;
      const key = `${req.method} ${req.routeOptions.url}`;
      seen.compared.set(key, (seen.compared.get(key) ?? 0) + 1);
      for (const p of seen.strippedPaths(returned, JSON.parse(payload))) seen.stripped.push(`${key}: ${p}`);
      return payload;
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

/**
 * The answers that stay open on purpose, because the data in them is not the hub's to shape: at the
 * top of an answer (or of each item of a list page), by route and status.
 */
const OPEN_ANSWERS: Record<string, string> = {
  'GET /api/health 200':
    "the hub composes it from each part's own health (web/context.ts types it as a record); public callers see a subset",
};
/** Open fields inside answers, by the field's path (after a list page's `items[].`), with the reason. */
const OPEN_FIELDS: Record<string, string> = {
  serverAttributes: "device attributes: names and values are the admin's own (ThingsBoard-style)",
  sharedAttributes: "device attributes: names and values are the admin's own, pushed to the device",
  clientAttributes: "device attributes: names and values are the device's own",
  'latest.*.value': 'a telemetry value: a number or any JSON the device sent',
  data: "a device event's own JSON (a camera detection's fields)",
  params: 'RPC params: whatever the caller sends the device',
  response: 'RPC answer: whatever the device answers',
  detail: 'audit detail: what each kind of change records about itself',
  evidence: "a case's evidence: stored JSON a newer rule may extend",
  'evidence.trendWindow': "a case's evidence: stored JSON a newer rule may extend",
  'evidence.stills[]': "a case's evidence: stored JSON a newer rule may extend",
  'evidence.limits[]': "a case's evidence: stored JSON a newer rule may extend",
  peak: "a case's peak reading: stored JSON",
  'timeline[]': 'a timeline entry: stored JSON a newer workflow may extend',
};

type Schema = z.core.$ZodType;
/**
 * The places in a response schema that let any value or any extra field through: `z.any()`,
 * `z.unknown()`, a record of such values, an open object (`z.looseObject`, `.passthrough()`).
 * Paths as `keyPaths` writes them ('' is the answer itself, `*` a record's value).
 */
function openSpots(schema: Schema, at = '', stack = new Set<Schema>()): string[] {
  if (!schema?._zod || stack.has(schema)) return [];
  stack.add(schema);
  try {
    const def = schema._zod.def as unknown as Record<string, any> & { type: string };
    const under = (k: string) => (at ? `${at}.${k}` : k);
    switch (def.type) {
      case 'any':
      case 'unknown':
        return [at];
      case 'record': {
        const value = def.valueType as Schema;
        const t = value._zod.def.type;
        return t === 'any' || t === 'unknown' ? [at] : openSpots(value, under('*'), stack);
      }
      case 'object': {
        const own = def.catchall && def.catchall._zod.def.type !== 'never' ? [at] : [];
        const fields = Object.entries(def.shape as Record<string, Schema>).flatMap(([k, v]) =>
          openSpots(v, under(k), stack),
        );
        return [...own, ...fields];
      }
      case 'array':
        return openSpots(def.element, `${at}[]`, stack);
      case 'union':
        return (def.options as Schema[]).flatMap((o) => openSpots(o, at, stack));
      case 'lazy':
        return openSpots(def.getter(), at, stack);
      case 'pipe':
        return openSpots(def.in, at, stack);
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'catch':
        return openSpots(def.innerType, at, stack);
      default:
        return [];
    }
  } finally {
    stack.delete(schema);
  }
}

const is2xx = (code: string) => /^2(\d\d|xx)$/.test(code);
const methodsOf = (r: RouteOptions) => (Array.isArray(r.method) ? r.method : [r.method]);
const answersOf = (r: RouteOptions) =>
  Object.entries((r.schema?.response as Record<string, Schema> | undefined) ?? {}).filter(([code]) =>
    is2xx(code),
  );
/** A list page's item path prefix, so an item's fields are named as in a single answer. */
const field = (path: string) => path.replace(/^items\[\]\.?/, '');

describe('response schemas', () => {
  let t: TestHub;
  beforeAll(async () => {
    seen.routes.length = 0;
    // The dashboard's routes (`/assets/*`) exist only with its bundle: built first when missing.
    await ensureUi();
    // The manual clock, so `POST /api/clock` answers (on the system clock it is a 409).
    t = await startTestHub({ overrides: { clock: 'manual' } });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  const routes = () =>
    seen.routes.flatMap((r) =>
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
    // A rule's body is the rule grammar (no longer any object): its fields, the condition kinds, and
    // on PUT the id may be left out (the path names it).
    const ops = doc.paths as Record<string, Record<string, { requestBody?: any }>>;
    const ruleBody = (path: string, method: string) =>
      ops[path]?.[method]?.requestBody?.content?.['application/json']?.schema;
    for (const [path, method] of [
      ['/api/rules', 'post'],
      ['/api/rules/{id}', 'put'],
    ] as const) {
      const b = ruleBody(path, method);
      expect(Object.keys(b?.properties ?? {}), `${method} ${path}`).toEqual(
        expect.arrayContaining(['id', 'name', 'appliesTo', 'category', 'urgency', 'condition']),
      );
      expect(b.additionalProperties).toBe(false);
      expect(b.required).not.toContain('id');
      expect(JSON.stringify(doc)).toContain('"dailyCount"');
    }
    // Every $ref (the recursive rule condition and grid node) points at a schema the document has.
    const components =
      (doc as { components?: { schemas?: Record<string, unknown> } }).components?.schemas ?? {};
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    expect(
      [...new Set(refs)].filter((r) => !(r.startsWith('#/components/schemas/') && r.slice(21) in components)),
      'dangling $refs',
    ).toEqual([]);
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

  it('no answer is open at its top, except the listed ones (a new loose schema fails here)', () => {
    const open = new Set<string>();
    for (const r of routes())
      for (const [code, schema] of answersOf(r.route))
        if (openSpots(schema).some((p) => p === '' || p === 'items[]')) open.add(`${r.key} ${code}`);
    expect(
      [...open].filter((k) => !(k in OPEN_ANSWERS)),
      'open answers outside OPEN_ANSWERS',
    ).toEqual([]);
    // …and every listed one is still open (an exemption that is no longer needed is removed).
    expect(Object.keys(OPEN_ANSWERS).filter((k) => !open.has(k))).toEqual([]);
  });

  it("open fields inside answers are only the listed ones, whose data is the user's or the device's own", () => {
    const used = new Set<string>();
    const unlisted: string[] = [];
    for (const r of routes())
      for (const [code, schema] of answersOf(r.route))
        for (const p of openSpots(schema)) {
          if (p === '' || p === 'items[]') continue;
          const f = field(p);
          if (f in OPEN_FIELDS) used.add(f);
          else unlisted.push(`${r.key} ${code}: ${p}`);
        }
    expect(unlisted, 'open fields outside OPEN_FIELDS').toEqual([]);
    expect(Object.keys(OPEN_FIELDS).filter((f) => !used.has(f))).toEqual([]);
  });

  it('the strip detector sees a dropped field, nested or in a list', () => {
    expect(seen.strippedPaths({ a: 1, b: { c: 2, d: 3 } }, { a: 1, b: { c: 2 } })).toEqual(['b.d']);
    expect(seen.strippedPaths({ items: [{ id: 'x', extra: 1 }] }, { items: [{ id: 'x' }] })).toEqual([
      'items[].extra',
    ]);
    expect(seen.strippedPaths({ items: [] }, { items: [] })).toEqual([]);
  });

  it('answers with data in them pass their exact schemas whole: nothing stripped', async () => {
    const ok = async (method: string, path: string, body?: unknown, status = 200) => {
      const res = await t.api(method, path, body);
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(status);
      return res.body;
    };
    const GRID = '330106001001001';
    const AT = { lng: 120.0005, lat: 30.0005 };
    // A grid with names above it and an altitude in its positions (RFC 7946 §3.1.1), and one as a MultiPolygon.
    const withAltitude = cell(GRID, 120, 30, {
      name: '第1网格',
      districtName: '西湖区',
      streetName: '北山街道',
      communityName: '东坡路社区',
    });
    withAltitude.geometry.coordinates[0] = withAltitude.geometry.coordinates[0]!.map(([x, y]) => [
      x!,
      y!,
      12.5,
    ]);
    const multi = cell('330106001001002', 120.001, 30);
    await ok('PUT', '/api/grids', {
      type: 'FeatureCollection',
      features: [
        withAltitude,
        { ...multi, geometry: { type: 'MultiPolygon', coordinates: [multi.geometry.coordinates] } },
      ],
    });
    const tree = await ok('GET', '/api/grids');
    expect(JSON.stringify(tree)).toContain('东坡路社区');
    const features = await ok('GET', '/api/grids/features');
    const f = features.features.find((x: any) => x.properties.code === GRID);
    expect(f.geometry.coordinates[0][0]).toEqual([120, 30, 12.5]);
    expect(features.features.map((x: any) => x.geometry.type).sort()).toEqual(['MultiPolygon', 'Polygon']);

    // Devices: a bin (telemetry, limits, presence, a rule's case), a camera (stream URL redacted).
    const created = await ok(
      'POST',
      '/api/devices',
      { id: 'resp-bin', name: '垃圾桶', profile: 'waste-container', location: AT },
      201,
    );
    expect(created).toMatchObject({ id: 'resp-bin', gridCode: GRID, status: 'offline', outsideGrids: false });
    expect(typeof created.accessToken).toBe('string');
    await ok('PUT', '/api/devices/resp-bin/attributes', {
      server: { fillMax: 0.9, nested: { a: [1, 'x'] } },
      shared: { reportEvery: 60 },
    });
    await ok('PATCH', '/api/devices/resp-bin', { name: '垃圾桶 1' });
    const bin = await t.connect(created.accessToken);
    await bin.publishAsync('v1/devices/me/attributes', JSON.stringify({ firmware: '1.2.3' }), { qos: 1 });
    await bin.publishAsync('v1/devices/me/telemetry', JSON.stringify({ fillingLevel: 0.95 }), { qos: 1 });
    // A message the hub refuses: stored as a rejected message with its reason.
    await bin.publishAsync('v1/devices/me/telemetry', '{not json', { qos: 1 });
    await t.hub.parts.rules.idle();
    const detail = await eventually(async () => {
      const d = await ok('GET', '/api/devices/resp-bin');
      return d.latest.fillingLevel && Object.keys(d.clientAttributes).length ? d : undefined;
    });
    expect(detail).toMatchObject({
      name: '垃圾桶 1',
      status: 'online',
      serverAttributes: { fillMax: 0.9, nested: { a: [1, 'x'] } },
      sharedAttributes: { reportEvery: 60 },
      clientAttributes: { firmware: '1.2.3' },
      latest: { fillingLevel: { value: 0.95 } },
    });
    expect((await ok('GET', '/api/devices?limit=1000')).items.length).toBeGreaterThan(0);
    expect((await ok('GET', '/api/devices/resp-bin/series?key=fillingLevel')).points).toHaveLength(1);
    expect((await ok('GET', `/api/grids/${GRID}/series?key=fillingLevel&bucket=1h`)).devices).toBe(1);
    await ok('GET', '/api/devices/resp-bin/events');
    // On the manual clock: a minute on, the device has been online for a minute.
    expect((await ok('POST', '/api/clock', { advance: '1m' })).now).toMatch(/^\d{4}-\d\d-\d\dT/);
    const presence = await eventually(async () => {
      const p = await ok('GET', '/api/devices/resp-bin/presence');
      return p.items.length ? p : undefined;
    });
    expect(presence.items.at(-1)).toMatchObject({ online: true });
    const limits = await ok('GET', '/api/devices/resp-bin/limits');
    expect(limits).toMatchObject({ id: 'resp-bin', connections: 1, coolDownUntil: null });
    expect(limits.limits.messagesPerSecond).toBeGreaterThan(0);
    const rpc = await ok(
      'POST',
      '/api/devices/resp-bin/rpc',
      { method: 'empty', params: { at: 'now' } },
      201,
    );
    expect(rpc).toMatchObject({ method: 'empty', params: { at: 'now' } });
    expect((await ok('GET', '/api/devices/resp-bin/rpc')).items).toHaveLength(1);
    await ok('GET', `/api/devices/resp-bin/rpc/${rpc.id}`);

    const grid = await ok('GET', `/api/grids/${GRID}`);
    expect(grid).toMatchObject({ code: GRID, level: 'grid', name: '第1网格', devices: ['resp-bin'] });
    expect(grid.geometry.type).toBe('Polygon');
    const community = await ok('GET', `/api/grids/${GRID.slice(0, 12)}`);
    expect(community).toMatchObject({ level: 'community', name: '东坡路社区' });
    expect(community.grids).toHaveLength(2);

    const rejected = await eventually(async () => {
      const r = await ok('GET', '/api/rejected?deviceId=resp-bin');
      return r.items.length ? r : undefined;
    });
    expect(rejected.items[0]).toMatchObject({ deviceId: 'resp-bin', topic: 'v1/devices/me/telemetry' });
    expect(rejected.items[0].payload).toContain('{not json');

    await ok('POST', '/api/devices', { id: 'resp-cam', profile: 'camera', location: AT }, 201);
    await ok('PUT', '/api/devices/resp-cam/attributes', {
      server: { rtspUrl: 'rtsp://user:secret@127.0.0.1:1/stream' },
    });
    const cams = await ok('GET', '/api/cameras');
    expect(cams.items).toHaveLength(1);
    const cam = await ok('GET', '/api/cameras/resp-cam');
    expect(cam.streamUrl).not.toContain('secret');
    expect(cam.stream).toMatchObject({ state: 'idle', viewers: 0 });

    // Cases: the rule's case for the full bin, and one reported by a person.
    const sensorCase = await eventually(
      async () => (await ok('GET', '/api/cases?deviceId=resp-bin')).items[0],
    );
    expect(sensorCase).toMatchObject({ ruleId: 'bin-full', gridCode: GRID, source: 'sensor' });
    expect(sensorCase.evidence.observed).toEqual({ fillingLevel: 0.95 });
    const caseDetail = await ok('GET', `/api/cases/${sensorCase.id}`);
    expect(caseDetail.timeline.length).toBeGreaterThan(0);
    await ok('POST', '/api/cases', { category: '0101', description: '路边暴露垃圾', location: AT }, 201);
    expect((await ok('GET', '/api/cases/summary')).byGrid[GRID].open).toBe(2);
    const now = Date.now();
    await ok('GET', `/api/kpis?from=${now - 86_400_000}&to=${now + 86_400_000}&level=grid`);

    // Rules: a new one (its body is the rule grammar), changed, and backtested over the bin's reading.
    const rule = {
      id: 'resp-bin-half',
      name: 'Bin half full',
      appliesTo: { profile: 'waste-container', deviceIds: ['resp-bin'] },
      category: '0102',
      urgency: 'low',
      condition: {
        kind: 'sustained',
        for: '5m',
        condition: { kind: 'threshold', key: 'fillingLevel', op: '>=', value: 0.5 },
      },
    };
    expect(await ok('POST', '/api/rules', rule, 201)).toMatchObject({ ...rule, version: 1, builtin: false });
    const { id: _id, ...withoutId } = rule;
    expect((await ok('PUT', '/api/rules/resp-bin-half', { ...withoutId, urgency: 'normal' })).version).toBe(
      2,
    );
    const bt = await ok(
      'POST',
      `/api/rules/bin-full/backtest?from=${new Date(now - 3_600_000).toISOString()}&to=${new Date(now + 3_600_000).toISOString()}`,
    );
    expect(bt.cases).toHaveLength(1);
    expect(bt.cases[0]).toMatchObject({ deviceId: 'resp-bin', gridCode: GRID });

    expect((await ok('GET', '/api/reference')).categories.length).toBeGreaterThan(0);

    // Every answer above went through the serializer whole.
    expect(seen.stripped, 'fields the serializer stripped').toEqual([]);
    const exact = [
      'POST /api/devices',
      'GET /api/devices',
      'GET /api/devices/:id',
      'PATCH /api/devices/:id',
      'PUT /api/devices/:id/attributes',
      'GET /api/devices/:id/series',
      'GET /api/devices/:id/presence',
      'GET /api/devices/:id/limits',
      'POST /api/devices/:id/rpc',
      'PUT /api/grids',
      'GET /api/grids',
      'GET /api/grids/features',
      'GET /api/grids/:code',
      'GET /api/grids/:code/series',
      'GET /api/rejected',
      'GET /api/cameras',
      'GET /api/cameras/:id',
      'GET /api/cases',
      'GET /api/cases/:id',
      'POST /api/cases',
      'GET /api/cases/summary',
      'POST /api/rules',
      'PUT /api/rules/:id',
      'POST /api/rules/:id/backtest',
      'GET /api/reference',
      'POST /api/clock',
    ];
    expect(
      exact.filter((k) => !seen.compared.get(k)),
      'answers the strip check never saw',
    ).toEqual([]);
  });
});
