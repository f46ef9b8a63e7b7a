/**
 * The first packet of every connection, checked before the broker sees a byte of it: MQTT 3.1.1
 * section 3.1 (CONNECT) rules that Aedes does not enforce, and a small size limit that holds until
 * the CONNECT is accepted (Aedes has one global maximum packet size, so a header declaring 200 MiB
 * would otherwise be allowed to stream in before authentication). Pure functions over bytes, plus
 * a thin reader that takes the CONNECT off a socket and puts it back for the broker.
 */
import type { Duplex } from 'node:stream';

export type ConnectVerdict =
  | {
      kind: 'ok';
      version: 3 | 4 | 5;
      /** Offset of the two keep-alive bytes in the buffer (so the gateway can bound them). */
      keepaliveOffset: number;
      keepalive: number;
      cleanSession: boolean;
    }
  /** Close the network connection without a CONNACK ([MQTT-3.1.4-1]). */
  | { kind: 'close'; rule: string; reason: string }
  /** Answer with this CONNACK return code, then close ([MQTT-3.1.2-2]). */
  | { kind: 'connack'; rule: string; reason: string; returnCode: number };

/** The fixed header's declared remaining length, once enough bytes are in. [MQTT-2.2.3] */
export function remainingLength(
  buf: Buffer,
): { length: number; headerBytes: number } | { malformed: true } | undefined {
  let multiplier = 1;
  let value = 0;
  for (let i = 1; i <= 4; i++) {
    if (buf.length <= i) return undefined;
    const byte = buf[i]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return { length: value, headerBytes: i + 1 };
    multiplier *= 128;
  }
  return { malformed: true };
}

/**
 * A UTF-8 string as MQTT defines it: well-formed, no U+0000 [MQTT-1.5.3-2], no surrogate code
 * points [MQTT-1.5.3-1] (TextDecoder with `fatal` rejects both ill-formed sequences and encoded
 * surrogates).
 */
const utf8 = new TextDecoder('utf-8', { fatal: true });
function validUtf8(bytes: Buffer): string | undefined {
  try {
    const s = utf8.decode(bytes);
    return s.includes('\u0000') ? undefined : s;
  } catch {
    return undefined;
  }
}

