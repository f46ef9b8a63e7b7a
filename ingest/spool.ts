import { mkdirSync } from 'node:fs';
import { type FileHandle, open, readdir, readFile, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../kernel/index.ts';
import type { WriteSet } from '../store/index.ts';

/**
 * The write-ahead spool (issue 8): while the store is unreachable, a batch is appended here and
 * fsync'd, and only then are its QoS 1 messages acknowledged; the batches are replayed to the store
 * in order once it is back. Writes are idempotent on (device, key, ts), so a batch replayed twice
 * (a crash between its write and its removal) is stored once.
 *
 * On disk: `<dir>/NNNNNNNNNNNN.seg` segment files of frames `[u32 length][u32 crc32][JSON]`.
 * Appends go to the newest segment; the replayer takes whole sealed segments, oldest first. A
 * frame torn by a crash (short or with a bad checksum) was never acknowledged — its fsync did not
 * return — and is cut off at open.
 *
 * Appends are grouped: batches arriving while an fsync runs are written and fsync'd together,
 * so the cost of fsync is shared under load (group commit).
 */
export interface Spool {
  /** Bytes on disk not yet replayed. */
  bytes(): number;
  /** Batches not yet replayed. */
  frames(): number;
  /** Appends a batch and fsyncs; false (nothing written) when it would exceed the quota. */
  append(batch: WriteSet): Promise<boolean>;
  /**
   * Calls `visit` with every batch not yet replayed, oldest first, leaving them in place: at start
   * the rules read back their windows from these as from the store (they were acknowledged, and
   * the rules saw them, but the store has not). One segment in memory at a time.
   */
  scan(visit: (batch: WriteSet) => void): Promise<void>;
  /** The oldest segment's batches, sealing the newest segment first if it is the only one. */
  takeOldest(): Promise<{ batches: WriteSet[]; remove(): Promise<void> } | undefined>;
  close(): Promise<void>;
}

const SEGMENT_BYTES = 8 * 1024 * 1024;
const HEADER = 8;

const segName = (seq: number) => `${String(seq).padStart(12, '0')}.seg`;

/** Parses frames until the first torn or corrupt one; returns them and the length that is sound. */
export function parseFrames(buf: Buffer): { batches: WriteSet[]; sound: number } {
  const batches: WriteSet[] = [];
  let off = 0;
  while (off + HEADER <= buf.length) {
    const len = buf.readUInt32LE(off);
    const sum = buf.readUInt32LE(off + 4);
    if (off + HEADER + len > buf.length) break;
    const body = buf.subarray(off + HEADER, off + HEADER + len);
    if (crc32(body) !== sum) break;
    try {
      batches.push(JSON.parse(body.toString('utf8')) as WriteSet);
    } catch {
      break;
    }
    off += HEADER + len;
  }
  return { batches, sound: off };
}

export function encodeFrame(batch: WriteSet): Buffer {
  const body = Buffer.from(JSON.stringify(batch), 'utf8');
  const head = Buffer.alloc(HEADER);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([head, body]);
}

export async function openSpool(dir: string, opts: { maxBytes: number; logger: Logger }): Promise<Spool> {
  mkdirSync(dir, { recursive: true });
  const log = opts.logger;
  const segments: { seq: number; bytes: number; frames: number }[] = [];
  for (const name of (await readdir(dir)).filter((n) => /^\d{12}\.seg$/.test(n)).sort()) {
    const file = join(dir, name);
    const buf = await readFile(file);
    const { batches, sound } = parseFrames(buf);
    if (sound < buf.length) {
      log.warn(
        { file, torn: buf.length - sound },
        'spool: cutting a torn frame left by a crash (never acknowledged)',
      );
      await truncate(file, sound);
    }
    segments.push({ seq: Number(name.slice(0, 12)), bytes: sound, frames: batches.length });
  }
  if (segments.length)
    log.warn(
      { segments: segments.length, batches: segments.reduce((n, s) => n + s.frames, 0) },
      'spool: batches from before the last stop will be replayed',
    );
  let active: { seq: number; fh: FileHandle } | undefined;
  let total = segments.reduce((n, s) => n + s.bytes, 0);

  /** The segment appends go to: the newest one this process opened, until it is full or sealed. */
  async function openActive() {
    const last = segments[segments.length - 1];
    if (active && last?.seq === active.seq && last.bytes < SEGMENT_BYTES) return active;
    const previous = active;
    const seq = (last?.seq ?? 0) + 1;
    active = { seq, fh: await open(join(dir, segName(seq)), 'a') };
    segments.push({ seq, bytes: 0, frames: 0 });
    await previous?.fh.close();
    return active;
  }

  // Group commit: appends queue here; one writer drains the queue with one write and one fsync.
  let queue: { frame: Buffer; resolve: (ok: boolean) => void; reject: (err: Error) => void }[] = [];
  let writing: Promise<void> | undefined;
  let reserved = 0;

  function drainQueue(): Promise<void> {
    writing ??= (async () => {
      try {
        while (queue.length) {
          const group = queue;
          queue = [];
          try {
            const a = await openActive();
            const buf = Buffer.concat(group.map((g) => g.frame));
            await a.fh.write(buf);
            await a.fh.sync();
            const seg = segments[segments.length - 1]!;
            seg.bytes += buf.length;
            seg.frames += group.length;
            total += buf.length;
            reserved -= buf.length;
            for (const g of group) g.resolve(true);
          } catch (err) {
            for (const g of group) reserved -= g.frame.length;
            for (const g of group) g.reject(err as Error);
          }
        }
      } finally {
        writing = undefined;
      }
    })();
    return writing;
  }

  // Sealing and taking segments must not interleave with a group being written.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(async () => {
      await writing;
      return fn();
    });
    chain = run.catch(() => {});
    return run;
  };

  return {
    bytes: () => total + reserved,
    frames: () => segments.reduce((n, s) => n + s.frames, 0),
    append(batch) {
      const frame = encodeFrame(batch);
      if (total + reserved + frame.length > opts.maxBytes) return Promise.resolve(false);
      reserved += frame.length;
      return new Promise<boolean>((resolve, reject) => {
        queue.push({ frame, resolve, reject });
        void drainQueue();
      });
    },
    scan(visit) {
      return serial(async () => {
        for (const seg of [...segments]) {
          if (seg.frames === 0) continue;
          // Read up to what this process counted: a group being appended is not scanned half.
          const buf = await readFile(join(dir, segName(seg.seq)));
          for (const b of parseFrames(buf.subarray(0, seg.bytes)).batches) visit(b);
        }
      });
    },
    takeOldest() {
      return serial(async () => {
        // Empty sealed segments (a crash right after creating one) are dropped on the way.
        while (segments[0] && segments[0].frames === 0 && segments[0].seq !== active?.seq) {
          await unlink(join(dir, segName(segments[0].seq))).catch(() => {});
          segments.shift();
        }
        const oldest = segments[0];
        if (!oldest || oldest.frames === 0) return undefined;
        if (active && oldest.seq === active.seq) {
          // Seal it: new appends go to a fresh segment from here on.
          const fh = active.fh;
          active = undefined;
          await fh.close();
        }
        const file = join(dir, segName(oldest.seq));
        const { batches } = parseFrames(await readFile(file));
        return {
          batches,
          remove: () =>
            serial(async () => {
              await unlink(file).catch(() => {});
              const i = segments.indexOf(oldest);
              if (i >= 0) segments.splice(i, 1);
              total -= oldest.bytes;
            }),
        };
      });
    },
    async close() {
      await drainQueue();
      await chain;
      await active?.fh.close();
      active = undefined;
    },
  };
}

/** Size of a spool directory on disk (for tests and health). */
export async function spoolSize(dir: string): Promise<number> {
  let n = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) n += (await stat(join(dir, name))).size;
  return n;
}
