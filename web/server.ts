import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { createWebSocketStream } from 'ws';
import type { Clock } from '../hub/clock.ts';
import { GridhubError } from '../hub/errors.ts';
import type { Logger } from '../hub/logger.ts';
import type { Metrics } from '../hub/metrics.ts';
import type { Ingest } from '../ingest/index.ts';
import type { People, Registry } from '../registry/index.ts';
import type { TelemetryReader } from '../store/index.ts';
import { createAuth, type Principal } from './auth.ts';
import { cameraRoutes } from './routes/cameras.ts';
import { caseRoutes } from './routes/cases.ts';
import { deviceRoutes } from './routes/devices.ts';
import { gridRoutes } from './routes/grids.ts';
import { peopleRoutes } from './routes/people.ts';
import { ruleRoutes } from './routes/rules.ts';
import { eventRoutes, systemRoutes } from './routes/system.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export interface WebDeps {
  registry: Registry;
  people: People;
  cases: import('../cases/index.ts').CaseService;
  rules: import('../rules/engine.ts').Engine;
  catalogue: import('../cases/index.ts').Catalogue;
  events: import('../hub/events.ts').EventBus;
  reader: TelemetryReader;
  ingest: Ingest;
  metrics: Metrics;
  clock: Clock;
  logger: Logger;
  adminToken: string;
  /** HTTPS when a certificate is configured. */
  tls?: { cert: Buffer; key: Buffer };
  timezone: string;
  version: string;
  health: (signedIn?: boolean) => Record<string, unknown>;
  /** Cameras: live view and stream state (video/). */
  video?: import('../video/index.ts').Video;
  /** Publishes to one device on its own topic (hub → device). */
  sendToDevice: (deviceId: string, topic: string, payload: unknown) => Promise<void>;
  /** Each upgraded /mqtt WebSocket becomes an MQTT connection. */
  mqttStream: (stream: import('node:stream').Duplex) => void;
}

export type App = FastifyInstance<
  import('node:http').Server,
  import('node:http').IncomingMessage,
  import('node:http').ServerResponse,
  import('fastify').FastifyBaseLogger,
  ZodTypeProvider
>;

/** Names the field and the problem for each issue of a request that failed its schema. */
function validationMessage(
  err: FastifyError & { validation?: unknown[]; validationContext?: string },
): string {
  const issues = (err.validation ?? []) as {
    instancePath?: string;
    message?: string;
    params?: { issue?: { path?: PropertyKey[] } };
  }[];
  return issues
    .map((i) => {
      const path = i.params?.issue?.path?.join('.') || i.instancePath?.replace(/^\//, '').replace(/\//g, '.');
      return `${err.validationContext ?? 'request'}${path ? `.${path}` : ''}: ${i.message}`;
    })
    .join('; ');
}

export async function createWeb(deps: WebDeps): Promise<App> {
  const app = Fastify({
    ...(deps.tls ? { https: { cert: deps.tls.cert, key: deps.tls.key } } : {}),
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Error bodies name problems; 5xx never leak internals (see the error handler).
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const counted = deps.metrics.counter('gridhub_http_requests_total', 'HTTP requests, by status class');
  app.addHook('onResponse', async (_req, reply) => {
    counted.inc({ status: `${Math.floor(reply.statusCode / 100)}xx` });
  });

  app.setErrorHandler((err: FastifyError & { validationContext?: string }, req, reply) => {
    if (err instanceof GridhubError) {
      return reply
        .code(err.statusCode)
        .send({ error: { code: err.code, message: err.message, ...err.details } });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      return reply
        .code(400)
        .send({ error: { code: 'GRIDHUB_ERR_VALIDATION', message: validationMessage(err) } });
    }
    const status = err.statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send({ error: { code: 'GRIDHUB_ERR_BAD_REQUEST', message: err.message } });
    }
    req.log.error({ err, url: req.url, method: req.method }, 'request failed');
    return reply
      .code(500)
      .send({ error: { code: 'GRIDHUB_ERR_INTERNAL', message: 'internal error (see the hub log)' } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      error: { code: 'GRIDHUB_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` },
    }),
  );

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'gridhub API',
        version: deps.version,
        description: 'IoT and sensor hub for urban grid management',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  await app.register(fastifyWebsocket, { options: { maxPayload: 1024 * 1024 } });

  const authenticate = createAuth({
    adminToken: deps.adminToken,
    resolveUser: (token) => {
      const u = deps.people.userForToken(token);
      return u && { kind: 'user', role: u.role, userId: u.id, unitId: u.unitId, gridCodes: u.gridCodes };
    },
  });
  const PUBLIC = new Set(['/api/health', '/api/auth/login']);
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0]!;
    if (!path.startsWith('/api/')) return;
    if (PUBLIC.has(path)) {
      // Public routes may still show more to a signed-in caller (health: video counts).
      if (req.headers.authorization) {
        try {
          req.principal = authenticate(req);
        } catch {}
      }
      return;
    }
    req.principal = authenticate(req);
  });

  app.get('/mqtt', { websocket: true, schema: { hide: true } }, (socket) => {
    deps.mqttStream(createWebSocketStream(socket));
  });

  await app.register(systemRoutes(deps));
  await app.register(gridRoutes(deps));
  await app.register(deviceRoutes(deps));
  await app.register(peopleRoutes(deps));
  await app.register(eventRoutes(deps));
  await app.register(caseRoutes(deps));
  await app.register(ruleRoutes(deps));
  if (deps.video) await app.register(cameraRoutes({ ...deps, video: deps.video }));
  return app as unknown as App;
}
