import { describe, expect, it } from 'vitest';
import { jsmpegHeader, mpeg1Size, TS_PACKET, TsPacketizer } from './mpegts.ts';

function packet(payload: number[] = [], fill = 0xff): Buffer {
  const p = Buffer.alloc(TS_PACKET, fill);
  p[0] = 0x47;
  p[1] = 0x41;
  p[2] = 0x00;
  p[3] = 0x10; // payload only
  Buffer.from(payload).copy(p, 4);
  return p;
}

describe('MPEG-TS framing', () => {
  it('writes the jsmpeg header', () => {
    expect([...jsmpegHeader(640, 480)]).toEqual([0x6a, 0x73, 0x6d, 0x70, 0x02, 0x80, 0x01, 0xe0]);
  });

  it('passes only whole packets, whatever the chunking', () => {
    const stream = Buffer.concat([packet([1]), packet([2]), packet([3]), packet([4])]);
    for (const cut of [1, 7, 100, 188, 200, 500]) {
      const t = new TsPacketizer();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += cut) out.push(t.push(stream.subarray(i, i + cut)));
      const all = Buffer.concat(out);
      expect(all.equals(stream), `cut ${cut}`).toBe(true);
      for (const o of out) expect(o.length % TS_PACKET).toBe(0);
    }
  });

  it('drops a partial packet at a restart and resynchronises on garbage', () => {
    const t = new TsPacketizer();
    expect(t.push(packet([1]).subarray(0, 100)).length).toBe(0);
    t.reset();
    const out = t.push(Buffer.concat([Buffer.from([1, 2, 3]), packet([9]), packet([8])]));
    expect(out.length).toBe(2 * TS_PACKET);
    expect(out[4]).toBe(9);
    expect(t.skipped).toBe(3);
  });

  it('finds the MPEG-1 size in a sequence header', () => {
    // 352x288: 0x160, 0x120 → 16 01 20
    const ts = Buffer.concat([
      packet([0, 0, 1, 0xe0, 0, 0]),
      packet([0, 0, 1, 0xb3, 0x16, 0x01, 0x20, 0x13]),
    ]);
    expect(mpeg1Size(ts)).toEqual({ width: 352, height: 288 });
    expect(mpeg1Size(packet([1, 2, 3]))).toBeUndefined();
  });
});
