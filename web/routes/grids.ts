import { z } from 'zod';
import {
  areaCodeSchema,
  type GridNode,
  gridDetailSchema,
  gridFeaturesSchema,
  gridNodeSchema,
  levelOf,
  seriesViewSchema,
} from '../../domain/index.ts';
import { bucketOrigin, notFound } from '../../kernel/index.ts';
import { access, type Scope, seesDevice, seesGrid } from '../access.ts';
import type { App, WebDeps } from '../context.ts';
import { seriesQuery, seriesWindow } from '../schemas.ts';

const areaCode = areaCodeSchema;

/** The part of the grid tree a scoped user may see: its grids and the areas above them. */
function prune(nodes: GridNode[], scope: Scope): GridNode[] {
  if (scope.all) return nodes;
  const out: GridNode[] = [];
  for (const n of nodes) {
    if (seesGrid(scope, n.code)) out.push(n);
    else if (n.children.length) {
      const children = prune(n.children, scope);
      if (children.length) out.push({ ...n, children });
    }
  }
  return out;
}

export const gridRoutes = (deps: WebDeps) => async (app: App) => {
  const { registry } = deps;

  app.get(
    '/api/grids',
    {
      config: { access: access.signedIn },
      schema: {
        response: { 200: z.object({ items: z.array(gridNodeSchema) }) },
        tags: ['grids'],
      },
    },
    async (req) => ({
      items: prune(registry.grids.tree(), await req.scope()),
    }),
  );

  // Every grid's polygon in one GeoJSON document: the dashboard draws the district map from it
  // (offline, no tile server).
  app.get(
    '/api/grids/features',
    {
      config: { access: access.signedIn },
      schema: {
        response: { 200: gridFeaturesSchema },
        tags: ['grids'],
        description: 'All unit grids as one GeoJSON FeatureCollection.',
      },
    },
    async (req, reply) => {
      const scope = await req.scope();
      return reply.header('cache-control', 'private, no-cache').send({
        type: 'FeatureCollection',
        features: registry.grids
          .list()
          .filter((g) => seesGrid(scope, g.code))
          .map((g) => ({
            type: 'Feature',
            properties: { code: g.code, name: g.name ?? g.code },
            geometry: g.geometry,
          })),
      });
    },
  );

  app.get(
    '/api/grids/:code',
    {
      config: { access: access.signedIn },
      schema: {
        response: { 200: gridDetailSchema },
        tags: ['grids'],
        params: z.object({ code: areaCode }),
      },
    },
    async (req) => {
      const { code } = req.params;
      const level = levelOf(code)!;
      const scope = await req.scope();
      if (level === 'grid') {
        const g = registry.grids.get(code);
        if (!g || !seesGrid(scope, code)) throw notFound('grid', code);
        return {
          code,
          level,
          name: g.name,
          geometry: g.geometry,
          devices: registry.devices
            .list({ gridCode: code })
            .filter((d) => seesDevice(scope, d))
            .map((d) => d.id),
        };
      }
      const children = registry.grids
        .list()
        .filter((g) => g.code.startsWith(code) && seesGrid(scope, g.code));
      if (children.length === 0) throw notFound(level, code);
      return { code, level, name: registry.grids.areaName(code), grids: children.map((g) => g.code) };
    },
  );

  app.put(
    '/api/grids',
    {
      config: { access: access.admin, audit: 'grids.upsert' },
      bodyLimit: 50 * 1024 * 1024,
      schema: {
        response: { 200: z.object({ upserted: z.number(), devicesMoved: z.number() }) },
        tags: ['grids'],
        description: 'Upserts a GeoJSON FeatureCollection of unit grids by properties.code (15 digits).',
        body: z.object({ type: z.literal('FeatureCollection'), features: z.array(z.any()) }).passthrough(),
      },
    },
    async (req) => registry.grids.upsert(req.body),
  );

  app.get(
    '/api/grids/:code/series',
    {
      config: { access: access.signedIn },
      schema: {
        response: { 200: seriesViewSchema.extend({ devices: z.number() }) },
        tags: ['telemetry'],
        params: z.object({ code: areaCode }),
        querystring: seriesQuery.extend({ profile: z.string().max(64).optional() }),
      },
    },
    async (req) => {
      const { code } = req.params;
      const q = req.query;
      const scope = await req.scope();
      if (!registry.grids.list().some((g) => g.code.startsWith(code) && seesGrid(scope, g.code)))
        throw notFound('grid', code);
      // A scoped user's aggregate covers only the devices it may see.
      const ids = registry.devices
        .list({ gridCode: code, profile: q.profile })
        .filter((d) => seesDevice(scope, d))
        .map((d) => d.id);
      const { from, to } = seriesWindow(q.from, q.to, deps.clock.now(), q.bucket ?? 3_600_000);
      if (ids.length === 0) return { points: [], devices: 0 };
      const points = await deps.reader.series({
        deviceIds: ids,
        key: q.key,
        from,
        to,
        bucketMs: q.bucket ?? 3_600_000,
        agg: q.agg,
        originMs: bucketOrigin(deps.timezone),
        limit: q.limit,
      });
      return { points, devices: ids.length };
    },
  );
};
