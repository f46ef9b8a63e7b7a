import { z } from 'zod';
import { MEDIA_MAX_BYTES_DEFAULT, MEDIA_TYPES } from '../../domain/index.ts';
import { GridhubError, notFound } from '../../kernel/index.ts';
import { createMediaStore, type MediaStore } from '../../store/index.ts';
import { access, seesCase } from '../access.ts';
import type { Principal } from '../auth.ts';
import type { App, WebDeps } from '../context.ts';

declare module 'fastify' {
  interface FastifyInstance {
    media: MediaStore;
  }
}

const principalId = (p: Principal) => p.userId ?? p.kind;

/**
 * Evidence photos: `POST /api/media` takes the raw image as the body (the phone's camera file),
 * `GET /api/media/:id` serves it to signed-in users who may see the case it belongs to.
 */
export const mediaRoutes = (deps: WebDeps) => async (app: App) => {
  const maxBytes = deps.mediaMaxBytes ?? MEDIA_MAX_BYTES_DEFAULT;
  const store: MediaStore =
    app.media ??
    createMediaStore({ dir: `${deps.dataDir ?? 'data'}/media`, maxBytes, now: () => deps.clock.now() });

  // Only within this plugin: image bodies arrive as a Buffer, one byte over the limit is refused.
  app.addContentTypeParser(
    [...MEDIA_TYPES, 'application/octet-stream'],
    { parseAs: 'buffer', bodyLimit: maxBytes },
    (_req, body, done) => done(null, body),
  );
  app.addContentTypeParser(/^image\//, { parseAs: 'buffer', bodyLimit: maxBytes }, (_req, body, done) =>
    done(null, body),
  );

  app.post(
    '/api/media',
    {
      bodyLimit: maxBytes,
      // contract.md: reporting a case with photos is for admin, operator, dispatcher, inspector.
      config: { access: access.roles('operator', 'dispatcher', 'inspector'), audit: 'media.upload' },
      schema: {
        tags: ['cases'],
        description: `Uploads one photo (raw JPEG, PNG or WebP body, at most ${maxBytes} bytes; the type is judged by the content). Answers its id for POST /api/cases photos.`,
      },
      // A declared length over the limit is refused before the body is read.
      onRequest: async (req) => {
        const len = Number(req.headers['content-length'] ?? 0);
        if (len > maxBytes)
          throw new GridhubError(
            'GRIDHUB_ERR_TOO_LARGE',
            `photo: ${len} bytes is over the limit of ${maxBytes} bytes`,
            413,
          );
      },
    },
    async (req, reply) => {
      const p = req.principal!;
      if (!Buffer.isBuffer(req.body))
        throw new GridhubError(
          'GRIDHUB_ERR_UNSUPPORTED_MEDIA',
          'photo: send the image itself as the body (content-type image/jpeg, image/png or image/webp)',
          415,
        );
      const meta = await store.save(req.body, req.headers['content-type'], principalId(p));
      return reply
        .code(201)
        .send({ id: meta.id, type: meta.type, bytes: meta.bytes, url: `/api/media/${meta.id}` });
    },
  );

  app.get(
    '/api/media/:id',
    {
      config: { access: access.signedIn },
      schema: { tags: ['cases'], params: z.object({ id: z.string().max(64) }) },
    },
    async (req, reply) => {
      const p = req.principal!;
      const meta = await store.meta(req.params.id);
      if (!meta) throw notFound('media', req.params.id);
      let visible = p.role === 'admin' || meta.uploadedBy === principalId(p);
      if (!visible && meta.caseId) {
        const c = await deps.cases.get(meta.caseId).catch(() => undefined);
        visible = !!c && seesCase(await req.scope(), c);
      }
      // Not one's to see: answered as if it did not exist (contract: outside scope → 404).
      if (!visible) throw notFound('media', req.params.id);
      return reply
        .type(meta.type)
        .header('cache-control', 'private, max-age=86400')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .send(await store.read(meta.id));
    },
  );
};
