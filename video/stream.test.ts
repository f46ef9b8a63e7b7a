// The supervised stream with a fake muxer: states, backoff, giving up, idle stop, slow viewers,
// throttled stderr. Fake timers; the real ffmpeg runs in test/cameras.e2e.test.ts.
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../kernel/index.ts';
import { backoffMs, CameraStream, truncateReason } from './stream.ts';

class FakeMuxer extends EventEmitter {
  child = Object.assign(new EventEmitter(), { pid: 4242 });
  exited = false;
  exit(code: number | null, signal: NodeJS.Signals | null = null) {
    if (this.exited) return;
    this.exited = true;
    this.child.emit('close', code, signal);
  }
}

function packet(payload: number[] = []) {
  const p = Buffer.alloc(188, 0xff);
  p[0] = 0x47;
  p[1] = 0x41;
  p[3] = 0x10;
  Buffer.from(payload).copy(p, 4);
  return p;
}
const SEQ = packet([0, 0, 1, 0xb3, 0x14, 0x00, 0xf0, 0x13]); // 320x240

function viewer(bufferedBytes = 0) {
  const got: Buffer[] = [];
  const v = {
    got,
    closed: undefined as undefined | { code: number; reason: string },
    send: (d: Buffer) => got.push(d),
    close: (code: number, reason: string) => {
      v.closed = { code, reason };
    },
    buffered: () => bufferedBytes,
  };
  return v;
}

describe('supervised camera stream', () => {
  let muxers: FakeMuxer[];
  let stops: number;
  const warn = vi.fn();
  const logger = Object.assign(silentLogger(), { warn }) as never;
  const make = (over: Partial<ConstructorParameters<typeof CameraStream>[1]['options']> = {}) =>
    new CameraStream('cam-1', {
      spawn: () => {
        const m = new FakeMuxer();
        muxers.push(m);
        return {
          muxer: m as never,
          stop: async () => {
            if (m.exited) return;
            stops++;
            m.exit(null, 'SIGTERM');
          },
        };
      },
      options: {
        idleStopMs: 5000,
        backoffBaseMs: 1000,
        backoffMaxMs: 8000,
        maxRetries: 3,
        stallMs: 15_000,
        maxViewerBufferBytes: 1000,
        ...over,
      },
      logger,
      onChange: () => {},
    });
  beforeEach(() => {
    vi.useFakeTimers();
    muxers = [];
    stops = 0;
    warn.mockClear();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('backs off exponentially up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, 1000, 8000))).toEqual([
      1000, 2000, 4000, 8000, 8000, 8000,
    ]);
  });

  it('starts with the first viewer, sends the header then whole packets, stops after the last leaves', async () => {
    const s = make();
    const v = viewer();
    s.add(v);
    expect(s.state).toBe('starting');
    muxers[0]!.emit('mpeg1data', Buffer.concat([SEQ, packet()]).subarray(0, 300));
    expect(s.state).toBe('live');
    expect(v.got[0]!.subarray(0, 4).toString()).toBe('jsmp');
    expect([v.got[0]!.readUInt16BE(4), v.got[0]!.readUInt16BE(6)]).toEqual([320, 240]);
    expect(v.got[1]!.length).toBe(188);
    s.remove(v);
    await vi.advanceTimersByTimeAsync(4999);
    expect(stops).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(stops).toBe(1);
    expect(s.state).toBe('idle');
  });

  it('a camera gone (exit 0) is retried with backoff; a fourth failure with maxRetries 3 gives up and tells the viewers', async () => {
    const s = make();
    const v = viewer();
    s.add(v);
    muxers[0]!.emit('ffmpegStderr', Buffer.from('rtsp://admin:pw@10.0.0.1/x: Connection refused\n'));
    muxers[0]!.exit(0);
    expect(s.state).toBe('retrying');
    expect(s.lastError).toBe(
      'the stream ended (camera gone or restarting): rtsp://***@10.0.0.1/x: Connection refused',
    );
    await vi.advanceTimersByTimeAsync(999);
    expect(muxers.length).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(muxers.length).toBe(2);
    muxers[1]!.exit(3); // the launcher's code for ffmpeg's 1
    expect(s.lastError).toMatch(/^ffmpeg exited with code 1/);
    await vi.advanceTimersByTimeAsync(2000);
    muxers[2]!.exit(0);
    await vi.advanceTimersByTimeAsync(4000);
    expect(s.state).toBe('starting');
    muxers[3]!.exit(0);
    expect(s.state).toBe('failed');
    expect(v.closed?.code).toBe(1011);
    expect(v.closed?.reason).toMatch(/^camera unavailable after 4 attempts/);
    // A new viewer starts again from scratch.
    s.add(viewer());
    expect(s.state).toBe('starting');
    expect(s.attempts).toBe(0);
  });

  it('video again resets the attempts; a silent ffmpeg is restarted after stallMs', async () => {
    const s = make({ stallMs: 3000 });
    s.add(viewer());
    muxers[0]!.exit(0);
    await vi.advanceTimersByTimeAsync(1000);
    muxers[1]!.emit('mpeg1data', SEQ);
    expect(s.attempts).toBe(0);
    await vi.advanceTimersByTimeAsync(4000);
    expect(stops).toBe(1);
    expect(s.lastError).toMatch(/no video for 3 s/);
    expect(s.state).toBe('retrying');
  });

  it('closes a viewer that cannot keep up, keeps the others', () => {
    const s = make();
    const slow = viewer(1001);
    const ok = viewer(1000);
    s.add(slow);
    s.add(ok);
    muxers[0]!.emit('mpeg1data', SEQ);
    muxers[0]!.emit('mpeg1data', packet());
    expect(slow.closed).toEqual({
      code: 1008,
      reason: 'viewer too slow: the connection cannot keep up with the stream',
    });
    expect(ok.closed).toBeUndefined();
    expect(s.viewerCount).toBe(1);
  });

  it('logs ffmpeg stderr at most once per 10 s, counting what it held back', async () => {
    const s = make();
    s.add(viewer());
    for (let i = 0; i < 50; i++) muxers[0]!.emit('ffmpegStderr', Buffer.from(`frame error ${i}\n`));
    expect(warn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(10_000);
    muxers[0]!.emit('mpeg1data', SEQ); // keep it from stalling
    muxers[0]!.emit('ffmpegStderr', Buffer.from('again\n'));
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[1]![0]).toMatchObject({ suppressed: 49, stderr: 'again' });
  });

  it('keeps close reasons within 123 bytes', () => {
    expect(Buffer.byteLength(truncateReason('摄像头'.repeat(100)))).toBeLessThanOrEqual(123);
    expect(truncateReason('short')).toBe('short');
  });
});
