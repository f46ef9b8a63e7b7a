import { z } from 'zod';
import { USER_ROLES } from '../../registry/index.ts';
import { requireRole } from '../auth.ts';
import type { App, WebDeps } from '../server.ts';

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'letters, digits and . _ @ -');
const gridCodes = z
  .array(z.string().regex(/^[0-9]{6,15}$/, 'a grid, community, street or district code'))
  .default([]);

export const peopleRoutes = (deps: WebDeps) => async (app: App) => {
  const { people } = deps;

  app.post(
    '/api/auth/login',
    {
      schema: {
        tags: ['people'],
        security: [],
        body: z
          .object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) })
          .strict(),
      },
    },
    async (req) => people.login(req.body.username, req.body.password),
  );

  app.get('/api/me', { schema: { tags: ['people'] } }, async (req) => req.principal);

  app.get('/api/users', { schema: { tags: ['people'] } }, async (req) => {
    requireRole(req.principal);
    return { items: people.users.list(), next: null };
  });

  app.post(
    '/api/users',
    {
      schema: {
        tags: ['people'],
        body: z
          .object({
            id,
            name: z.string().min(1).max(200),
            role: z.enum(USER_ROLES),
            unitId: z.string().nullable().default(null),
            gridCodes,
            password: z.string().min(8, 'at least 8 characters').max(256),
          })
          .strict(),
      },
    },
    async (req, reply) => {
      requireRole(req.principal);
      return reply.code(201).send(await people.users.create(req.body));
    },
  );

  app.delete(
    '/api/users/:id',
    { schema: { tags: ['people'], params: z.object({ id: z.string() }) } },
    async (req, reply) => {
      requireRole(req.principal);
      await people.users.delete(req.params.id);
      return reply.code(204).send();
    },
  );

  app.get('/api/units', { schema: { tags: ['people'] } }, async () => ({
    items: people.units.list(),
    next: null,
  }));

  app.put(
    '/api/units/:id',
    {
      schema: {
        tags: ['people'],
        params: z.object({ id }),
        body: z
          .object({
            name: z.string().min(1).max(200),
            categories: z.array(z.string().regex(/^[0-9]{4}$/, 'a 4-digit category code')).default([]),
            gridCodes,
          })
          .strict(),
      },
    },
    async (req) => {
      requireRole(req.principal);
      return people.units.upsert({ id: req.params.id, ...req.body });
    },
  );
};
