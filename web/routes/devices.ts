import { z } from 'zod';
import { badRequest } from '../../hub/errors.ts';
import { bucketOrigin } from '../../hub/time.ts';
import type { Device } from '../../registry/index.ts';
import { access, inScopeOr404, seesDevice } from '../access.ts';
import { limitParam, newDeviceBody, patchDeviceBody, seriesQuery, timeParam } from '../schemas.ts';
import type { App, WebDeps } from '../server.ts';

const DAY = 86_400_000;
/** Series ranges (issue 7, finding 5): raw points over at most 31 days, buckets over 400. */
export const MAX_RAW_RANGE_MS = 31 * DAY;
export const MAX_BUCKETED_RANGE_MS = 400 * DAY;

export function seriesWindow(
  from: number | undefined,
  to: number | undefined,
  now: number,
  bucketMs?: number,
) {
  // Without `to`, everything accepted so far: readings may be up to a day ahead of hub time.
  const end = to ?? now + DAY;
  const start = from ?? (to ?? now) - DAY;
  if (start >= end)
    throw badRequest(
      `from (${new Date(start).toISOString()}) must be before to (${new Date(end).toISOString()})`,
    );
  const max = bucketMs === undefined ? MAX_RAW_RANGE_MS : MAX_BUCKETED_RANGE_MS;
  if (end - start > max)
    throw badRequest(
      `querystring.from: the range is at most ${max / DAY} days${bucketMs === undefined ? ' for raw points (ask for a bucket for longer ranges)' : ''}`,
    );
  return { from: start, to: end };
}

const idParams = z.object({ id: z.string().min(1).max(128) });
const ADMIN = (audit?: string) => ({ access: access.admin, ...(audit ? { audit } : {}) });

export const deviceRoutes = (deps: WebDeps) => async (app: App) => {
  const { registry } = deps;
  const view = (d: Device) => ({
    ...d,
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
      schema: { tags: ['devices'], body: newDeviceBody },
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
    { config: { access: access.signedIn }, schema: { tags: ['devices'], params: idParams } },
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
      schema: { tags: ['devices'], params: idParams, body: patchDeviceBody },
    },
    async (req) => view(await registry.devices.update(req.params.id, req.body)),
  );

  app.delete(
    '/api/devices/:id',
    { config: ADMIN('device.delete'), schema: { tags: ['devices'], params: idParams } },
    async (req) => registry.devices.delete(req.params.id),
  );

  app.post(
    '/api/devices/:id/token',
    { config: ADMIN('device.token.rotate'), schema: { tags: ['devices'], params: idParams } },
    async (req) => ({
      id: req.params.id,
      accessToken: await registry.devices.rotateToken(req.params.id),
    }),
  );

  app.delete(
    '/api/devices/:id/token',
    { config: ADMIN('device.token.revoke'), schema: { tags: ['devices'], params: idParams } },
    async (req, reply) => {
      await registry.devices.revokeToken(req.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/devices/:id/series',
    {
      config: { access: access.signedIn },
      schema: { tags: ['telemetry'], params: idParams, querystring: seriesQuery },
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

  // Shared attributes are pushed to the device on v1/devices/me/attributes (ThingsBoard).
  app.put(
    '/api/devices/:id/attributes',
    {
      config: ADMIN('device.attributes'),
      bodyLimit: 64 * 1024,
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
