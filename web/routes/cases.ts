import { z } from 'zod';
import { CASE_SORTS } from '../../cases/index.ts';
import {
  CASE_STATUSES,
  calendarViewSchema,
  caseActionBody,
  caseDetailSchema,
  caseSummarySchema,
  caseViewSchema,
  categorySchema,
  kpiLevelSchema,
  MEDIA_ID_RE,
  newCaseBody,
  pageSchema,
  referenceViewSchema,
  urgencySchema,
} from '../../domain/index.ts';
import { badRequest } from '../../kernel/index.ts';
import { access, inScopeOr404, seesCase } from '../access.ts';
import type { App, WebDeps } from '../context.ts';
import { kpiAnswer } from '../responses.ts';
import { limitParam, timeParam } from '../schemas.ts';

const caseId = z.string().min(1).max(64);
const scopeFilter = (s: import('../access.ts').Scope) =>
  s.all ? undefined : s.unitId !== undefined ? { unitId: s.unitId } : { gridPrefixes: s.gridPrefixes };

export const caseRoutes = (deps: WebDeps) => async (app: App) => {
  const { cases, catalogue } = deps;

  app.get(
    '/api/cases',
    {
      config: { access: access.signedIn },
      schema: {
        response: { 200: pageSchema(caseViewSchema) },
        tags: ['cases'],
        querystring: z.object({
          status: z.enum(CASE_STATUSES).optional(),
          gridCode: z
            .string()
            .regex(/^[0-9]{6,15}$/, 'a grid, community, street or district code')
            .optional(),
          deviceId: z.string().max(128).optional(),
          ruleId: z.string().max(64).optional(),
          category: z.string().max(16).optional(),
          urgency: urgencySchema.optional(),
          overdue: z
            .enum(['true', 'false'])
            .transform((v) => v === 'true')
            .optional(),
          from: timeParam.optional(),
          to: timeParam.optional(),
          source: z.enum(['sensor', 'report']).optional(),
          // Sort column (default `opened`) and direction (default `desc`); a case without a
          // deadline comes last either way. The cursor belongs to the sort it was made with.
          sort: z.enum(CASE_SORTS).optional(),
          order: z.enum(['desc', 'asc']).optional(),
          limit: limitParam(500, 50),
          cursor: z
            .string()
            .max(256)
            .refine(
              (c) => /^-?\d{1,17}\|[^|]+$/.test(Buffer.from(c, 'base64url').toString('utf8')),
              'a cursor from a previous page',
            )
            .optional(),
        }),
      },
    },
    async (req) => cases.list({ ...req.query, scope: scopeFilter(await req.scope()) }),
  );

  app.get(
    '/api/cases/summary',
    {
      config: { access: access.signedIn },
      schema: {
        response: { 200: caseSummarySchema },
        tags: ['cases'],
        description:
          'Open cases per grid, counts by status, devices in alarm (the overview map); scoped like the case list.',
      },
    },
    async (req) => {
      const scope = await req.scope();
      if (scope.all) return cases.summary();
      if (scope.unitId !== undefined) return cases.summary({ assignee: scope.unitId });
      return cases.summary({ gridPrefixes: scope.gridPrefixes });
    },
  );

  app.get(
    '/api/cases/:id',
    {
      config: { access: access.signedIn },
      schema: { response: { 200: caseDetailSchema }, tags: ['cases'], params: z.object({ id: caseId }) },
    },
    async (req) => {
      const c = await cases.get(req.params.id, req.principal);
      inScopeOr404(seesCase(await req.scope(), c), 'case', req.params.id);
      return c;
    },
  );

  app.post(
    '/api/cases',
    {
      // Inspectors report only in their grids (checked by the case service: 403 naming the grid).
      config: { access: access.roles('operator', 'dispatcher', 'inspector'), audit: 'case.report' },
      bodyLimit: 64 * 1024,
      schema: {
        response: { 201: caseDetailSchema },
        tags: ['cases'],
        description: 'A case reported by a person (inspector on patrol, operator taking a call).',
        body: newCaseBody,
      },
    },
    async (req, reply) => {
      const p = req.principal!;
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
      // Which action a role may take on which case is the workflow's (403 naming the role); a
      // scoped user acting on a case outside its scope gets 404 as for a read.
      config: { access: access.roles('operator', 'dispatcher', 'unit', 'inspector'), audit: 'case.action' },
      bodyLimit: 16 * 1024,
      schema: {
        response: { 200: caseDetailSchema },
        tags: ['cases'],
        params: z.object({ id: caseId }),
        body: caseActionBody,
      },
    },
    async (req) => {
      const p = req.principal!;
      const scope = await req.scope();
      if (!scope.all) {
        const c = await cases.get(req.params.id, p);
        // An inspector may report and verify in its grids only; a unit acts on its cases only.
        inScopeOr404(seesCase(scope, c), 'case', req.params.id);
      }
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
      config: { access: access.signedIn },
      schema: {
        response: { 200: kpiAnswer },
        tags: ['cases'],
        querystring: z.object({
          from: timeParam,
          to: timeParam,
          level: kpiLevelSchema.default('grid'),
        }),
      },
    },
    async (req) => {
      if (req.query.from >= req.query.to) throw badRequest('querystring.from: must be before to');
      if (req.query.to - req.query.from > 5 * 366 * 86_400_000)
        throw badRequest('querystring.to: a KPI period is at most 5 years');
      return cases.kpis(req.query.from, req.query.to, req.query.level, scopeFilter(await req.scope()));
    },
  );

  // What every case page names, for every signed-in role: category names, unit names (dispatch
  // suggestions, the unit a case went to) and the working calendar (deadlines counted down in
  // working hours). Read-only and without identifiers beyond unit ids; managing these stays with
  // the admin-only routes below, as the contract's matrix says.
  app.get(
    '/api/reference',
    {
      config: { access: access.signedIn },
      schema: {
        tags: ['cases'],
        response: {
          200: referenceViewSchema,
        },
      },
    },
    async () => ({
      categories: catalogue.categories.list(),
      units: deps.people.units.list().map((u) => ({ id: u.id, name: u.name, categories: u.categories })),
      calendar: catalogue.calendar(),
      map: {
        tiles: deps.dashboard?.mapTiles ?? null,
        attribution: deps.dashboard?.mapAttribution ?? null,
      },
    }),
  );

  app.get(
    '/api/categories',
    {
      config: { access: access.admin },
      schema: { response: { 200: pageSchema(categorySchema) }, tags: ['cases'] },
    },
    async () => ({
      items: catalogue.categories.list(),
      next: null,
    }),
  );

  app.put(
    '/api/categories/:code',
    {
      config: { access: access.admin, audit: 'category.save' },
      schema: {
        response: { 200: categorySchema },
        tags: ['cases'],
        params: z.object({ code: z.string().max(16) }),
        body: categorySchema.omit({ code: true }),
      },
    },
    async (req) => {
      const parsed = categorySchema.safeParse({ ...req.body, code: req.params.code });
      if (!parsed.success) throw badRequest(`params.code: ${parsed.error.issues[0]?.message}`);
      return catalogue.categories.save(parsed.data);
    },
  );

  app.get(
    '/api/calendar',
    { config: { access: access.admin }, schema: { response: { 200: calendarViewSchema }, tags: ['cases'] } },
    async () => catalogue.calendar(),
  );

  app.put(
    '/api/calendar',
    {
      config: { access: access.admin, audit: 'calendar.set' },
      bodyLimit: 256 * 1024,
      schema: {
        response: { 200: calendarViewSchema },
        tags: ['cases'],
        body: z.record(z.string(), z.unknown()),
      },
    },
    async (req) => catalogue.setCalendar(req.body),
  );
};
