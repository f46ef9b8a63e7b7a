// MQTT 3.1.1 section 3.1 (CONNECT) at the device edge: one test per normative statement that a
// server can be held to, named after its id, with hand-made packets over raw TCP. What Aedes 2 does
// not enforce, the gateway's connect guard does (gateway/connect-guard.ts); README has the audit.
// Spec: https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html#_Toc398718028
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { closedWithin, connectPacket, type RawConn, rawConnect } from './support/raw-mqtt.ts';

const LOC = { lng: 120.165, lat: 30.255 };
let t: TestHub;
let token: string;
beforeAll(async () => {
  t = await startTestHub();
  token = await t.device({ id: 'conf-1', profile: 'generic', location: LOC });
});
afterAll(async () => {
  await t?.stop();
});

const str = (s: string | Buffer) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
};
function remaining(n: number) {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}
/** A CONNECT built byte by byte, so that it can break the rules. */
function connectBytes(o: {
  first?: number;
  name?: string;
  level?: number;
  flags: number;
  keepalive?: number;
  payload: Buffer[];
}) {
  const ka = Buffer.alloc(2);
  ka.writeUInt16BE(o.keepalive ?? 60);
  const body = Buffer.concat([str(o.name ?? 'MQTT'), Buffer.from([o.level ?? 4, o.flags]), ka, ...o.payload]);
  return Buffer.concat([Buffer.from([o.first ?? 0x10]), remaining(body.length), body]);
}
const USER = 0x80;
const PASS = 0x40;
const WILL = 0x04;
const CLEAN = 0x02;

async function open(): Promise<RawConn> {
  return rawConnect(t.mqttUrl);
}
/** Sends raw bytes; resolves with the CONNACK return code, or 'closed' when closed without one. */
async function attempt(bytes: Buffer): Promise<number | 'closed'> {
  const c = await open();
  c.send(bytes);
  const ack = (await c.next('connack', 3000)) as { returnCode?: number } | undefined;
  if (ack) {
    c.end();
    return ack.returnCode!;
  }
  expect(await closedWithin(c, 3000)).toBe(true);
  return 'closed';
}
const validFlags = USER | CLEAN;
const valid = (extra: Partial<Parameters<typeof connectBytes>[0]> = {}) =>
  connectBytes({ flags: validFlags, payload: [str('dev-a'), str(token)], ...extra });

