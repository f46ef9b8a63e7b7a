import { z } from 'zod';
import { CASE_STATUSES, categorySchema } from '../../cases/index.ts';
import { caseActionBody, MEDIA_ID_RE, newCaseBody } from '../../cases/schemas.ts';
import { badRequest } from '../../hub/errors.ts';
import { requireRole } from '../auth.ts';
import { limitParam, timeParam } from '../schemas.ts';
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
          source: z.enum(['sensor', 'report']).optional(),
          order: z.enum(['desc', 'asc']).optional(),
          limit: limitParam(500, 50),
          cursor: z.string().optional(),
        }),
      },
    },
    async (req) => cases.list(req.query),
  );

  app.get(
    '/api/cases/summary',
    {
      schema: {
        tags: ['cases'],
        description: 'Open cases per grid, counts by status, devices in alarm (the overview map).',
      },
    },
    async (req) => {
      const p = requireRole(req.principal, 'operator', 'dispatcher', 'unit', 'inspector', 'viewer');
      if (p.role === 'inspector') return cases.summary({ gridPrefixes: p.gridCodes ?? [] });
      if (p.role === 'unit') return cases.summary({ assignee: p.unitId ?? '' });
      return cases.summary();
    },
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
        body: newCaseBody,
      },
    },
    async (req, reply) => {
      const p = requireRole(req.principal, 'inspector', 'operator');
      if (!req.body.location && !req.body.gridCode)
        throw badRequest('body.location: a location or a gridCode is required');
      // Photos uploaded through POST /api/media are named by id: each must exist and be unclaimed.
      const photos = req.body.photos ?? [];
      for (const [i, ph] of photos.entries()) {
        if (!MEDIA_ID_RE.test(ph)) continue;
        const m = await app.media.meta(ph);
        if (!m || m.caseId) throw badRequest(`body.photos.${i}: no uploaded photo '${ph}'`);
      }
      const c = await cases.report(req.body, p);
      for (const ph of photos) if (MEDIA_ID_RE.test(ph)) await app.media.link(ph, c.id);
      return reply.code(201).send(await cases.get(c.id, p));
    },
  );

  app.post(
    '/api/cases/:id/actions',
    {
      schema: {
        tags: ['cases'],
        params: z.object({ id: z.string() }),
        body: caseActionBody,
      },
    },
    async (req) => {
      const p = requireRole(req.principal, 'operator', 'dispatcher', 'unit', 'inspector', 'viewer');
      // Photos taken for this action (uploaded by the same user, not yet part of a case) are
      // linked to the case and named in the timeline note.
      const photos = req.body.photos ?? [];
      const me = p.userId ?? p.kind;
      for (const [i, ph] of photos.entries()) {
        const m = await app.media.meta(ph);
        if (!m || m.caseId || m.uploadedBy !== me)
          throw badRequest(`body.photos.${i}: no uploaded photo '${ph}'`);
      }
      const note = [req.body.note, ...photos.map((ph) => `/api/media/${ph}`)].filter(Boolean).join(' ');
      await cases.act(req.params.id, req.body.action, {
        principal: p,
        note: note || undefined,
        assignee: req.body.assignee,
      });
      for (const ph of photos) await app.media.link(ph, req.params.id);
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
