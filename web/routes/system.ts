import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { pageSchema, RULE_READER_ROLES } from '../../domain/index.ts';
import { badRequest, conflict, GridhubError, parseDuration, unauthorized } from '../../kernel/index.ts';
import { access, seesCase, seesDevice } from '../access.ts';
import type { Audit } from '../audit.ts';
import type { App, SecurityOptions, WebDeps } from '../context.ts';
import { auditAnswer, clockAnswer, healthAnswer, rawAnswer, rejectedAnswer } from '../responses.ts';
import { limitParam, timeParam } from '../schemas.ts';

// What anyone may read of the health answer: the state of each part, no counts, versions or
// identifiers (contract.md); signed-in users get everything.
const PUBLIC_HEALTH = ['status', 'http', 'mqtt', 'mqtts', 'clock', 'store', 'video'];
function publicHealth(h: Record<string, unknown>) {
  const out: Record<string, unknown> = {};
  for (const k of PUBLIC_HEALTH) {
    const v = h[k];
    if (v === undefined) continue;
    if (k === 'video' && v && typeof v === 'object') {
      const { state, status, reason } = v as Record<string, unknown>;
      out[k] = { state, status, reason };
    } else out[k] = v;
  }
  return out;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export const systemRoutes =
  (deps: WebDeps & { security: SecurityOptions; audit: Audit }) => async (app: App) => {
    app.get(
      '/api/health',
      {
        config: { access: access.optional },
        schema: { response: { 200: healthAnswer }, tags: ['system'], security: [] },
      },
      async (req) => (req.principal ? deps.health() : publicHealth(deps.health())),
    );

    // Public unless GRIDHUB_METRICS_TOKEN is set; it never carries device ids (labels are reasons,
    // statuses and modules only).
    const metricsToken = deps.security.metricsToken ? digest(deps.security.metricsToken) : null;
    app.get(
      '/metrics',
      {
        config: { access: access.public },
        schema: {
          response: { 200: rawAnswer('Prometheus text exposition format 0.0.4') },
          tags: ['system'],
          security: [],
        },
      },
      async (req, reply) => {
        if (metricsToken) {
          const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
          if (!m || !timingSafeEqual(digest(m[1]!), metricsToken))
            throw unauthorized(
              'GET /metrics needs the metrics token (GRIDHUB_METRICS_TOKEN) as a bearer token',
            );
        }
        return reply.type('text/plain; version=0.0.4; charset=utf-8').send(deps.metrics.render());
      },
    );

    app.get(
      '/api/audit',
      {
        config: { access: access.admin },
        schema: {
          response: { 200: pageSchema(auditAnswer) },
          tags: ['system'],
          description: 'The audit log: every change made through the API, newest first.',
          querystring: z.object({
            actor: z.string().max(64).optional(),
            action: z.string().max(64).optional(),
            outcome: z.enum(['ok', 'denied', 'failed']).optional(),
            from: timeParam.optional(),
            to: timeParam.optional(),
            limit: limitParam(1000, 100),
            cursor: z
              .string()
              .regex(/^\d{1,18}$/, 'a cursor from a previous page')
              .optional(),
          }),
        },
      },
      async (req) => {
        await deps.audit.flush();
        return deps.audit.list(req.query);
      },
    );

    app.get(
      '/api/rejected',
      {
        config: { access: access.admin },
        schema: {
          response: { 200: pageSchema(rejectedAnswer) },
          tags: ['telemetry'],
          querystring: z.object({
            deviceId: z.string().max(128).optional(),
            from: timeParam.optional(),
            to: timeParam.optional(),
            limit: limitParam(1000, 100),
            cursor: z
              .string()
              .regex(/^\d{1,18}$/, 'a cursor from a previous page')
              .optional(),
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
        config: { access: access.admin, audit: 'clock.move' },
        bodyLimit: 4 * 1024,
        schema: {
          response: { 200: clockAnswer },
          tags: ['system'],
          body: z.union([z.object({ advance: z.string() }).strict(), z.object({ set: timeParam }).strict()]),
        },
      },
      async (req) => {
        const clock = deps.clock;
        if (clock.kind !== 'manual' || !('advance' in clock)) {
          throw conflict('the hub runs on the system clock; start it with GRIDHUB_CLOCK=manual to move time');
        }
        const manual = clock as import('../../kernel/index.ts').ManualClock;
        if ('advance' in req.body) {
          const ms = parseDuration(req.body.advance);
          if (ms === undefined || !Number.isFinite(ms) || ms > 10 * 366 * 86_400_000)
            throw badRequest(
              `body.advance: expected a duration like 30s, 15m, 2h or 1d, got "${req.body.advance}"`,
            );
          manual.advance(ms);
        } else manual.set(req.body.set);
        // Answer once the hub has caught up with its new time, in flow order: the rules' absence
        // and expiry (and the case work they queue), then the cases' verification and escalation.
        await deps.rules.tickNow();
        await deps.cases.tickNow();
        return { now: new Date(manual.now()).toISOString() };
      },
    );
  };

/**
 * Server-sent events of case changes and device status (`GET /api/events`), filtered to what the
 * principal may see. Bounded (issue 7, finding 4): at most `maxEventClients` streams; a client
 * that does not keep up (more than 256 KiB waiting in its socket buffer) is dropped rather than
 * buffered without limit; every stream is ended when the hub stops.
 */
export const eventRoutes = (deps: WebDeps & { security: SecurityOptions }) => async (app: App) => {
  const streams = new Set<import('node:http').ServerResponse>();
  const dropped = deps.metrics.counter(
    'gridhub_events_clients_dropped_total',
    'live stream clients dropped, by reason',
  );
  const MAX_BUFFERED = 256 * 1024;
  app.addHook('preClose', async () => {
    for (const res of streams) res.end();
    streams.clear();
  });

  app.get(
    '/api/events',
    {
      config: { access: access.signedIn },
      schema: {
        response: { 200: rawAnswer('text/event-stream: one JSON event per message') },
        tags: ['system'],
      },
    },
    async (req, reply) => {
      if (streams.size >= deps.security.maxEventClients) {
        dropped.inc({ reason: 'cap' });
        throw new GridhubError(
          'GRIDHUB_ERR_BUSY',
          `the live stream has its maximum of ${deps.security.maxEventClients} clients; try again later`,
          503,
          { retryAfterSeconds: 10 },
        );
      }
      const principal = req.principal!;
      let scope = await req.scope();
      const readsRules = RULE_READER_ROLES.includes(principal.role);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-content-type-options': 'nosniff',
      });
      streams.add(res);
      const send = (text: string) => {
        if (res.writableLength > MAX_BUFFERED) {
          dropped.inc({ reason: 'slow' });
          res.destroy();
          return;
        }
        res.write(text);
      };
      send(': gridhub live stream\n\n');
      let refreshing: Promise<void> | undefined;
      const unsubscribe = deps.events.subscribe((e) => {
        if (!scope.all) {
          if (e.type === 'case') {
            // A dispatch changes what a unit may see: refresh its devices before the next event.
            if (scope.unitId !== undefined && e.assignee === scope.unitId) {
              refreshing = deps.cases.unitScope(scope.unitId).then(
                (s) => {
                  scope = { ...scope, gridPrefixes: s.gridCodes, deviceIds: new Set(s.deviceIds) };
                },
                () => {},
              );
            }
            if (!seesCase(scope, e)) return;
          } else if (e.type === 'device') {
            const d = deps.registry.devices.find(e.deviceId);
            if (!d || !seesDevice(scope, d)) return;
          } else if (!readsRules) return;
        } else if (e.type === 'rule' && !readsRules) return;
        send(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
      });
      void refreshing;
      const heartbeat = setInterval(() => send(': ping\n\n'), 15_000);
      heartbeat.unref();
      res.on('close', () => {
        streams.delete(res);
        clearInterval(heartbeat);
        unsubscribe();
      });
    },
  );
};