/** Checks one complete CONNECT packet (fixed header included). */
export function checkConnect(buf: Buffer): ConnectVerdict {
  const close = (rule: string, reason: string): ConnectVerdict => ({ kind: 'close', rule, reason });
  // [MQTT-3.1.0-1] the first packet from the client MUST be CONNECT; [MQTT-2.2.2-2] its flags are 0.
  if (buf[0] !== 0x10) {
    return (buf[0]! & 0xf0) === 0x10
      ? close('MQTT-2.2.2-2', 'CONNECT fixed header flags must be 0')
      : close('MQTT-3.1.0-1', 'the first packet must be CONNECT');
  }
  const rl = remainingLength(buf);
  if (!rl || 'malformed' in rl) return close('MQTT-3.1.4-1', 'malformed remaining length');
  const end = rl.headerBytes + rl.length;
  if (buf.length < end) return close('MQTT-3.1.4-1', 'truncated CONNECT');
  let at = rl.headerBytes;
  const u16 = () => {
    if (at + 2 > end) return undefined;
    const v = buf.readUInt16BE(at);
    at += 2;
    return v;
  };
  const bytes = () => {
    const n = u16();
    if (n === undefined || at + n > end) return undefined;
    const b = buf.subarray(at, at + n);
    at += n;
    return b;
  };
  const name = bytes();
  if (!name) return close('MQTT-3.1.4-1', 'truncated protocol name');
  if (at + 4 > end) return close('MQTT-3.1.4-1', 'truncated variable header');
  const level = buf[at]!;
  const flags = buf[at + 1]!;
  const keepaliveOffset = at + 2;
  const keepalive = buf.readUInt16BE(keepaliveOffset);
  at += 4;
  const protocol = name.toString('latin1');
  // [MQTT-3.1.2-1] an unknown protocol name: close without CONNACK. (3.1 used "MQIsdp".)
  if (protocol !== 'MQTT' && protocol !== 'MQIsdp')
    return close('MQTT-3.1.2-1', `protocol name ${JSON.stringify(protocol.slice(0, 16))} is not MQTT`);
  // [MQTT-3.1.2-2] an unsupported level: CONNACK 0x01, then close.
  const version = protocol === 'MQIsdp' ? (level === 3 ? 3 : 0) : level === 4 || level === 5 ? level : 0;
  if (version === 0)
    return {
      kind: 'connack',
      rule: 'MQTT-3.1.2-2',
      reason: `protocol level ${level} is not supported`,
      returnCode: 1,
    };
  // [MQTT-3.1.2-3] the reserved flag MUST be 0.
  if (flags & 0x01) return close('MQTT-3.1.2-3', 'the reserved CONNECT flag is set');
  const will = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  if (!will && willQos !== 0) return close('MQTT-3.1.2-13', 'will QoS must be 0 when the will flag is 0'); // also 3.1.2-11
  if (will && willQos === 3) return close('MQTT-3.1.2-14', 'will QoS 3 is not allowed');
  if (!will && willRetain) return close('MQTT-3.1.2-15', 'will retain must be 0 when the will flag is 0');
  if (version !== 5 && !hasUsername && hasPassword)
    return close('MQTT-3.1.2-22', 'a password flag without a user name flag');
  if (version === 5) {
    const props = varint(buf, at, end);
    if (!props) return close('MQTT-3.1.4-1', 'malformed properties');
    at = props.next + props.value;
    if (at > end) return close('MQTT-3.1.4-1', 'truncated properties');
  }
  const clientId = bytes();
  if (!clientId) return close('MQTT-3.1.4-1', 'truncated client identifier');
  if (validUtf8(clientId) === undefined)
    return close('MQTT-3.1.3-4', 'the client identifier is not a valid UTF-8 string');
  if (will) {
    if (version === 5) {
      const props = varint(buf, at, end);
      if (!props) return close('MQTT-3.1.4-1', 'malformed will properties');
      at = props.next + props.value;
    }
    const topic = bytes();
    if (!topic) return close('MQTT-3.1.4-1', 'truncated will topic');
    if (validUtf8(topic) === undefined)
      return close('MQTT-3.1.3-10', 'the will topic is not a valid UTF-8 string');
    if (!bytes()) return close('MQTT-3.1.4-1', 'truncated will message');
  }
  if (hasUsername) {
    const user = bytes();
    if (!user) return close('MQTT-3.1.4-1', 'truncated user name');
    if (validUtf8(user) === undefined)
      return close('MQTT-3.1.3-11', 'the user name is not a valid UTF-8 string');
  }
  if (hasPassword && !bytes()) return close('MQTT-3.1.4-1', 'truncated password');
  if (at !== end) return close('MQTT-3.1.4-1', 'bytes after the CONNECT payload');
  return {
    kind: 'ok',
    version: version as 3 | 4 | 5,
    keepaliveOffset,
    keepalive,
    cleanSession: (flags & 0x02) !== 0,
  };
}

function varint(buf: Buffer, at: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < 4; i++) {
    if (at + i >= end) return undefined;
    const b = buf[at + i]!;
    value += (b & 0x7f) * multiplier;
    if ((b & 0x80) === 0) return { value, next: at + i + 1 };
    multiplier *= 128;
  }
  return undefined;
}

export type ReadConnectResult =
  | { ok: true; packet: Buffer; rest: Buffer }
  | { ok: false; reason: string; rule?: string; tooLarge?: number };

/**
 * Takes the first packet off a stream, reading no more than `maxBytes` of it and waiting no more
 * than `timeoutMs`. The bytes read are handed back (`packet` + whatever followed it) for the
 * caller to `unshift` before the broker reads the stream.
 */
export function readConnect(stream: Duplex, maxBytes: number, timeoutMs: number): Promise<ReadConnectResult> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (r: ReadConnectResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onEnd);
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: 'no CONNECT in time' }), timeoutMs);
    timer.unref?.();
    const onEnd = () => finish({ ok: false, reason: 'closed before CONNECT' });
    const onReadable = () => {
      for (;;) {
        const chunk = stream.read() as Buffer | null;
        if (chunk === null) return;
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        if (buf.length >= 1 && (buf[0]! & 0xf0) !== 0x10)
          return finish({ ok: false, rule: 'MQTT-3.1.0-1', reason: 'the first packet must be CONNECT' });
        const rl = remainingLength(buf);
        if (rl === undefined) {
          if (buf.length > maxBytes) return finish({ ok: false, reason: 'CONNECT header too long' });
          continue;
        }
        if ('malformed' in rl)
          return finish({ ok: false, rule: 'MQTT-3.1.4-1', reason: 'malformed remaining length' });
        const total = rl.headerBytes + rl.length;
        // Refused from the declared length, before the body is buffered.
        if (total > maxBytes)
          return finish({ ok: false, reason: `CONNECT of ${total} bytes declared`, tooLarge: total });
        if (buf.length >= total)
          return finish({ ok: true, packet: buf.subarray(0, total), rest: buf.subarray(total) });
      }
    };
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
    stream.on('error', onEnd);
    onReadable();
  });
}
