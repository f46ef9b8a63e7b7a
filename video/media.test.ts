import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../kernel/index.ts';
import { createMediaStore } from '../store/index.ts';
import { createMediaKeeper } from './media.ts';

const jpeg = (n: number) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(n - 4, 1)]);
const DAY = 86_400_000;

describe('media quota and retention', () => {
  const dirs: string[] = [];
  const setup = (quotaBytes: number, retentionMs = 10 * DAY) => {
    const dir = mkdtempSync(join(tmpdir(), 'gridhub-media-'));
    dirs.push(dir);
    const clock = { t: Date.parse('2026-03-01T00:00:00Z') };
    const store = createMediaStore({ dir, maxBytes: 1 << 20, now: () => clock.t });
    const keeper = createMediaKeeper({
      dir,
      quotaBytes,
      retentionMs,
      logger: silentLogger(),
      now: () => clock.t,
    });
    const put = async (n: number) => {
      const m = await store.save(jpeg(n), 'image/jpeg', 'camera:cam-1');
      clock.t += 1000;
      return m.id;
    };
    return { dir, clock, store, keeper, put };
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('keeps the quota at its edge: exactly at it all stay, one byte over the oldest goes', async () => {
    const { dir, keeper, put } = setup(300);
    const a = await put(100);
    const b = await put(100);
    await put(100);
    expect(keeper.enforce()).toEqual({ removed: 0, files: 3, bytes: 300 });
    await put(4);
    expect(keeper.enforce()).toEqual({ removed: 1, files: 3, bytes: 204 });
    expect(existsSync(join(dir, a))).toBe(false);
    expect(existsSync(join(dir, `${a}.json`))).toBe(false);
    expect(existsSync(join(dir, b))).toBe(true);
  });

  it('removes media past retention only', async () => {
    const { clock, store, keeper, put } = setup(1 << 20, 2 * DAY);
    const old = await put(50);
    clock.t += DAY;
    const kept = await put(50);
    clock.t += DAY - 2000; // `old` is now exactly 2 days old: kept
    expect(keeper.enforce().removed).toBe(0);
    clock.t += 1;
    expect(keeper.enforce().removed).toBe(1);
    expect(await store.meta(old)).toBeUndefined();
    expect(await store.meta(kept)).toBeDefined();
  });
});
