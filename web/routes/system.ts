import { z } from 'zod';
import { limitParam, timeParam } from '../schemas.ts';
import type { App, WebDeps } from '../server.ts';

export const systemRoutes = (deps: WebDeps) => async (app: App) => {
  app.get('/api/health', { schema: { tags: ['system'], security: [] } }, async () => deps.health());

  app.get('/metrics', { schema: { tags: ['system'], security: [] } }, async (_req, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(deps.metrics.render()),
  );

  app.get(
    '/api/rejected',
    {
      schema: {
        tags: ['telemetry'],
        querystring: z.object({
          deviceId: z.string().optional(),
          from: timeParam.optional(),
          to: timeParam.optional(),
          limit: limitParam(1000, 100),
          cursor: z.string().regex(/^\d+$/, 'a cursor from a previous page').optional(),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      const items = await deps.reader.rejected({ ...q, beforeId: q.cursor ? Number(q.cursor) : undefined });
      const last = items[items.length - 1];
      return { items, next: items.length === q.limit && last ? String(last.id) : null };
    },
  );
};
