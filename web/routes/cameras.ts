import { z } from 'zod';
import { cameraViewSchema, pageSchema } from '../../domain/index.ts';
import { forbidden, notFound } from '../../kernel/index.ts';
import type { Device } from '../../registry/index.ts';
import type { Video } from '../../video/index.ts';
import { access, seesDevice } from '../access.ts';
import type { App, WebDeps } from '../context.ts';
import { limitParam } from '../schemas.ts';

const idParams = z.object({ id: z.string().min(1).max(128) });
// Cameras are read like devices (contract matrix): every role; unit and inspector scoped.
const READ = { access: access.signedIn };

/**
 * Cameras (contract, Cameras): their stream state, and the live view as a WebSocket on the hub's
 * own port, authenticated like the rest of the API (session cookie or bearer token; the onRequest
 * authorisation runs before the upgrade, so a refusal is an HTTP 401/403/404 answer to it).
 */
export const cameraRoutes = (deps: WebDeps & { video: Video }) => async (app: App) => {
  const { registry, video } = deps;

  /** The camera, if the caller may see it (else 404, as for any scoped read). */
  async function visibleCamera(id: string, req: import('fastify').FastifyRequest): Promise<Device> {
    const d = registry.devices.find(id);
    if (d?.profile !== 'camera' || !seesDevice(await req.scope(), d)) throw notFound('camera', id);
    return d;
  }

  app.get(
    '/api/cameras',
    {
      config: READ,
      schema: {
        response: { 200: pageSchema(cameraViewSchema) },
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
      const { limit, cursor, gridCode } = req.query;
      const after = cursor ? Buffer.from(cursor, 'base64url').toString('utf8') : undefined;
      const scope = await req.scope();
      const all = registry.devices
        .list({ profile: 'camera', gridCode })
        .filter((d) => seesDevice(scope, d) && (after === undefined || d.id > after));
      const items = all.slice(0, limit).map((d) => video.describe(d));
      const last = items[items.length - 1];
      return { items, next: all.length > limit && last ? Buffer.from(last.id).toString('base64url') : null };
    },
  );

  app.get(
    '/api/cameras/:id',
    {
      config: READ,
      schema: {
        response: { 200: cameraViewSchema },
        tags: ['cameras'],
        params: idParams,
      },
    },
    async (req) => video.describe(await visibleCamera(req.params.id, req)),
  );

  app.get(
    '/api/cameras/:id/live',
    {
      websocket: true,
      config: READ,
      schema: {
        tags: ['cameras'],
        description:
          'WebSocket: the 8-byte jsmpeg header (`jsmp`, width, height) then MPEG-1 video in MPEG-TS. ' +
          'Refused before the upgrade with 401/403/404; beyond the stream limit closed with 1013 and the reason.',
        params: idParams,
      },
      preHandler: async (req) => {
        // Cross-site WebSocket hijacking: a browser sends the cookie with any page's upgrade
        // request (SameSite=Strict aside); only this host's pages (or configured origins) may.
        const origin = req.headers.origin;
        if (req.principal?.via === 'cookie' && origin !== undefined && !sameHost(origin, req.headers.host))
          throw forbidden(
            `the Origin ${JSON.stringify(origin)} may not open the live view with the session cookie`,
          );
        await visibleCamera((req.params as { id: string }).id, req);
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

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
