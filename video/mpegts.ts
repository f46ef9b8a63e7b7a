/**
 * MPEG-TS framing for the live view. Pure. ffmpeg's stdout arrives in pipe-sized chunks that cut
 * 188-byte transport packets anywhere (ISO/IEC 13818-1 §2.4.3: a packet is 188 bytes starting
 * with the sync byte 0x47); viewers must only ever get whole packets, so one joining mid-stream or
 * a stream restarting after the camera came back never leaves a viewer out of step.
 */

export const TS_PACKET = 188;
export const TS_SYNC = 0x47;

/**
 * jsmpeg's stream header (as node-rtsp-stream's videoStream sends it): the 4 bytes `jsmp`, then
 * width and height as unsigned 16-bit big-endian.
 */
export function jsmpegHeader(width: number, height: number): Buffer {
  const b = Buffer.alloc(8);
  b.write('jsmp', 0, 'ascii');
  b.writeUInt16BE(width, 4);
  b.writeUInt16BE(height, 6);
  return b;
}

/** Cuts a byte stream into whole transport packets, resynchronising on the sync byte if lost. */
export class TsPacketizer {
  private rest: Buffer = Buffer.alloc(0);
  /** Bytes skipped while looking for the sync byte (a corrupt or non-TS stream). */
  skipped = 0;

  push(chunk: Buffer): Buffer {
    let buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    let start = 0;
    // Resynchronise: a packet starts with 0x47 and so does the next one.
    while (start < buf.length && buf[start] !== TS_SYNC) start++;
    this.skipped += start;
    buf = buf.subarray(start);
    const whole = buf.length - (buf.length % TS_PACKET);
    let ok = 0;
    while (ok < whole && buf[ok] === TS_SYNC) ok += TS_PACKET;
    if (ok < whole) {
      // Lost sync mid-chunk: keep what is good, retry the rest from its next sync byte.
      this.rest = Buffer.from(buf.subarray(ok + 1));
      this.skipped += 1;
      const tail = this.push(Buffer.alloc(0));
      return Buffer.concat([buf.subarray(0, ok), tail]);
    }
    this.rest = Buffer.from(buf.subarray(whole));
    return buf.subarray(0, whole);
  }

  /** A new stream (ffmpeg restarted): a partial packet of the old one is dropped. */
  reset(): void {
    this.rest = Buffer.alloc(0);
  }
}

/** The payload bytes of whole TS packets (adaptation fields skipped), in order. */
export function tsPayloads(packets: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i + TS_PACKET <= packets.length; i += TS_PACKET) {
    if (packets[i] !== TS_SYNC) continue;
    const afc = (packets[i + 3]! >> 4) & 0x3;
    let p = i + 4;
    if (afc === 2) continue; // adaptation field only
    if (afc === 3) p += 1 + packets[p]!;
    if (p < i + TS_PACKET) parts.push(packets.subarray(p, i + TS_PACKET));
  }
  return Buffer.concat(parts);
}

/**
 * Width and height from the first MPEG-1 sequence header (start code 00 00 01 B3, then 12 bits of
 * width and 12 of height; ISO/IEC 11172-2 §2.4.2.3) found in TS packets, or undefined.
 */
export function mpeg1Size(packets: Buffer): { width: number; height: number } | undefined {
  const es = tsPayloads(packets);
  for (let i = 0; i + 7 <= es.length; i++) {
    if (es[i] === 0 && es[i + 1] === 0 && es[i + 2] === 1 && es[i + 3] === 0xb3) {
      const width = (es[i + 4]! << 4) | (es[i + 5]! >> 4);
      const height = ((es[i + 5]! & 0x0f) << 8) | es[i + 6]!;
      if (width > 0 && height > 0) return { width, height };
    }
  }
  return undefined;
}
