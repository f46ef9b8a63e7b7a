import { z } from 'zod';
import { backtestViewSchema, pageSchema, ruleBodySchema, ruleViewSchema } from '../../domain/index.ts';
import { badRequest, conflict, GridhubError } from '../../kernel/index.ts';
import type { Engine } from '../../rules/index.ts';
import { access } from '../access.ts';
import type { App, WebDeps } from '../context.ts';
import { noContent } from '../responses.ts';
import { timeParam } from '../schemas.ts';

const params = z.object({ id: z.string().min(1).max(64) });
// The rule body is the rule grammar (domain/rule-grammar.ts), so OpenAPI documents it and errors
// name the rule's fields; the engine validates the rule it saves again with the same grammar.
const body = ruleBodySchema;
const read = { access: access.roles('operator', 'dispatcher', 'viewer') };
const write = (audit: string) => ({ access: access.roles('operator'), audit });

export const ruleRoutes = (deps: WebDeps & { rules: Engine }) => async (app: App) => {
  const { rules } = deps;
  // One backtest at a time (issue 7, finding 5): a replay reads stored telemetry in bulk.
  let backtesting = false;

  app.get(
    '/api/rules',
    { config: read, schema: { response: { 200: pageSchema(ruleViewSchema) }, tags: ['rules'] } },
    async () => ({
      items: rules.list(),
      next: null,
    }),
  );
  app.get(
    '/api/rules/:id',
    { config: read, schema: { response: { 200: ruleViewSchema }, tags: ['rules'], params } },
    async (req) => rules.get(req.params.id),
  );
  app.post(
    '/api/rules',
    {
      config: write('rule.create'),
      bodyLimit: 64 * 1024,
      schema: { response: { 201: ruleViewSchema }, tags: ['rules'], body },
    },
    async (req, reply) => {
      const id = (req.body as { id?: unknown }).id;
      if (typeof id === 'string' && rules.list().some((r) => r.id === id)) {
        throw conflict(`rule '${id}' exists; PUT /api/rules/${id} changes it`);
      }
      return reply.code(201).send(await rules.save(req.body));
    },
  );
  app.put(
    '/api/rules/:id',
    {
      config: write('rule.save'),
      bodyLimit: 64 * 1024,
      schema: { response: { 200: ruleViewSchema }, tags: ['rules'], params, body },
    },
    async (req) => rules.save(req.body, req.params.id),
  );
  app.delete(
    '/api/rules/:id',
    { config: write('rule.delete'), schema: { response: { 204: noContent }, tags: ['rules'], params } },
    async (req, reply) => {
      await rules.remove(req.params.id);
      return reply.code(204).send();
    },
  );
  app.post(
    '/api/rules/:id/backtest',
    {
      config: write('rule.backtest'),
      schema: {
        response: { 200: backtestViewSchema },
        tags: ['rules'],
        params,
        querystring: z.object({ from: timeParam, to: timeParam }),
      },
    },
    async (req) => {
      if (req.query.from >= req.query.to) throw badRequest('querystring.from: must be before to');
      if (backtesting)
        throw new GridhubError('GRIDHUB_ERR_BUSY', 'a backtest is running; one at a time', 429, {
          retryAfterSeconds: 5,
        });
      backtesting = true;
      try {
        return await rules.backtest(req.params.id, req.query.from, req.query.to);
      } finally {
        backtesting = false;
      }
    },
  );
};
