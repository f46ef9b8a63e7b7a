import { z } from 'zod';
import { notFound } from '../../hub/errors.ts';
import { bucketOrigin } from '../../hub/time.ts';
import { levelOf } from '../../registry/index.ts';
import { seriesQuery } from '../schemas.ts';
import type { App, WebDeps } from '../server.ts';
import { seriesWindow } from './devices.ts';

const areaCode = z
  .string()
  .regex(/^[0-9]{6}(?:[0-9]{3}){0,3}$/, 'a district (6), street (9), community (12) or grid (15) code');

export const gridRoutes = (deps: WebDeps) => async (app: App) => {
  const { registry } = deps;

  app.get('/api/grids', { schema: { tags: ['grids'] } }, async () => ({ items: registry.grids.tree() }));

  // Every grid's polygon in one GeoJSON document: the dashboard draws the district map from it
  // (offline, no tile server).
  app.get(
    '/api/grids/features',
    { schema: { tags: ['grids'], description: 'All unit grids as one GeoJSON FeatureCollection.' } },
    async (_req, reply) =>
      reply.header('cache-control', 'private, no-cache').send({
        type: 'FeatureCollection',
        features: registry.grids.list().map((g) => ({
          type: 'Feature',
          properties: { code: g.code, name: g.name ?? g.code },
          geometry: g.geometry,
        })),
      }),
  );

  app.get(
    '/api/grids/:code',
    { schema: { tags: ['grids'], params: z.object({ code: areaCode }) } },
    async (req) => {
      const { code } = req.params;
      const level = levelOf(code)!;
      if (level === 'grid') {
        const g = registry.grids.get(code);
        if (!g) throw notFound('grid', code);
        return {
          code,
          level,
          name: g.name,
          geometry: g.geometry,
          devices: registry.devices.list({ gridCode: code }).map((d) => d.id),
        };
      }
      const children = registry.grids.list().filter((g) => g.code.startsWith(code));
      if (children.length === 0) throw notFound(level, code);
      return { code, level, name: registry.grids.areaName(code), grids: children.map((g) => g.code) };
    },
  );

  app.put(
    '/api/grids',
    {
      bodyLimit: 50 * 1024 * 1024,
      schema: {
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
      schema: {
        tags: ['telemetry'],
        params: z.object({ code: areaCode }),
        querystring: seriesQuery.extend({ profile: z.string().optional() }),
      },
    },
    async (req) => {
      const { code } = req.params;
      const q = req.query;
      if (!registry.grids.list().some((g) => g.code.startsWith(code))) throw notFound('grid', code);
      const ids = registry.devices.list({ gridCode: code, profile: q.profile }).map((d) => d.id);
      const { from, to } = seriesWindow(q.from, q.to, deps.clock.now());
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
