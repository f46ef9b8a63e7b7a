/**
 * Quota and retention of the evidence media folder (`<dataDir>/media`, written by web/media.ts:
 * report photos and camera stills, each a file named by its id with a JSON sidecar). Contract:
 * evidence media are "kept within a configured disk quota and retention": what is older than the
 * retention goes, then the oldest until the folder fits the quota.
 */

import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MEDIA_ID_RE } from '../domain/index.ts';
import type { Logger } from '../kernel/index.ts';

interface Entry {
  id: string;
  bytes: number;
  at: number;
}

export function createMediaKeeper(opts: {
  dir: string;
  quotaBytes: number;
  retentionMs: number;
  logger: Logger;
  now?: () => number;
}) {
  const now = opts.now ?? Date.now;

  function scan(): Entry[] {
    let names: string[];
    try {
      names = readdirSync(opts.dir);
    } catch {
      return [];
    }
    const out: Entry[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const id = name.slice(0, -5);
      if (!MEDIA_ID_RE.test(id)) continue;
      try {
        const m = JSON.parse(readFileSync(join(opts.dir, name), 'utf8')) as {
          bytes?: number;
          uploadedAt?: string;
        };
        out.push({ id, bytes: Number(m.bytes) || 0, at: Date.parse(m.uploadedAt ?? '') || 0 });
      } catch {}
    }
    return out.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
  }

  /** Removes media past retention, then the oldest until the total fits the quota. */
  function enforce(): { removed: number; files: number; bytes: number } {
    const all = scan();
    let total = all.reduce((s, e) => s + e.bytes, 0);
    const cutoff = now() - opts.retentionMs;
    let removed = 0;
    for (const e of all) {
      if (e.at >= cutoff && total <= opts.quotaBytes) break;
      rmSync(join(opts.dir, e.id), { force: true });
      rmSync(join(opts.dir, `${e.id}.json`), { force: true });
      total -= e.bytes;
      removed++;
    }
    if (removed)
      opts.logger.info({ removed, bytes: total }, 'media past retention or over the quota removed');
    return { removed, files: all.length - removed, bytes: total };
  }

  return { enforce };
}
