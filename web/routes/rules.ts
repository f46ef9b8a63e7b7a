import { z } from 'zod';
import { badRequest, conflict } from '../../hub/errors.ts';
import type { Engine } from '../../rules/engine.ts';
import { requireRole } from '../auth.ts';
import { timeParam } from '../schemas.ts';
import type { App, WebDeps } from '../server.ts';

const params = z.object({ id: z.string().min(1).max(64) });
// The rule body is validated by the rules' own schema, so errors name the rule's fields.
const body = z.record(z.string(), z.unknown());

export const ruleRoutes = (deps: WebDeps & { rules: Engine }) => async (app: App) => {
  const { rules } = deps;
  app.get('/api/rules', { schema: { tags: ['rules'] } }, async () => ({ items: rules.list(), next: null }));
  app.get('/api/rules/:id', { schema: { tags: ['rules'], params } }, async (req) => rules.get(req.params.id));
  app.post('/api/rules', { schema: { tags: ['rules'], body } }, async (req, reply) => {
    requireRole(req.principal);
    const id = (req.body as { id?: unknown }).id;
    if (typeof id === 'string' && rules.list().some((r) => r.id === id)) {
      throw conflict(`rule '${id}' exists; PUT /api/rules/${id} changes it`);
    }
    return reply.code(201).send(await rules.save(req.body));
  });
  app.put('/api/rules/:id', { schema: { tags: ['rules'], params, body } }, async (req) => {
    requireRole(req.principal);
    return rules.save(req.body, req.params.id);
  });
  app.delete('/api/rules/:id', { schema: { tags: ['rules'], params } }, async (req, reply) => {
    requireRole(req.principal);
    await rules.remove(req.params.id);
    return reply.code(204).send();
  });
  app.post(
    '/api/rules/:id/backtest',
    { schema: { tags: ['rules'], params, querystring: z.object({ from: timeParam, to: timeParam }) } },
    async (req) => {
      if (req.query.from >= req.query.to) throw badRequest('querystring.from: must be before to');
      return rules.backtest(req.params.id, req.query.from, req.query.to);
    },
  );
};
