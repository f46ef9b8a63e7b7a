/**
 * Evidence media (report photos; camera stills later): files under <dataDir>/media, named by a
 * random id, with a JSON sidecar saying what they are, who uploaded them and which case they
 * belong to (so `/api/media/:id` can be served only to users who may see that case).
 */

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MEDIA_ID_RE, type MediaType, sniffImageType } from '../domain/index.ts';
import { GridhubError } from '../kernel/index.ts';

export interface MediaMeta {
  id: string;
  type: MediaType;
  bytes: number;
  uploadedBy: string;
  uploadedAt: string;
  /** Set when a case takes the photo as evidence. */
  caseId: string | null;
}

export function createMediaStore(opts: { dir: string; maxBytes: number; now: () => number }) {
  const { dir } = opts;
  const file = (id: string) => join(dir, id);
  const sidecar = (id: string) => join(dir, `${id}.json`);
  let ready: Promise<unknown> | undefined;

  async function writeAtomic(path: string, data: Uint8Array | string) {
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, path);
  }

  return {
    maxBytes: opts.maxBytes,
    /** Checks size and type (by magic bytes) and stores the file. */
    async save(body: Uint8Array, declared: string | undefined, uploadedBy: string): Promise<MediaMeta> {
      if (body.length === 0)
        throw new GridhubError('GRIDHUB_ERR_VALIDATION', 'photo: the upload is empty', 400);
      if (body.length > opts.maxBytes)
        throw new GridhubError(
          'GRIDHUB_ERR_TOO_LARGE',
          `photo: ${body.length} bytes is over the limit of ${opts.maxBytes} bytes`,
          413,
        );
      const type = sniffImageType(body);
      if (!type)
        throw new GridhubError(
          'GRIDHUB_ERR_UNSUPPORTED_MEDIA',
          'photo: not a JPEG, PNG or WebP image (judged by the file content)',
          415,
        );
      const base = declared?.split(';')[0]?.trim().toLowerCase();
      if (base?.startsWith('image/') && base !== type)
        throw new GridhubError(
          'GRIDHUB_ERR_UNSUPPORTED_MEDIA',
          `photo: declared ${base} but the content is ${type}`,
          415,
        );
      ready ??= mkdir(dir, { recursive: true, mode: 0o700 });
      await ready;
      const meta: MediaMeta = {
        id: `m${randomBytes(12).toString('hex')}`,
        type,
        bytes: body.length,
        uploadedBy,
        uploadedAt: new Date(opts.now()).toISOString(),
        caseId: null,
      };
      await writeAtomic(file(meta.id), body);
      await writeAtomic(sidecar(meta.id), JSON.stringify(meta));
      return meta;
    },
    async meta(id: string): Promise<MediaMeta | undefined> {
      if (!MEDIA_ID_RE.test(id)) return undefined;
      try {
        return JSON.parse(await readFile(sidecar(id), 'utf8')) as MediaMeta;
      } catch {
        return undefined;
      }
    },
    read: (id: string) => readFile(file(id)),
    async link(id: string, caseId: string) {
      const m = await this.meta(id);
      if (m) await writeAtomic(sidecar(id), JSON.stringify({ ...m, caseId }));
    },
  };
}
export type MediaStore = ReturnType<typeof createMediaStore>;
