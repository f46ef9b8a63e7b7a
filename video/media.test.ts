import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../hub/logger.ts';
import { createMediaStore, imageType } from './media.ts';

const jpeg = (n: number) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(n - 4, 1)]);
const DAY = 86_400_000;

describe('media store', () => {
  const dirs: string[] = [];
  const store = (
    quotaBytes: number,
    retentionMs = 10 * DAY,
    clock = { t: Date.parse('2026-03-01T00:00:00Z') },
  ) => {
    const dir = mkdtempSync(join(tmpdir(), 'gridhub-media-'));
    dirs.push(dir);
    const s = createMediaStore({ dir, quotaBytes, retentionMs, logger: silentLogger(), now: () => clock.t });
    s.load();
    return { s, dir, clock };
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('recognises JPEG and PNG by their bytes only', () => {
    expect(imageType(jpeg(10))).toBe('image/jpeg');
    expect(imageType(Buffer.from('89504e470d0a1a0a0000', 'hex'))).toBe('image/png');
    expect(imageType(Buffer.from('<svg onload=alert(1)>'))).toBeUndefined();
  });

  it('keeps the quota at its edge: the oldest go first', () => {
    const { s, clock } = store(300);
    const a = s.put(jpeg(100), { caseId: 'c1', deviceId: 'd', source: 'stream' });
    clock.t += 1000;
    const b = s.put(jpeg(100), { caseId: 'c2', deviceId: 'd', source: 'stream' });
    clock.t += 1000;
    s.put(jpeg(100), { caseId: 'c3', deviceId: 'd', source: 'stream' });
    expect(s.usage()).toMatchObject({ files: 3, bytes: 300 }); // exactly at the quota: all kept
    clock.t += 1000;
    s.put(jpeg(10), { caseId: 'c4', deviceId: 'd', source: 'stream' });
    expect(s.get(a.id)).toBeUndefined();
    expect(s.get(b.id)).toBeDefined();
    expect(() => s.put(jpeg(301), { caseId: 'c', deviceId: 'd', source: 'x' })).toThrow(
      /exceeds the media quota/,
    );
    expect(() => s.put(Buffer.from('hello'), { caseId: 'c', deviceId: 'd', source: 'x' })).toThrow(
      /not a JPEG/,
    );
  });

  it('drops media past retention, and survives a restart', () => {
    const { s, dir, clock } = store(10_000, 2 * DAY);
    const old = s.put(jpeg(50), { caseId: 'c1', deviceId: 'd', source: 'stream' });
    clock.t += DAY;
    const kept = s.put(jpeg(50), { caseId: 'c2', deviceId: 'd', source: 'stream' });
    clock.t += DAY + 1;
    expect(s.enforce()).toBe(1);
    expect(s.get(old.id)).toBeUndefined();
    const again = createMediaStore({
      dir,
      quotaBytes: 10_000,
      retentionMs: 2 * DAY,
      logger: silentLogger(),
      now: () => clock.t,
    });
    again.load();
    expect(again.get(kept.id)).toMatchObject({ caseId: 'c2', contentType: 'image/jpeg' });
    expect(again.read(again.get(kept.id)!).equals(jpeg(50))).toBe(true);
    expect(readdirSync(dir).sort()).toEqual([`${kept.id}.jpg`, `${kept.id}.json`].sort());
    expect(again.get('../../etc/passwd')).toBeUndefined();
  });
});
