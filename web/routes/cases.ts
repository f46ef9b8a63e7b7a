import { z } from 'zod';
import { CASE_ACTIONS, CASE_STATUSES, categorySchema } from '../../cases/index.ts';
import { badRequest } from '../../hub/errors.ts';
import { requireRole } from '../auth.ts';
import { limitParam, location, timeParam } from '../schemas.ts';
import type { App, WebDeps } from '../server.ts';

const urgency = z.enum(['low', 'normal', 'urgent']);

export const caseRoutes = (deps: WebDeps) => async (app: App) => {
  const { cases, catalogue } = deps;

  app.get(
    '/api/cases',
    {
      schema: {
        tags: ['cases'],
        querystring: z.object({
          status: z.enum(CASE_STATUSES).optional(),
          gridCode: z
            .string()
            .regex(/^[0-9]{6,15}$/, 'a grid, community, street or district code')
            .optional(),
          deviceId: z.string().optional(),
          ruleId: z.string().optional(),
          category: z.string().optional(),
          urgency: urgency.optional(),
          overdue: z
            .enum(['true', 'false'])
            .transform((v) => v === 'true')
            .optional(),
          from: timeParam.optional(),
          to: timeParam.optional(),
          limit: limitParam(500, 50),
          cursor: z.string().optional(),
        }),
      },
    },
    async (req) => cases.list(req.query),
  );

  app.get(
    '/api/cases/:id',
    { schema: { tags: ['cases'], params: z.object({ id: z.string() }) } },
    async (req) => cases.get(req.params.id, req.principal),
  );

  app.post(
    '/api/cases',
    {
      schema: {
        tags: ['cases'],
        description: 'A case reported by a person (inspector on patrol, operator taking a call).',
        body: z
          .object({
            category: z.string().regex(/^[0-9]{4}$/, 'a 4-digit category code'),
            description: z.string().min(1).max(2000),
            location: location.optional(),
            gridCode: z
              .string()
              .regex(/^[0-9]{15}$/, 'a 15-digit grid code')
              .optional(),
            photos: z.array(z.string().max(2048)).max(10).optional(),
            urgency: urgency.optional(),
          })
          .strict(),
      },
    },
    async (req, reply) => {
      const p = requireRole(req.principal, 'inspector', 'operator');
      if (!req.body.location && !req.body.gridCode)
        throw badRequest('body.location: a location or a gridCode is required');
      const c = await cases.report(req.body, p);
      return reply.code(201).send(await cases.get(c.id, p));
    },
  );

  app.post(
    '/api/cases/:id/actions',
    {
      schema: {
        tags: ['cases'],
        params: z.object({ id: z.string() }),
        body: z
          .object({
            action: z.enum(CASE_ACTIONS),
            note: z.string().max(2000).optional(),
            assignee: z.string().max(64).optional(),
          })
          .strict(),
      },
    },
    async (req) => {
      const p = requireRole(req.principal, 'operator', 'dispatcher', 'unit', 'inspector', 'viewer');
      await cases.act(req.params.id, req.body.action, {
        principal: p,
        note: req.body.note,
        assignee: req.body.assignee,
      });
      return cases.get(req.params.id, p);
    },
  );

  app.get(
    '/api/kpis',
    {
      schema: {
        tags: ['cases'],
        querystring: z.object({
          from: timeParam,
          to: timeParam,
          level: z.enum(['grid', 'community', 'street', 'district', 'unit']).default('grid'),
        }),
      },
    },
    async (req) => {
      if (req.query.from >= req.query.to) throw badRequest('querystring.from: must be before to');
      return cases.kpis(req.query.from, req.query.to, req.query.level);
    },
  );

  app.get('/api/categories', { schema: { tags: ['cases'] } }, async () => ({
    items: catalogue.categories.list(),
    next: null,
  }));

  app.put(
    '/api/categories/:code',
    {
      schema: {
        tags: ['cases'],
        params: z.object({ code: z.string() }),
        body: categorySchema.omit({ code: true }),
      },
    },
    async (req) => {
      requireRole(req.principal);
      const parsed = categorySchema.safeParse({ ...req.body, code: req.params.code });
      if (!parsed.success) throw badRequest(`params.code: ${parsed.error.issues[0]?.message}`);
      return catalogue.categories.save(parsed.data);
    },
  );

  app.get('/api/calendar', { schema: { tags: ['cases'] } }, async () => catalogue.calendar());

  app.put(
    '/api/calendar',
    { schema: { tags: ['cases'], body: z.record(z.string(), z.unknown()) } },
    async (req) => {
      requireRole(req.principal);
      return catalogue.setCalendar(req.body);
    },
  );
};
