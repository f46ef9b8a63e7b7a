// The write-ahead spool of issue 8 on a real file system: frames survive a reopen, a frame torn
// by a crash is cut, the quota holds, batches come back oldest first.
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../kernel/index.ts';
import { emptyWriteSet, type WriteSet } from '../store/index.ts';
import { tempDirs } from '../test/support/temp.ts';
import { encodeFrame, openSpool } from './spool.ts';

const batch = (n: number): WriteSet => {
  const w = emptyWriteSet();
  w.telemetry = { ts: [n], deviceId: ['d'], key: ['k'], value: [n] };
  return w;
};
const tempDir = tempDirs();
const tmp = () => tempDir('gridhub-spool-');

describe('write-ahead spool', () => {
  it('appends concurrently (group fsync), replays oldest first after a reopen, removes what was replayed', async () => {
    const dir = tmp();
    const a = await openSpool(dir, { maxBytes: 1 << 20, logger: silentLogger() });
    expect(await Promise.all([1, 2, 3, 4, 5].map((n) => a.append(batch(n))))).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    await a.close();
    const b = await openSpool(dir, { maxBytes: 1 << 20, logger: silentLogger() });
    expect(b.frames()).toBe(5);
    await b.append(batch(6));
    const seen: number[] = [];
    for (let seg = await b.takeOldest(); seg; seg = await b.takeOldest()) {
      seen.push(...seg.batches.map((w) => w.telemetry.value[0]!));
      await seg.remove();
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(b.frames()).toBe(0);
    expect(b.bytes()).toBe(0);
    await b.close();
  });

  it('scan visits every batch not yet replayed, oldest first, and leaves them in place', async () => {
    const dir = tmp();
    const a = await openSpool(dir, { maxBytes: 1 << 20, logger: silentLogger() });
    for (const n of [1, 2, 3]) await a.append(batch(n));
    await a.close();
    const b = await openSpool(dir, { maxBytes: 1 << 20, logger: silentLogger() });
    await b.append(batch(4)); // a second segment, still being appended to
    const scanned: number[] = [];
    await b.scan((w) => scanned.push(w.telemetry.value[0]!));
    expect(scanned).toEqual([1, 2, 3, 4]);
    expect(b.frames()).toBe(4);
    const seg = await b.takeOldest();
    expect(seg!.batches.map((w) => w.telemetry.value[0])).toEqual([1, 2, 3]);
    await seg!.remove();
    scanned.length = 0;
    await b.scan((w) => scanned.push(w.telemetry.value[0]!));
    expect(scanned).toEqual([4]);
    await b.close();
  });

  it('cuts a frame torn by a crash (never acknowledged) and keeps the sound ones', async () => {
    const dir = tmp();
    const a = await openSpool(dir, { maxBytes: 1 << 20, logger: silentLogger() });
    await a.append(batch(1));
    await a.close();
    const [seg] = readdirSync(dir);
    appendFileSync(join(dir, seg!), encodeFrame(batch(2)).subarray(0, 11));
    const b = await openSpool(dir, { maxBytes: 1 << 20, logger: silentLogger() });
    expect(b.frames()).toBe(1);
    const taken = await b.takeOldest();
    expect(taken?.batches.map((w) => w.telemetry.value[0])).toEqual([1]);
    await b.close();
  });

  it('prints its throughput: appends of 500-reading batches with group fsync, and reading them back', async () => {
    const dir = tmp();
    const s = await openSpool(dir, { maxBytes: 1 << 30, logger: silentLogger() });
    const big = (n: number): WriteSet => {
      const w = emptyWriteSet();
      for (let i = 0; i < 500; i++) {
        w.telemetry.ts.push(1_764_115_200_000 + n * 500 + i);
        w.telemetry.deviceId.push(`dev-${i % 50}`);
        w.telemetry.key.push('LAeq');
        w.telemetry.value.push(55.5);
      }
      return w;
    };
    const t0 = performance.now();
    // 8 writers, as flushes arrive from a busy hub: each group of appends shares one fsync.
    await Promise.all(
      Array.from({ length: 8 }, async (_, k) => {
        for (let i = 0; i < 25; i++) expect(await s.append(big(k * 25 + i))).toBe(true);
      }),
    );
    const inS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    let readings = 0;
    for (let seg = await s.takeOldest(); seg; seg = await s.takeOldest()) {
      readings += seg.batches.reduce((n, w) => n + w.telemetry.ts.length, 0);
      await seg.remove();
    }
    const outS = (performance.now() - t1) / 1000;
    expect(readings).toBe(200 * 500);
    console.log(
      `[spool] appended ${(readings / inS).toFixed(0)} readings/s (fsync'd), read back ${(readings / outS).toFixed(0)} readings/s`,
    );
    await s.close();
  });

  it('refuses an append over the quota, at the edge', async () => {
    const dir = tmp();
    const size = encodeFrame(batch(1)).length;
    const s = await openSpool(dir, { maxBytes: size * 2, logger: silentLogger() });
    expect(await s.append(batch(1))).toBe(true);
    expect(await s.append(batch(2))).toBe(true); // exactly at the quota
    expect(await s.append(batch(3))).toBe(false);
    expect(s.bytes()).toBe(size * 2);
    await s.close();
  });
});
