/**
 * Evidence media (camera stills): image files in `<dataDir>/media`, each with a small JSON record
 * (case, type, size, time), kept within a disk quota and a retention (contract: "served under
 * /api/media/:id to signed-in users who may see the case, kept within a configured disk quota and
 * retention"). Ids are random, but access is decided by the case, never by knowing the id.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../hub/logger.ts';

export interface MediaRecord {
  id: string;
  caseId: string | null;
  deviceId: string | null;
  contentType: 'image/jpeg' | 'image/png';
  bytes: number;
  createdAt: string;
  /** Where the picture came from: the camera's stream or the event's snapshot URL. */
  source: string;
}

const ID = /^[0-9a-f]{32}$/;

/** The image type from its first bytes (never from a header a device or server sent). */
export function imageType(b: Buffer): MediaRecord['contentType'] | undefined {
  if (b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length > 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'image/png';
  return undefined;
}

export function createMediaStore(opts: {
  dir: string;
  quotaBytes: number;
  retentionMs: number;
  logger: Logger;
  now?: () => number;
}) {
  const now = opts.now ?? Date.now;
  const index = new Map<string, MediaRecord>();
  let total = 0;
  const file = (r: Pick<MediaRecord, 'id' | 'contentType'>) =>
    join(opts.dir, `${r.id}.${r.contentType === 'image/png' ? 'png' : 'jpg'}`);

  function load() {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    index.clear();
    total = 0;
    for (const name of readdirSync(opts.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        const r = JSON.parse(readFileSync(join(opts.dir, name), 'utf8')) as MediaRecord;
        if (!ID.test(r.id)) continue;
        statSync(file(r));
        index.set(r.id, r);
        total += r.bytes;
      } catch {
        // A record without its file (or unreadable) is dropped.
        rmSync(join(opts.dir, name), { force: true });
      }
    }
    enforce();
  }

  function remove(r: MediaRecord) {
    rmSync(file(r), { force: true });
    rmSync(join(opts.dir, `${r.id}.json`), { force: true });
    index.delete(r.id);
    total -= r.bytes;
  }

  /** Drops what is past retention, then the oldest until the quota holds. */
  function enforce(): number {
    let dropped = 0;
    const oldest = [...index.values()].sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
    const cutoff = now() - opts.retentionMs;
    for (const r of oldest) {
      if (Date.parse(r.createdAt) >= cutoff && total <= opts.quotaBytes) break;
      remove(r);
      dropped++;
    }
    if (dropped) opts.logger.info({ dropped, bytes: total }, 'media past retention or over quota removed');
    return dropped;
  }

  /** Stores an image; refuses anything that is not a JPEG or PNG, or larger than the quota. */
  function put(data: Buffer, meta: Pick<MediaRecord, 'caseId' | 'deviceId' | 'source'>): MediaRecord {
    const contentType = imageType(data);
    if (!contentType) throw new Error('not a JPEG or PNG image');
    if (data.length > opts.quotaBytes)
      throw new Error(`image of ${data.length} bytes exceeds the media quota`);
    const r: MediaRecord = {
      id: randomBytes(16).toString('hex'),
      contentType,
      bytes: data.length,
      createdAt: new Date(now()).toISOString(),
      ...meta,
    };
    writeFileSync(file(r), data, { mode: 0o600 });
    writeFileSync(join(opts.dir, `${r.id}.json`), JSON.stringify(r), { mode: 0o600 });
    index.set(r.id, r);
    total += r.bytes;
    enforce();
    return r;
  }

  return {
    load,
    put,
    enforce,
    get: (id: string) => (ID.test(id) ? index.get(id) : undefined),
    read: (r: MediaRecord) => readFileSync(file(r)),
    usage: () => ({ files: index.size, bytes: total, quotaBytes: opts.quotaBytes }),
  };
}
export type MediaStore = ReturnType<typeof createMediaStore>;
