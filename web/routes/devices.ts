import { z } from 'zod';
import { badRequest, notFound } from '../../hub/errors.ts';
import { bucketOrigin } from '../../hub/time.ts';
import type { Device } from '../../registry/index.ts';
import { requireRole } from '../auth.ts';
import { limitParam, newDeviceBody, patchDeviceBody, seriesQuery, timeParam } from '../schemas.ts';
import type { App, WebDeps } from '../server.ts';

const DAY = 86_400_000;

export function seriesWindow(from: number | undefined, to: number | undefined, now: number) {
  // Without `to`, everything accepted so far: readings may be up to a day ahead of hub time.
  const end = to ?? now + DAY;
  const start = from ?? (to ?? now) - DAY;
  if (start >= end)
    throw badRequest(
      `from (${new Date(start).toISOString()}) must be before to (${new Date(end).toISOString()})`,
    );
  return { from: start, to: end };
}

const idParams = z.object({ id: z.string().min(1).max(128) });

export const deviceRoutes = (deps: WebDeps) => async (app: App) => {
  const { registry } = deps;
  const view = (d: Device) => ({
    ...d,
    status: registry.presence.status(d.id),
    lastSeen: ((t) => (t === null ? null : new Date(t).toISOString()))(registry.presence.lastSeen(d.id)),
    outsideGrids: d.gridCode === null,
  });

  app.post('/api/devices', { schema: { tags: ['devices'], body: newDeviceBody } }, async (req, reply) => {
    const { device, accessToken } = await registry.devices.create(req.body);
    return reply.code(201).send({ ...view(device), accessToken });
  });

  app.get(
    '/api/devices',
    {
      schema: {
        tags: ['devices'],
        querystring: z.object({
          gridCode: z
            .string()
            .regex(/^[0-9]{6,15}$/)
            .optional(),
          profile: z.string().optional(),
          status: z.enum(['online', 'offline']).optional(),
          limit: limitParam(1000, 100),
          cursor: z.string().optional(),
        }),
      },
    },
    async (req) => {
      const { limit, cursor, ...filter } = req.query;
      const after = cursor ? Buffer.from(cursor, 'base64url').toString('utf8') : undefined;
      const all = registry.devices.list(filter).filter((d) => after === undefined || d.id > after);
      const items = all.slice(0, limit).map(view);
      const last = items[items.length - 1];
      return { items, next: all.length > limit && last ? Buffer.from(last.id).toString('base64url') : null };
    },
  );

  app.get('/api/devices/:id', { schema: { tags: ['devices'], params: idParams } }, async (req) => {
    const d = registry.devices.get(req.params.id);
    return { ...view(d), latest: await deps.reader.latest(d.id) };
  });

  app.patch(
    '/api/devices/:id',
    { schema: { tags: ['devices'], params: idParams, body: patchDeviceBody } },
    async (req) => view(await registry.devices.update(req.params.id, req.body)),
  );

  app.delete('/api/devices/:id', { schema: { tags: ['devices'], params: idParams } }, async (req) =>
    registry.devices.delete(req.params.id),
  );

  app.post('/api/devices/:id/token', { schema: { tags: ['devices'], params: idParams } }, async (req) => ({
    id: req.params.id,
    accessToken: await registry.devices.rotateToken(req.params.id),
  }));

  app.delete(
    '/api/devices/:id/token',
    { schema: { tags: ['devices'], params: idParams } },
    async (req, reply) => {
      await registry.devices.revokeToken(req.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/devices/:id/series',
    { schema: { tags: ['telemetry'], params: idParams, querystring: seriesQuery } },
    async (req) => {
      const d = registry.devices.get(req.params.id);
      const q = req.query;
      const { from, to } = seriesWindow(q.from, q.to, deps.clock.now());
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
      schema: {
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
      const d = registry.devices.get(req.params.id);
      const { from, to } = seriesWindow(req.query.from, req.query.to, deps.clock.now());
      return { items: await deps.reader.events({ deviceId: d.id, from, to, limit: req.query.limit }) };
    },
  );

  // Limits at the MQTT edge and how often the device breached them, per reason (issue 9). The
  // per-device figures live here, never in /metrics.
  app.get(
    '/api/devices/:id/limits',
    {
      schema: { tags: ['devices'], params: idParams },
      config: { access: { roles: ['admin', 'operator'] } },
    },
    async (req) => {
      requireRole(req.principal, 'operator');
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
      expirationTime: z.number().int().positive().optional(),
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
      schema: { tags: ['devices'], params: idParams, body: rpcBody },
      config: { access: { roles: ['admin'] } },
    },
    async (req, reply) => {
      requireRole(req.principal);
      const d = registry.devices.get(req.params.id);
      if (req.body.expirationTime !== undefined && req.body.expirationTime <= Date.now())
        throw badRequest(`expirationTime: ${new Date(req.body.expirationTime).toISOString()} is in the past`);
      return reply.code(201).send(rpcOf().send(d.id, req.body));
    },
  );
  app.get(
    '/api/devices/:id/rpc',
    { schema: { tags: ['devices'], params: idParams }, config: { access: { roles: ['admin'] } } },
    async (req) => {
      requireRole(req.principal);
      const d = registry.devices.get(req.params.id);
      return { items: rpcOf().list(d.id), next: null };
    },
  );
  app.get(
    '/api/devices/:id/rpc/:rpcId',
    {
      schema: { tags: ['devices'], params: idParams.extend({ rpcId: z.string().uuid() }) },
      config: { access: { roles: ['admin'] } },
    },
    async (req) => {
      requireRole(req.principal);
      const r = rpcOf().get(req.params.id, req.params.rpcId);
      if (!r) throw notFound('rpc', req.params.rpcId);
      return r;
    },
  );

  // Shared attributes are pushed to the device on v1/devices/me/attributes (ThingsBoard).
  app.put(
    '/api/devices/:id/attributes',
    {
      schema: {
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
      const d = await registry.devices.setAttributes(req.params.id, req.body);
      if (req.body.shared && Object.keys(req.body.shared).length) {
        await deps.sendToDevice(d.id, 'v1/devices/me/attributes', req.body.shared).catch(() => {});
      }
      return view(d);
    },
  );
};
