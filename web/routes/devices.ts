import { z } from 'zod';
import {
  deviceDetailSchema,
  deviceViewSchema,
  pageSchema,
  presenceViewSchema,
  seriesViewSchema,
} from '../../domain/index.ts';
import { badRequest, bucketOrigin, notFound } from '../../kernel/index.ts';
import type { Device } from '../../registry/index.ts';
import { presencePeriods, readPresence } from '../../store/index.ts';
import { checkUrl, redact } from '../../video/index.ts';
import { access, inScopeOr404, seesDevice } from '../access.ts';
import type { App, WebDeps } from '../context.ts';
import { deviceEventAnswer, deviceLimitsAnswer, noContent, type RpcAnswer, rpcAnswer } from '../responses.ts';
import {
  limitParam,
  newDeviceBody,
  patchDeviceBody,
  seriesQuery,
  seriesWindow,
  timeParam,
} from '../schemas.ts';

const idParams = z.object({ id: z.string().min(1).max(128) });
const ADMIN = (audit?: string) => ({ access: access.admin, ...(audit ? { audit } : {}) });

export const deviceRoutes = (deps: WebDeps) => async (app: App) => {
  const { registry } = deps;
  const view = (d: Device) => ({
    ...d,
    // A camera's stream URL may carry credentials: never shown (contract, Cameras).
    serverAttributes: redactStrings(d.serverAttributes),
    status: registry.presence.status(d.id),
    lastSeen: ((t) => (t === null ? null : new Date(t).toISOString()))(registry.presence.lastSeen(d.id)),
    outsideGrids: d.gridCode === null,
  });

  /** A device the caller may see, or 404 as if it did not exist. */
  const visible = async (req: import('fastify').FastifyRequest, id: string) => {
    const d = registry.devices.get(id);
    inScopeOr404(seesDevice(await req.scope(), d), 'device', id);
    return d;
  };

  app.post(
    '/api/devices',
    {
      config: ADMIN('device.create'),
      bodyLimit: 16 * 1024,
      schema: {
        response: { 201: deviceViewSchema.extend({ accessToken: z.string().nullable() }) },
        tags: ['devices'],
        body: newDeviceBody,
      },
    },
    async (req, reply) => {
      const { device, accessToken } = await registry.devices.create(req.body);
      return reply.code(201).send({ ...view(device), accessToken });
    },
  );

  app.get(
    '/api/devices',
    {
      config: { access: access.signedIn },
      schema: {
        response: { 200: pageSchema(deviceViewSchema) },
        tags: ['devices'],
        querystring: z.object({
          gridCode: z
            .string()
            .regex(/^[0-9]{6,15}$/)
            .optional(),
          profile: z.string().max(64).optional(),
          status: z.enum(['online', 'offline']).optional(),
          limit: limitParam(1000, 100),
          cursor: z.string().max(256).optional(),
        }),
      },
    },
    async (req) => {
      const { limit, cursor, ...filter } = req.query;
      const scope = await req.scope();
      const after = cursor ? Buffer.from(cursor, 'base64url').toString('utf8') : undefined;
      const all = registry.devices
        .list(filter)
        .filter((d) => (after === undefined || d.id > after) && seesDevice(scope, d));
      const items = all.slice(0, limit).map(view);
      const last = items[items.length - 1];
      return { items, next: all.length > limit && last ? Buffer.from(last.id).toString('base64url') : null };
    },
  );

  app.get(
    '/api/devices/:id',
    {
      config: { access: access.signedIn },
      schema: { response: { 200: deviceDetailSchema }, tags: ['devices'], params: idParams },
    },
    async (req) => {
      const d = await visible(req, req.params.id);
      return { ...view(d), latest: await deps.reader.latest(d.id) };
    },
  );

  app.patch(
    '/api/devices/:id',
    {
      config: ADMIN('device.update'),
      bodyLimit: 16 * 1024,
      schema: {
        response: { 200: deviceViewSchema },
        tags: ['devices'],
        params: idParams,
        body: patchDeviceBody,
      },
    },
    async (req) => view(await registry.devices.update(req.params.id, req.body)),
  );

  app.delete(
    '/api/devices/:id',
    {
      config: ADMIN('device.delete'),
      schema: {
        response: {
          200: z.object({ deleted: z.array(z.string()).describe('the device and its gateway children') }),
        },
        tags: ['devices'],
        params: idParams,
      },
    },
    async (req) => registry.devices.delete(req.params.id),
  );

  app.post(
    '/api/devices/:id/token',
    {
      config: ADMIN('device.token.rotate'),
      schema: {
        response: {
          200: z.object({
            id: z.string(),
            accessToken: z.string().describe('the new access token (shown once)'),
          }),
        },
        tags: ['devices'],
        params: idParams,
      },
    },
    async (req) => ({
      id: req.params.id,
      accessToken: await registry.devices.rotateToken(req.params.id),
    }),
  );

  app.delete(
    '/api/devices/:id/token',
    {
      config: ADMIN('device.token.revoke'),
      schema: { response: { 204: noContent }, tags: ['devices'], params: idParams },
    },
    async (req, reply) => {
      await registry.devices.revokeToken(req.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/devices/:id/series',
    {
      config: { access: access.signedIn },
      schema: {
        response: { 200: seriesViewSchema },
        tags: ['telemetry'],
        params: idParams,
        querystring: seriesQuery,
      },
    },
    async (req) => {
      const d = await visible(req, req.params.id);
      const q = req.query;
      const { from, to } = seriesWindow(q.from, q.to, deps.clock.now(), q.bucket);
      const points = await deps.reader.series({
        deviceIds: [d.id],
        key: q.key,
        from,
        to,
        bucketMs: q.bucket,
        agg: q.agg,
        originMs: bucketOrigin(deps.timezone),
        limit: q.limit,
      });
      return { points };
    },
  );

  app.get(
    '/api/devices/:id/events',
    {
      config: { access: access.signedIn },
      schema: {
        response: { 200: z.object({ items: z.array(deviceEventAnswer) }) },
        tags: ['telemetry'],
        params: idParams,
        querystring: z.object({
          from: timeParam.optional(),
          to: timeParam.optional(),
          limit: limitParam(1000, 100),
        }),
      },
    },
    async (req) => {
      const d = await visible(req, req.params.id);
      const { from, to } = seriesWindow(req.query.from, req.query.to, deps.clock.now());
      return { items: await deps.reader.events({ deviceId: d.id, from, to, limit: req.query.limit }) };
    },
  );

  // Online history (issue 11, the device page): connected and disconnected periods over a window,
  // from the changes the hub recorded (store/presence.ts). Read like the device itself: a unit or
  // inspector that may not see the device gets 404.
  app.get(
    '/api/devices/:id/presence',
    {
      config: { access: access.signedIn },
      schema: {
        response: { 200: presenceViewSchema },
        tags: ['devices'],
        description:
          'Online and offline periods over [from, to) (default the last 24 h, at most 31 days); before the first recorded change the state is unknown and no period is given.',
        params: idParams,
        querystring: z.object({
          from: timeParam.optional(),
          to: timeParam.optional(),
          limit: limitParam(5000, 1000),
        }),
      },
    },
    async (req) => {
      const d = await visible(req, req.params.id);
      const now = deps.clock.now();
      const to = req.query.to ?? now;
      const { from } = seriesWindow(req.query.from, to, now);
      const r = await readPresence(deps.db, { deviceId: d.id, from, to, limit: req.query.limit });
      // Beyond the last change, the registry's own status now (a window reaching into the future
      // ends now: nothing is known about it).
      const end = Math.min(to, Math.max(now, from + 1));
      return {
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        status: registry.presence.status(d.id),
        truncated: r.truncated,
        items: presencePeriods(r.before, r.events, from, end),
      };
    },
  );

  // Limits at the MQTT edge and how often the device breached them, per reason (issue 9). The
  // per-device figures live here, never in /metrics.
  app.get(
    '/api/devices/:id/limits',
    {
      schema: { response: { 200: deviceLimitsAnswer }, tags: ['devices'], params: idParams },
      config: { access: access.roles('operator') },
    },
    async (req) => {
      const limits = deps.deviceLimits?.(req.params.id);
      if (!limits) throw notFound('device', req.params.id);
      return { id: req.params.id, ...limits };
    },
  );

  // Server-side RPC (contract, Hub → device): every call has an expiry (default 60 s; per call
  // `expirationTime`, epoch ms, as ThingsBoard, or `timeout` in ms) and a state readable here.
  // Admin only, like every device write.
  const rpcBody = z
    .object({
      method: z.string().min(1).max(128),
      params: z.unknown().optional(),
      // Epoch ms, at most the largest date JavaScript can format.
      expirationTime: z.number().int().positive().max(8.64e15).optional(),
      timeout: z
        .number()
        .int()
        .min(1)
        .max(7 * 86_400_000)
        .optional(),
      oneway: z.boolean().optional(),
    })
    .strict();
  const rpcOf = () => {
    if (!deps.rpc) throw notFound('rpc', 'service');
    return deps.rpc;
  };
  app.post(
    '/api/devices/:id/rpc',
    {
      schema: {
        response: { 201: rpcAnswer },
        tags: ['devices'],
        params: idParams,
        body: rpcBody,
      },
      config: ADMIN('device.rpc'),
    },
    async (req, reply) => {
      const d = registry.devices.get(req.params.id);
      if (req.body.expirationTime !== undefined && req.body.expirationTime <= deps.clock.now())
        throw badRequest(`expirationTime: ${new Date(req.body.expirationTime).toISOString()} is in the past`);
      return reply.code(201).send(rpcOf().send(d.id, req.body) as RpcAnswer);
    },
  );
  app.get(
    '/api/devices/:id/rpc',
    {
      schema: {
        response: { 200: pageSchema(rpcAnswer) },
        tags: ['devices'],
        params: idParams,
      },
      config: ADMIN(),
    },
    async (req) => {
      const d = registry.devices.get(req.params.id);
      return { items: rpcOf().list(d.id) as RpcAnswer[], next: null };
    },
  );
  app.get(
    '/api/devices/:id/rpc/:rpcId',
    {
      schema: {
        response: { 200: rpcAnswer },
        tags: ['devices'],
        params: idParams.extend({ rpcId: z.string().uuid() }),
      },
      config: ADMIN(),
    },
    async (req) => {
      const r = rpcOf().get(req.params.id, req.params.rpcId);
      if (!r) throw notFound('rpc', req.params.rpcId);
      return r as RpcAnswer;
    },
  );

  // Shared attributes are pushed to the device on v1/devices/me/attributes (ThingsBoard).
  app.put(
    '/api/devices/:id/attributes',
    {
      config: ADMIN('device.attributes'),
      bodyLimit: 64 * 1024,
      schema: {
        response: { 200: deviceViewSchema },
        tags: ['devices'],
        params: idParams,
        body: z
          .object({
            server: z.record(z.string(), z.unknown()).optional(),
            shared: z.record(z.string(), z.unknown()).optional(),
          })
          .strict(),
      },
    },
    async (req) => {
      checkCameraAttributes(req.body);
      const d = await registry.devices.setAttributes(req.params.id, req.body);
      if (req.body.shared && Object.keys(req.body.shared).length) {
        await deps.sendToDevice(d.id, 'v1/devices/me/attributes', req.body.shared).catch(() => {});
      }
      return view(d);
    },
  );
};

/** Credentials in URL-valued attributes are shown as `***`. */
function redactStrings(attrs: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(attrs).map(([k, v]) => [k, typeof v === 'string' ? redact(v) : v]),
  );
}

/**
 * `rtspUrl` is what ffmpeg will open: a server attribute (set here by an admin, never taken from
 * the device), rtsp:// or rtsps:// only. `null` removes it.
 */
function checkCameraAttributes(body: { server?: Record<string, unknown>; shared?: Record<string, unknown> }) {
  if (body.shared && 'rtspUrl' in body.shared)
    throw badRequest('body.shared.rtspUrl: the stream URL is a server attribute (body.server.rtspUrl)');
  if (!body.server || !('rtspUrl' in body.server) || body.server.rtspUrl === null) return;
  const c = checkUrl(body.server.rtspUrl);
  if (!c.ok) throw badRequest(`body.server.rtspUrl: ${c.problem}`);
}
