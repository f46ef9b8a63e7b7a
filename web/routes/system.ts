import { z } from 'zod';
import { parseDuration } from '../../hub/clock.ts';
import { badRequest, conflict } from '../../hub/errors.ts';
import { requireRole } from '../auth.ts';
import { limitParam, timeParam } from '../schemas.ts';
import type { App, WebDeps } from '../server.ts';

export const systemRoutes = (deps: WebDeps) => async (app: App) => {
  app.get('/api/health', { schema: { tags: ['system'], security: [] } }, async (req) =>
    deps.health(req.principal !== undefined),
  );

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

  // Manual clock (GRIDHUB_CLOCK=manual): rehearsals and tests move hub time to run deadlines and
  // escalations.
  app.post(
    '/api/clock',
    {
      schema: {
        tags: ['system'],
        body: z.union([z.object({ advance: z.string() }).strict(), z.object({ set: timeParam }).strict()]),
      },
    },
    async (req) => {
      requireRole(req.principal);
      const clock = deps.clock;
      if (clock.kind !== 'manual' || !('advance' in clock)) {
        throw conflict('the hub runs on the system clock; start it with GRIDHUB_CLOCK=manual to move time');
      }
      const manual = clock as import('../../hub/clock.ts').ManualClock;
      if ('advance' in req.body) {
        const ms = parseDuration(req.body.advance);
        if (ms === undefined)
          throw badRequest(
            `body.advance: expected a duration like 30s, 15m, 2h or 1d, got "${req.body.advance}"`,
          );
        manual.advance(ms);
      } else manual.set(req.body.set);
      // Answer once the hub has caught up with its new time: absence, verification, escalation.
      await deps.rules.tickNow();
      return { now: new Date(manual.now()).toISOString() };
    },
  );
};

/** Server-sent events of case changes and device status (`GET /api/events`). */
export const eventRoutes = (deps: WebDeps) => async (app: App) => {
  app.get('/api/events', { schema: { tags: ['system'] } }, (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write(': gridhub live stream\n\n');
    const unsubscribe = deps.events.subscribe((e) => {
      res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    });
    const heartbeat = setInterval(() => res.write(': ping\n\n'), 15_000);
    heartbeat.unref();
    req.raw.on('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
    });
  });
};
