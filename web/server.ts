import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyCors from '@fastify/cors';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, { type FastifyError, LogController } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { createWebSocketStream } from 'ws';
import { MEDIA_MAX_BYTES_DEFAULT } from '../domain/index.ts';
import { GridhubError } from '../kernel/index.ts';
import { createMediaStore } from '../store/index.ts';
import { access, authorise, checkRouteDeclaration, FULL_SCOPE, type Scope, scopeOf } from './access.ts';
import { createAudit } from './audit.ts';
import { createAuth } from './auth.ts';
import type { App, SecurityOptions, WebDeps } from './context.ts';
import { cameraRoutes } from './routes/cameras.ts';
import { caseRoutes } from './routes/cases.ts';
import { deviceRoutes } from './routes/devices.ts';
import { gridRoutes } from './routes/grids.ts';
import { mediaRoutes } from './routes/media.ts';
import { peopleRoutes } from './routes/people.ts';
import { ruleRoutes } from './routes/rules.ts';
import { eventRoutes, systemRoutes } from './routes/system.ts';
import { UI_DIST } from './ui-bundle.ts';

/** Names the field and the problem for each issue of a request that failed its schema. */
function validationMessage(
  err: FastifyError & { validation?: unknown[]; validationContext?: string },
): string {
  const issues = (err.validation ?? []) as {
    keyword?: string;
    instancePath?: string;
    message?: string;
    params?: { issue?: { path?: PropertyKey[] }; keys?: unknown };
  }[];
  const where = (path: string | undefined) =>
    `${err.validationContext ?? 'request'}${path ? `.${path}` : ''}`;
  return issues
    .flatMap((i) => {
      const path = i.params?.issue?.path?.join('.') || i.instancePath?.replace(/^\//, '').replace(/\//g, '.');
      // Each unknown field by its own path, as the rule grammar's errors name them (formatIssues).
      const keys = i.params?.keys;
      if (i.keyword === 'unrecognized_keys' && Array.isArray(keys) && keys.length)
        return keys.map((k) => `${where(path ? `${path}.${String(k)}` : String(k))}: unknown field`);
      return [`${where(path)}: ${i.message}`];
    })
    .join('; ');
}

const numericOr = (v: boolean | string): boolean | string | number =>
  typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;

/** True when a value (params, query, body) carries a NUL anywhere: the store refuses U+0000. */
function hasNul(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return v.includes('\u0000');
  if (depth > 32 || v === null || typeof v !== 'object') return false;
  // A binary body (a photo) is bytes, not text: NULs are normal there, and walking it entry by
  // entry took seconds for 5 MB.
  if (v instanceof Uint8Array) return false;
  if (Array.isArray(v)) return v.some((x) => hasNul(x, depth + 1));
  return Object.entries(v).some(([k, x]) => k.includes('\u0000') || hasNul(x, depth + 1));
}

export async function createWeb(deps: WebDeps): Promise<App> {
  const security: SecurityOptions = {
    trustProxy: false,
    corsOrigins: [],
    auditRetentionDays: 365,
    maxEventClients: 200,
    ...deps.security,
  };
  const app = Fastify({
    ...(deps.tls ? { https: { cert: deps.tls.cert, key: deps.tls.key } } : {}),
    loggerInstance: deps.logger,
    // Registering the API docs' static files can take over Fastify's default 10 s on a busy
    // machine; a slow start is not a reason to refuse to start.
    pluginTimeout: 120_000,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Error bodies name problems; 5xx never leak internals (see the error handler).
    return503OnClosing: true,
    // Slow-loris: a request must arrive whole within 30 s; idle keep-alive sockets close after 10 s.
    requestTimeout: 30_000,
    connectionTimeout: 0,
    keepAliveTimeout: 10_000,
    // Which forwarded addresses count (throttles, audit log) behind a TLS-terminating proxy.
    trustProxy: numericOr(security.trustProxy) as never,
    routerOptions: { maxParamLength: 256 },
  }).withTypeProvider<ZodTypeProvider>();
  // Deny by default: a route that does not say who may call it is refused at registration.
  // The table of what was registered, with each route's declaration (the route-table test walks it).
  const routeTable: { method: string; url: string; access: unknown; audit?: string }[] = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (route) => {
    checkRouteDeclaration(route as never);
    for (const method of Array.isArray(route.method) ? route.method : [route.method])
      routeTable.push({ method, url: route.url, access: route.config?.access, audit: route.config?.audit });
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const counted = deps.metrics.counter('gridhub_http_requests_total', 'HTTP requests, by status class');
  const duration = deps.metrics.histogram(
    'gridhub_http_request_duration_seconds',
    'HTTP requests: from the request read to the response sent, by method and route template (none: no route matched)',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  app.addHook('onResponse', async (req, reply) => {
    counted.inc({ status: `${Math.floor(reply.statusCode / 100)}xx` });
    // Route templates only (a bounded set of label values), never the URL as sent.
    duration.observe(reply.elapsedTime / 1000, { method: req.method, route: req.routeOptions.url ?? 'none' });
    // A refused WebSocket upgrade: its socket left the HTTP server's keeping when it asked to
    // upgrade, so nothing would ever close it (and the hub could not stop). Close it here.
    if (reply.statusCode >= 400 && req.headers.upgrade) req.raw.socket?.destroySoon?.();
  });

  app.setErrorHandler((err: FastifyError & { validationContext?: string }, req, reply) => {
    if (err instanceof GridhubError) {
      const retry = err.details?.retryAfterSeconds;
      if (typeof retry === 'number') reply.header('retry-after', String(retry));
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
  // The dashboard (a single-page app): any GET outside the API that is not a file answers its
  // index.html, so deep links (/cases/C…) work after a reload.
  const uiDir = deps.uiDir ?? UI_DIST;
  const uiIndex = existsSync(join(uiDir, 'index.html'));
  if (!uiIndex)
    deps.logger.warn(
      { uiDir },
      'dashboard bundle missing: `/` answers 503 until it is built (npm run build:ui)',
    );
  // A missing hashed asset is a 404, not the page.
  const NOT_UI = /^\/(?:api|docs|metrics|mqtt|assets)(?:\/|$)/;
  app.setNotFoundHandler((req, reply) => {
    // Decoded and without the absolute form, as the router sees it (`/%61ssets/x` is `/assets/x`).
    let path = req.url.split('?')[0]!;
    try {
      path = decodeURIComponent(new URL(req.url, 'http://hub').pathname);
    } catch {}
    if ((req.method === 'GET' || req.method === 'HEAD') && !NOT_UI.test(path)) {
      if (!uiIndex)
        return reply
          .code(503)
          .type('text/plain; charset=utf-8')
          .send(
            'gridhub: the dashboard bundle is missing. Build it with `npm run build:ui` (npm ci does it).\n',
          );
      return reply.header('cache-control', 'no-cache').sendFile('index.html', uiDir);
    }
    return reply.code(404).send({
      error: { code: 'GRIDHUB_ERR_NOT_FOUND', message: `no route ${req.method} ${path}` },
    });
  });
  if (uiIndex) {
    // reply.sendFile only; the one route below serves the hashed assets (public, like the page).
    await app.register(fastifyStatic, { root: uiDir, serve: false });
    app.get('/assets/*', { config: { access: access.public }, schema: { hide: true } }, (req, reply) => {
      const file = (req.params as { '*': string })['*'];
      // Hashed names never change: cache for a year.
      return reply
        .header('cache-control', 'public, max-age=31536000, immutable')
        .sendFile(file, join(uiDir, 'assets'));
    });
  }

  // Security headers; the CSP lets the dashboard live: own scripts and styles, map images from
  // blob:/data:, the live stream and camera WebSockets on the same host.
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        // A configured basemap's tile host, and only then (GRIDHUB_MAP_TILES).
        imgSrc: ["'self'", 'blob:', 'data:', ...tileOrigin(deps.dashboard?.mapTiles)],
        connectSrc: ["'self'", 'ws:', 'wss:'],
        mediaSrc: ["'self'", 'blob:'],
        workerSrc: ["'self'", 'blob:'],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
        upgradeInsecureRequests: null,
      },
    },
    // HSTS only makes sense when the hub itself speaks TLS.
    strictTransportSecurity: deps.tls ? { maxAge: 15_552_000 } : false,
  });
  // Cross-origin browser calls: closed unless origins are configured (GRIDHUB_CORS_ORIGINS).
  await app.register(fastifyCors, {
    origin: security.corsOrigins.length ? security.corsOrigins : false,
    credentials: true,
    allowedHeaders: ['authorization', 'content-type', 'x-gridhub-csrf'],
  });

  const authenticate = createAuth({
    adminToken: deps.adminToken,
    allowedOrigins: security.corsOrigins,
    resolveSession: (token) => {
      const u = deps.people.userForToken(token);
      return (
        u && {
          kind: 'user',
          role: u.role,
          userId: u.id,
          name: u.name,
          unitId: u.unitId,
          gridCodes: u.gridCodes,
        }
      );
    },
  });
  // Authorisation on the matched route's declaration (web/access.ts), never on the URL string.
  app.decorateRequest('principal', undefined);
  app.decorateRequest('scope', function (this: import('fastify').FastifyRequest) {
    const self = this as import('fastify').FastifyRequest & { scopeMemo?: Promise<Scope> };
    self.scopeMemo ??= this.principal
      ? scopeOf(this.principal, deps.cases.unitScope)
      : Promise.resolve(FULL_SCOPE);
    return self.scopeMemo;
  });
  app.addHook('onRequest', async (req) => {
    req.principal = authorise(req as never, authenticate);
  });
  // Path and query parameters are validated like bodies; U+0000 anywhere is refused up front
  // (issue 7, finding 7: `GET /api/cases/%00` answered 500 because the store refuses it).
  app.addHook('preValidation', async (req) => {
    for (const [part, v] of [
      ['params', req.params],
      ['querystring', req.query],
      ['body', req.body],
    ] as const) {
      if (hasNul(v))
        throw new GridhubError(
          'GRIDHUB_ERR_VALIDATION',
          `${part}: a NUL character (U+0000) is not allowed`,
          400,
        );
    }
  });

  const audit = createAudit({
    db: deps.db,
    now: () => deps.clock.now(),
    logger: deps.logger,
    onError: () => auditFailures.inc(),
  });
  const auditFailures = deps.metrics.counter(
    'gridhub_audit_write_failures_total',
    'audit log writes that failed',
  );
  app.addHook('onResponse', async (req, reply) => {
    const name = req.routeOptions.config?.audit;
    if (name && req.method !== 'GET' && req.method !== 'HEAD')
      audit.record(req as never, reply as never, name);
  });
  app.decorate('audit', audit);

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
    // Named schemas (the recursive rule condition and grid node) as components their $refs point to.
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: true });
  await app.register(fastifyWebsocket, { options: { maxPayload: 1024 * 1024 } });
  // An upgrade request refused by a hook (401/403/404) is answered on the raw socket, which
  // @fastify/websocket then leaves open: end it, or the server never finishes closing.
  app.addHook('onResponse', async (req, reply) => {
    if (req.headers.upgrade && reply.statusCode >= 400) req.raw.socket?.destroy();
  });

  // Devices authenticate in MQTT CONNECT (username = access token), not over HTTP.
  app.get(
    '/mqtt',
    { websocket: true, schema: { hide: true }, config: { access: access.public } },
    // req.ip follows trustProxy, so the per-address caps see the device, not the proxy.
    (socket, req) => {
      deps.mqttStream(createWebSocketStream(socket), req.ip);
    },
  );

  // One photo store for the media routes and the case reports that take photo ids.
  app.decorate(
    'media',
    createMediaStore({
      dir: join(deps.dataDir ?? 'data', 'media'),
      maxBytes: deps.mediaMaxBytes ?? MEDIA_MAX_BYTES_DEFAULT,
      now: () => deps.clock.now(),
    }),
  );
  await app.register(systemRoutes({ ...deps, security, audit }));
  await app.register(gridRoutes(deps));
  await app.register(deviceRoutes(deps));
  await app.register(peopleRoutes(deps));
  await app.register(eventRoutes({ ...deps, security }));
  await app.register(caseRoutes(deps));
  await app.register(ruleRoutes(deps));
  if (deps.video) await app.register(cameraRoutes({ ...deps, video: deps.video }));
  await app.register(mediaRoutes(deps));

  // Expired sessions, old throttle entries and audit entries past retention are purged on the
  // hub's clock: every minute, and after each manual clock move.
  const retentionMs = security.auditRetentionDays * 86_400_000;
  let purging = false;
  const purge = () => {
    if (purging) return;
    purging = true;
    Promise.all([deps.people.purge(), audit.purge(retentionMs)])
      .catch((err) => deps.logger.warn({ err }, 'purge of sessions or audit log failed'))
      .finally(() => {
        purging = false;
      });
  };
  const timer = setInterval(purge, 60_000);
  timer.unref();
  const offClock = deps.clock.onChange(purge);
  app.addHook('onClose', async () => {
    clearInterval(timer);
    offClock();
    await audit.flush();
  });
  return app as unknown as App;
}

/** The origin of an absolute tile URL template (`https://t.example/{z}/{x}/{y}.png`), if any. */
export function tileOrigin(template: string | undefined): string[] {
  if (!template || template.startsWith('/')) return [];
  try {
    return [new URL(template.replace(/[{}]/g, '')).origin];
  } catch {
    return [];
  }
}
