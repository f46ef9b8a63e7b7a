import { z } from 'zod';
import { notFound } from '../../hub/errors.ts';
import type { Video } from '../../video/index.ts';
import { access, seesCase } from '../access.ts';
import type { App, WebDeps } from '../server.ts';

/**
 * Evidence media (camera stills): `GET /api/media/:id` to signed-in users who may see the case
 * the picture belongs to (contract, Cameras); anything else is 404, as if it did not exist.
 */
export const mediaRoutes = (deps: WebDeps & { video: Video }) => async (app: App) => {
  app.get(
    '/api/media/:id',
    {
      config: { access: access.signedIn },
      schema: {
        tags: ['cases'],
        description: "A case's evidence picture (JPEG or PNG).",
        params: z.object({ id: z.string().regex(/^[0-9a-f]{32}$/, 'a media id') }),
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const rec = deps.video.media.get(id);
      if (!rec?.caseId) throw notFound('media', id);
      const c = await deps.cases.get(rec.caseId).catch(() => undefined);
      if (!c || !seesCase(await req.scope(), c)) throw notFound('media', id);
      return reply
        .type(rec.contentType)
        .header('cache-control', 'private, max-age=86400, immutable')
        .header('x-content-type-options', 'nosniff')
        .header(
          'content-disposition',
          `inline; filename="${id}.${rec.contentType === 'image/png' ? 'png' : 'jpg'}"`,
        )
        .send(deps.video.media.read(rec));
    },
  );
};