describe('MQTT 3.1.1 section 3.1 CONNECT', () => {
  it('[MQTT-3.1.0-1] the first packet must be CONNECT: a PUBLISH first closes the connection', async () => {
    const c = await open();
    c.send({
      cmd: 'publish',
      topic: 'v1/devices/me/telemetry',
      payload: Buffer.from('{"x":1}'),
      qos: 0,
      retain: false,
      dup: false,
    });
    expect(await closedWithin(c, 3000)).toBe(true);
    expect(c.packets).toEqual([]);
  });

  it('[MQTT-3.1.0-2] a second CONNECT is a protocol violation: disconnected', async () => {
    const c = await open();
    c.send(valid());
    expect(((await c.next('connack')) as any).returnCode).toBe(0);
    c.send(valid());
    expect(await closedWithin(c, 3000)).toBe(true);
  });

  it('[MQTT-3.1.2-1] a wrong protocol name: closed without CONNACK', async () => {
    expect(await attempt(valid({ name: 'MQTX' }))).toBe('closed');
  });

  it('[MQTT-3.1.2-2] an unsupported protocol level: CONNACK 0x01, then closed', async () => {
    const c = await open();
    c.send(valid({ level: 7 }));
    expect(((await c.next('connack')) as any).returnCode).toBe(1);
    expect(await closedWithin(c, 3000)).toBe(true);
  });

  it('[MQTT-3.1.2-3] the reserved flag set: disconnected', async () => {
    expect(await attempt(valid({ flags: validFlags | 0x01 }))).toBe('closed');
  });

  /** Connects with CleanSession 0, subscribes to attributes at QoS 1 and disconnects cleanly;
   * resolves with the CONNACK's session-present flag. */
  async function leaveSession(clientId: string): Promise<boolean> {
    const c = await open();
    c.send(connectPacket(token, { clientId, clean: false }));
    const present = ((await c.next('connack')) as any).sessionPresent as boolean;
    c.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [{ topic: 'v1/devices/me/attributes', qos: 1 }],
    });
    await c.next('suback');
    c.send({ cmd: 'disconnect' });
    await c.closed;
    return present;
  }

  it('[MQTT-3.1.2-4] CleanSession 0 resumes the session (session present) ', async () => {
    expect(await leaveSession('keep-4')).toBe(false);
    const again = await open();
    again.send(connectPacket(token, { clientId: 'keep-4', clean: false }));
    expect(((await again.next('connack')) as any).sessionPresent).toBe(true);
    again.end();
  });

  it('[MQTT-3.1.2-5] after a CleanSession 0 disconnect, QoS 1 messages for its subscriptions are stored', async () => {
    await leaveSession('keep-5');
    await t.api('PUT', '/api/devices/conf-1/attributes', { shared: { rule5: 1 } });
    const again = await open();
    again.send(connectPacket(token, { clientId: 'keep-5', clean: false }));
    await again.next('connack');
    const msg = (await again.next('publish')) as any;
    expect(msg.topic).toBe('v1/devices/me/attributes');
    expect(JSON.parse(msg.payload.toString())).toEqual({ rule5: 1 });
    expect(msg.qos).toBe(1);
    again.end();
  });

  it('[MQTT-3.1.2-6] CleanSession 1 discards the previous session', async () => {
    await leaveSession('keep-6');
    await t.api('PUT', '/api/devices/conf-1/attributes', { shared: { rule6: 1 } });
    const clean = await open();
    clean.send(connectPacket(token, { clientId: 'keep-6', clean: true }));
    expect(((await clean.next('connack')) as any).sessionPresent).toBe(false);
    expect(await clean.next('publish', 500)).toBeUndefined();
    clean.send({ cmd: 'disconnect' });
    await clean.closed;
    const after = await open();
    after.send(connectPacket(token, { clientId: 'keep-6', clean: false }));
    expect(((await after.next('connack')) as any).sessionPresent).toBe(false);
    after.end();
  });

  it('[MQTT-3.1.2-8] the will is published when the connection closes without DISCONNECT', async () => {
    const c = await open();
    c.send(
      connectPacket(token, {
        clientId: 'will-8',
        will: {
          topic: 'v1/devices/me/attributes',
          payload: Buffer.from('{"link":"lost"}'),
          qos: 1,
          retain: false,
        },
      }),
    );
    await c.next('connack');
    c.end();
    await eventually(
      async () => (await t.api('GET', '/api/devices/conf-1')).body.clientAttributes.link === 'lost',
    );
  });

  it('[MQTT-3.1.2-9] will flag 1 without will topic and message: closed', async () => {
    expect(await attempt(connectBytes({ flags: validFlags | WILL, payload: [str('w9'), str(token)] }))).toBe(
      'closed',
    );
  });

  it('[MQTT-3.1.2-10] the will is removed on DISCONNECT (not published)', async () => {
    const c = await open();
    c.send(
      connectPacket(token, {
        clientId: 'will-10',
        will: {
          topic: 'v1/devices/me/attributes',
          payload: Buffer.from('{"rule10":"will"}'),
          qos: 1,
          retain: false,
        },
      }),
    );
    await c.next('connack');
    c.send({ cmd: 'disconnect' });
    await c.closed;
    await new Promise((r) => setTimeout(r, 300));
    expect((await t.api('GET', '/api/devices/conf-1')).body.clientAttributes.rule10).toBeUndefined();
  });

  it('[MQTT-3.1.2-11] will flag 0 with will topic and message in the payload: closed', async () => {
    expect(
      await attempt(
        connectBytes({ flags: validFlags, payload: [str('w11'), str('v1/x'), str('m'), str(token)] }),
      ),
    ).toBe('closed');
  });

  it('[MQTT-3.1.2-12] will flag 0: nothing is published when the connection ends', async () => {
    const before = (await t.api('GET', '/api/devices/conf-1')).body.clientAttributes;
    const c = await open();
    c.send(valid());
    await c.next('connack');
    c.end();
    await new Promise((r) => setTimeout(r, 300));
    expect((await t.api('GET', '/api/devices/conf-1')).body.clientAttributes).toEqual(before);
  });

  it('[MQTT-3.1.2-13] will flag 0 with will QoS 1: closed', async () => {
    expect(await attempt(valid({ flags: validFlags | 0x08 }))).toBe('closed');
  });

  it('[MQTT-3.1.2-14] will QoS 3: closed', async () => {
    expect(
      await attempt(
        connectBytes({
          flags: validFlags | WILL | 0x18,
          payload: [str('w14'), str('v1/devices/me/attributes'), str('{}'), str(token)],
        }),
      ),
    ).toBe('closed');
  });

  it('[MQTT-3.1.2-15] will flag 0 with will retain 1: closed', async () => {
    expect(await attempt(valid({ flags: validFlags | 0x20 }))).toBe('closed');
  });

  it('[MQTT-3.1.2-18] user name flag 0 with a user name in the payload: closed', async () => {
    expect(await attempt(connectBytes({ flags: CLEAN, payload: [str('u18'), str(token)] }))).toBe('closed');
  });

  it('[MQTT-3.1.2-19] user name flag 1 without a user name: closed', async () => {
    expect(await attempt(connectBytes({ flags: USER | CLEAN, payload: [str('u19')] }))).toBe('closed');
  });

  it('[MQTT-3.1.2-20] password flag 0 with a password in the payload: closed', async () => {
    expect(
      await attempt(connectBytes({ flags: USER | CLEAN, payload: [str('p20'), str(token), str('pw')] })),
    ).toBe('closed');
  });

  it('[MQTT-3.1.2-21] password flag 1 without a password: closed', async () => {
    expect(
      await attempt(connectBytes({ flags: USER | PASS | CLEAN, payload: [str('p21'), str(token)] })),
    ).toBe('closed');
  });

  it('[MQTT-3.1.2-22] password flag 1 with user name flag 0: closed', async () => {
    expect(await attempt(connectBytes({ flags: PASS | CLEAN, payload: [str('p22'), str('pw')] }))).toBe(
      'closed',
    );
  });

  it('[MQTT-3.1.2-24] no packet within 1.5x the keep alive: disconnected', async () => {
    const c = await open();
    c.send(valid({ keepalive: 1 }));
    await c.next('connack');
    const start = Date.now();
    expect(await closedWithin(c, 4000)).toBe(true);
    expect(Date.now() - start).toBeGreaterThanOrEqual(1400);
  });

  it('[MQTT-3.1.3-3] no client identifier: closed', async () => {
    expect(await attempt(connectBytes({ flags: CLEAN, payload: [] }))).toBe('closed');
  });

  it('[MQTT-3.1.3-4] a client identifier that is not UTF-8 (or holds U+0000): closed', async () => {
    expect(
      await attempt(
        connectBytes({ flags: validFlags, payload: [str(Buffer.from([0xc3, 0x28])), str(token)] }),
      ),
    ).toBe('closed');
    expect(await attempt(connectBytes({ flags: validFlags, payload: [str('a\u0000b'), str(token)] }))).toBe(
      'closed',
    );
  });

  it('[MQTT-3.1.3-5] client ids of 1-23 letters and digits are allowed', async () => {
    expect(
      await attempt(
        connectBytes({ flags: validFlags, payload: [str('Abcdefghij0123456789xyz'), str(token)] }),
      ),
    ).toBe(0);
    expect(await attempt(connectBytes({ flags: validFlags, payload: [str('a'), str(token)] }))).toBe(0);
  });

  it('[MQTT-3.1.3-6] a zero-byte client id with CleanSession 1 is accepted and given a unique id', async () => {
    const a = await open();
    const b = await open();
    a.send(connectBytes({ flags: validFlags, payload: [str(''), str(token)] }));
    b.send(connectBytes({ flags: validFlags, payload: [str(''), str(token)] }));
    expect(((await a.next('connack')) as any).returnCode).toBe(0);
    expect(((await b.next('connack')) as any).returnCode).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(a.isClosed() || b.isClosed()).toBe(false); // two sessions, not one taken over
    a.end();
    b.end();
  });

  it('[MQTT-3.1.3-8] a zero-byte client id with CleanSession 0: CONNACK 0x02, then closed', async () => {
    const c = await open();
    c.send(connectBytes({ flags: USER, payload: [str(''), str(token)] }));
    expect(((await c.next('connack')) as any).returnCode).toBe(2);
    expect(await closedWithin(c, 3000)).toBe(true);
  });

  it('[MQTT-3.1.3-10] a will topic that is not UTF-8: closed', async () => {
    expect(
      await attempt(
        connectBytes({
          flags: validFlags | WILL,
          payload: [str('w10'), str(Buffer.from([0xff, 0xfe])), str('{}'), str(token)],
        }),
      ),
    ).toBe('closed');
  });

  it('[MQTT-3.1.3-11] a user name that is not UTF-8: closed', async () => {
    expect(
      await attempt(
        connectBytes({ flags: validFlags, payload: [str('u11'), str(Buffer.from([0xed, 0xa0, 0x80]))] }),
      ),
    ).toBe('closed');
  });

  it('[MQTT-3.1.4-1] a CONNECT that does not conform (bytes after its payload): closed without CONNACK', async () => {
    expect(
      await attempt(
        connectBytes({ flags: validFlags, payload: [str('x1'), str(token), Buffer.from([1, 2, 3])] }),
      ),
    ).toBe('closed');
    // …and one whose fixed header flags are not 0 [MQTT-2.2.2-2].
    expect(await attempt(valid({ first: 0x12 }))).toBe('closed');
  });

  it('[MQTT-3.1.4-2] the same client id (of the same device) disconnects the existing client', async () => {
    const a = await open();
    a.send(connectPacket(token, { clientId: 'same-id' }));
    await a.next('connack');
    const b = await open();
    b.send(connectPacket(token, { clientId: 'same-id' }));
    expect(((await b.next('connack')) as any).returnCode).toBe(0);
    expect(await closedWithin(a, 3000)).toBe(true);
    b.end();
  });

  it('[MQTT-3.1.4-3] [MQTT-3.1.4-4] a valid CONNECT: CleanSession processed, CONNACK 0', async () => {
    const c = await open();
    c.send(valid());
    const ack = (await c.next('connack')) as any;
    expect(ack).toMatchObject({ returnCode: 0, sessionPresent: false });
    c.end();
  });

  it('[MQTT-3.1.4-5] after a rejected CONNECT, data sent behind it is not processed', async () => {
    const c = await open();
    const publish = Buffer.from([
      0x30,
      ...remaining(2 + 23 + 9),
      ...str('v1/devices/me/telemetry'),
      ...Buffer.from('{"r45":1}'),
    ]);
    // Rejected (zero-byte id with CleanSession 0 → 0x02), a PUBLISH in the same write.
    c.send(Buffer.concat([connectBytes({ flags: USER, payload: [str(''), str(token)] }), publish]));
    expect(((await c.next('connack')) as any).returnCode).toBe(2);
    await closedWithin(c, 3000);
    await new Promise((r) => setTimeout(r, 300));
    const pts = await t.api('GET', `/api/devices/conf-1/series?key=r45&from=${Date.now() - 60_000}`);
    expect(pts.body.points).toEqual([]);
  });
});
