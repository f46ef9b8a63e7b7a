import { z } from 'zod';
import {
  loginAnswerSchema,
  meSchema,
  pageSchema,
  roleSchema,
  unitBody,
  unitViewSchema,
  userViewSchema,
} from '../../domain/index.ts';
import { badRequest } from '../../kernel/index.ts';
import { access } from '../access.ts';
import { clearedSessionCookie, readCookie, SESSION_COOKIE, sessionCookie } from '../auth.ts';
import type { App, WebDeps } from '../context.ts';
import { noContent } from '../responses.ts';

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'letters, digits and . _ @ -');
const gridCodes = z
  .array(z.string().regex(/^[0-9]{6,15}$/, 'a grid, community, street or district code'))
  .max(1000);
// The policy itself (length, common passwords, the user's name) is checked by registry/passwords.ts.
const password = z.string().min(1).max(256);
const unitRef = z.string().max(64).nullable();

/** The session token a request came with (bearer or cookie), to end it or keep it. */
function sessionToken(req: import('fastify').FastifyRequest): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m ? m[1] : readCookie(req.headers.cookie, SESSION_COOKIE);
}

export const peopleRoutes = (deps: WebDeps) => async (app: App) => {
  const { people } = deps;

  app.post(
    '/api/auth/login',
    {
      config: { access: access.public, audit: 'auth.login' },
      bodyLimit: 4 * 1024,
      schema: {
        response: { 200: loginAnswerSchema },
        tags: ['people'],
        security: [],
        description:
          'Signs in: a bearer token for scripts and the HttpOnly session cookie for the browser. Throttled per user and per address (429 with Retry-After).',
        body: z
          .object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) })
          .strict(),
      },
    },
    async (req, reply) => {
      const s = await people.login(req.body.username, req.body.password, req.ip);
      reply.header('set-cookie', sessionCookie(s.token, req.protocol === 'https'));
      reply.header('cache-control', 'no-store');
      const u = s.user;
      return {
        token: s.token,
        expiresAt: s.expiresAt,
        user: { id: u.id, name: u.name, role: u.role, unitId: u.unitId, gridCodes: u.gridCodes },
      };
    },
  );

  app.post(
    '/api/auth/logout',
    {
      config: { access: access.signedIn, audit: 'auth.logout' },
      schema: { response: { 204: noContent }, tags: ['people'] },
    },
    async (req, reply) => {
      const token = req.principal?.via === 'admin-token' ? undefined : sessionToken(req);
      if (token) await people.logout(token);
      reply.header('set-cookie', clearedSessionCookie(req.protocol === 'https'));
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/me',
    { config: { access: access.signedIn }, schema: { response: { 200: meSchema }, tags: ['people'] } },
    async (req) => {
      const p = req.principal!;
      return {
        kind: p.kind,
        id: p.userId ?? null,
        name: p.name ?? (p.kind === 'admin' ? 'admin token' : null),
        role: p.role,
        unitId: p.unitId ?? null,
        gridCodes: p.gridCodes ?? [],
        via: p.via,
      };
    },
  );

  app.post(
    '/api/me/password',
    {
      config: { access: access.signedIn, audit: 'me.password' },
      bodyLimit: 4 * 1024,
      schema: {
        response: { 200: z.object({ changed: z.boolean(), endedSessions: z.number() }) },
        tags: ['people'],
        description: 'Changes your own password; your other sessions end.',
        body: z.object({ currentPassword: password, newPassword: password }).strict(),
      },
    },
    async (req) => {
      const p = req.principal!;
      if (!p.userId) throw badRequest('the admin token has no password; sign in as a user');
      const ended = await people.changePassword(
        p.userId,
        req.body.currentPassword,
        req.body.newPassword,
        sessionToken(req),
        req.ip,
      );
      return { changed: true, endedSessions: ended };
    },
  );

  app.get(
    '/api/users',
    {
      config: { access: access.admin },
      schema: { response: { 200: pageSchema(userViewSchema) }, tags: ['people'] },
    },
    async () => ({
      items: people.users.list(),
      next: null,
    }),
  );

  app.post(
    '/api/users',
    {
      config: { access: access.admin, audit: 'user.create' },
      bodyLimit: 64 * 1024,
      schema: {
        response: { 201: userViewSchema },
        tags: ['people'],
        body: z
          .object({
            id,
            name: z.string().min(1).max(200),
            role: roleSchema,
            unitId: unitRef.default(null),
            gridCodes: gridCodes.default([]),
            password,
          })
          .strict(),
      },
    },
    async (req, reply) => reply.code(201).send(await people.users.create(req.body)),
  );

  app.patch(
    '/api/users/:id',
    {
      config: { access: access.admin, audit: 'user.update' },
      bodyLimit: 64 * 1024,
      schema: {
        response: { 200: userViewSchema },
        tags: ['people'],
        description: "Changes a user; a new password, role, unit or grids end the user's sessions.",
        params: z.object({ id }),
        body: z
          .object({
            name: z.string().min(1).max(200).optional(),
            role: roleSchema.optional(),
            unitId: unitRef.optional(),
            gridCodes: gridCodes.optional(),
            password: password.optional(),
          })
          .strict(),
      },
    },
    async (req) => people.users.update(req.params.id, req.body),
  );

  app.delete(
    '/api/users/:id',
    {
      config: { access: access.admin, audit: 'user.delete' },
      schema: {
        response: { 204: noContent },
        tags: ['people'],
        params: z.object({ id: z.string().max(64) }),
      },
    },
    async (req, reply) => {
      await people.users.delete(req.params.id);
      return reply.code(204).send();
    },
  );

  // Everyone who sees cases reads unit names through GET /api/reference; the full list is admin's.
  app.get(
    '/api/units',
    {
      config: { access: access.admin },
      schema: { response: { 200: pageSchema(unitViewSchema) }, tags: ['people'] },
    },
    async () => ({
      items: people.units.list(),
      next: null,
    }),
  );

  app.put(
    '/api/units/:id',
    {
      config: { access: access.admin, audit: 'unit.save' },
      bodyLimit: 64 * 1024,
      schema: {
        response: { 200: unitViewSchema },
        tags: ['people'],
        params: z.object({ id }),
        // Shared with the dashboard's unit form (domain/units.ts).
        body: unitBody,
      },
    },
    async (req) => people.units.upsert({ id: req.params.id, ...req.body }),
  );
};
