import { z } from 'zod';
import { notFound } from '../../hub/errors.ts';
import type { Device } from '../../registry/index.ts';
import type { Video } from '../../video/index.ts';
import { requireRole } from '../auth.ts';
import { limitParam } from '../schemas.ts';
import type { App, WebDeps } from '../server.ts';

const idParams = z.object({ id: z.string().min(1).max(128) });
const READERS = ['operator', 'dispatcher', 'unit', 'inspector', 'viewer'] as const;

/**
 * Cameras (contract, Cameras): their stream state, and the live view as a WebSocket on the hub's
 * own port, authenticated like the rest of the API (the global onRequest hook runs before the
 * upgrade; a refusal is an HTTP 401/403/404 answer to the upgrade request).
 */
export const cameraRoutes = (deps: WebDeps & { video: Video }) => async (app: App) => {
  const { registry, video } = deps;

  /** The camera, if the principal may see it (else 404, as for any scoped read). */
  async function visibleCamera(id: string, principal: Parameters<typeof requireRole>[0]): Promise<Device> {
    const p = requireRole(principal, ...READERS);
    const d = registry.devices.find(id);
    if (d?.profile !== 'camera' || !(await video.visible(p, d))) throw notFound('camera', id);
    return d;
  }

  app.get(
    '/api/cameras',
    {
      schema: {
        tags: ['cameras'],
        description: 'Cameras with their live view state (idle, starting, live, retrying, failed).',
        querystring: z.object({
          gridCode: z
            .string()
            .regex(/^[0-9]{6,15}$/)
            .optional(),
          limit: limitParam(1000, 100),
          cursor: z.string().max(200).optional(),
        }),
      },
    },
    async (req) => {
      const p = requireRole(req.principal, ...READERS);
      const { limit, cursor, gridCode } = req.query;
      const after = cursor ? Buffer.from(cursor, 'base64url').toString('utf8') : undefined;
      const all = (
        await video.visibleCameras(p, registry.devices.list({ profile: 'camera', gridCode }))
      ).filter((d) => after === undefined || d.id > after);
      const items = all.slice(0, limit).map((d) => video.describe(d));
      const last = items[items.length - 1];
      return { items, next: all.length > limit && last ? Buffer.from(last.id).toString('base64url') : null };
    },
  );

  app.get('/api/cameras/:id', { schema: { tags: ['cameras'], params: idParams } }, async (req) =>
    video.describe(await visibleCamera(req.params.id, req.principal)),
  );

  app.get(
    '/api/cameras/:id/live',
    {
      websocket: true,
      schema: {
        tags: ['cameras'],
        description:
          'WebSocket: the 8-byte jsmpeg header (`jsmp`, width, height) then MPEG-1 video in MPEG-TS. ' +
          'Refused before the upgrade with 401/403/404; beyond the stream limit closed with 1013 and the reason.',
        params: idParams,
      },
      preHandler: async (req) => {
        await visibleCamera((req.params as { id: string }).id, req.principal);
      },
    },
    (socket, req) => {
      const device = registry.devices.find((req.params as { id: string }).id);
      if (!device) {
        socket.close(4404, 'camera deleted');
        return;
      }
      const viewer = {
        send: (data: Buffer) => {
          if (socket.readyState === socket.OPEN) socket.send(data, { binary: true });
        },
        close: (code: number, reason: string) => socket.close(code, reason),
        buffered: () => socket.bufferedAmount,
      };
      const refused = video.live.open(device, viewer);
      if (refused) {
        socket.close(refused.code, refused.reason);
        return;
      }
      // Viewers only watch; anything they send is ignored (maxPayload bounds it).
      socket.on('close', () => video.live.close(device.id, viewer));
      socket.on('error', () => video.live.close(device.id, viewer));
    },
  );
};
