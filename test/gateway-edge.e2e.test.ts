// No device can hurt or impersonate another through the broker (issue 9, findings 1-3): each test
// reproduces a finding against a real hub over TCP.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { closedWithin, connectPacket, type RawConn, rawConnect } from './support/raw-mqtt.ts';

const LOC = { lng: 120.165, lat: 30.255 };

function closeTime(c: MqttClient, from: number) {
  return new Promise<number>((r) => c.once('close', () => r(Date.now() - from)));
}

describe('finding 1: a change of credentials closes the connection', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it.each(['rotate', 'revoke'])(
    '%s closes MQTT 3.1.1 and MQTT 5 connections within a second',
    async (how) => {
      const id = `cred-${how}`;
      const token = await t.device({ id, profile: 'noise-level', location: LOC });
      const v4 = await t.connect(token);
      const v5 = await t.connect(token, { protocolVersion: 5 });
      const v5Disconnect = new Promise<any>((r) => v5.once('disconnect', r));
      const start = Date.now();
      const closed = Promise.all([closeTime(v4, start), closeTime(v5, start)]);
      const r =
        how === 'rotate'
          ? await t.api('POST', `/api/devices/${id}/token`)
          : await t.api('DELETE', `/api/devices/${id}/token`);
      expect(r.status).toBeLessThan(300);
      const [a, b] = await closed;
      expect(Math.max(a, b)).toBeLessThan(1000);
      expect((await v5Disconnect).reasonCode).toBe(0x87);
      // The old token no longer connects; the rotated one does.
      if (how === 'rotate') {
        const fresh = await t.connect(r.body.accessToken);
        expect(fresh.connected).toBe(true);
      }
    },
  );

  it('delete and re-create with the same id: the old connection is gone and gets nothing of the new device', async () => {
    const token = await t.device({ id: 'cred-reborn', profile: 'air-quality', location: LOC });
    const old = await t.connect(token, { reconnectPeriod: 0 });
    await old.subscribeAsync('v1/devices/me/attributes', { qos: 1 });
    const got: string[] = [];
    old.on('message', (topic) => got.push(topic));
    const closed = closeTime(old, Date.now());
    expect((await t.api('DELETE', '/api/devices/cred-reborn')).status).toBe(200);
    expect(await closed).toBeLessThan(1000);
    const newToken = await t.device({ id: 'cred-reborn', profile: 'air-quality', location: LOC });
    expect(newToken).not.toBe(token);
    await t.api('PUT', '/api/devices/cred-reborn/attributes', { shared: { secret: 1 } });
    // The old token cannot come back as the new device.
    const again = await mqtt
      .connectAsync(t.mqttUrl, { username: token, clientId: '', reconnectPeriod: 0, protocolVersion: 4 })
      .then(
        () => 'accepted',
        (e: { code?: number }) => e.code,
      );
    expect(again).toBe(5);
    expect(got).toEqual([]);
  });

  it('a publish racing the change is refused: the connection is bound to the credential', async () => {
    const token = await t.device({ id: 'cred-race', profile: 'noise-level', location: LOC });
    const c = await t.connect(token, { protocolVersion: 5 });
    await t.hub.parts.registry.devices.rotateToken('cred-race');
    // Whatever got through before the close, nothing is stored after the rotation.
    c.publish('v1/devices/me/telemetry', '{"LAeq":70}', { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    const pts = await t.api('GET', `/api/devices/cred-race/series?key=LAeq&from=${Date.now() - 60_000}`);
    expect(pts.body.points).toEqual([]);
  });
});

describe('finding 2: client ids are namespaced per device', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("device A connecting with B's client id does not kick B; a device still takes over its own session", async () => {
    const a = await t.device({ id: 'ns-a', profile: 'noise-level', location: LOC });
    const b = await t.device({ id: 'ns-b', profile: 'noise-level', location: LOC });
    const victim = await t.connect(b, { clientId: 'site-7-logger' });
    let kicked = false;
    victim.on('close', () => {
      kicked = true;
    });
    for (let i = 0; i < 3; i++) {
      const attacker = await t.connect(a, { clientId: 'site-7-logger' });
      await attacker.endAsync();
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(kicked).toBe(false);
    await victim.publishAsync('v1/devices/me/telemetry', '{"LAeq":55}', { qos: 1 });
    // [MQTT-3.1.4-2] within one device the newer connection takes the session over.
    const again = await t.connect(b, { clientId: 'site-7-logger' });
    await eventually(() => kicked);
    expect(again.connected).toBe(true);
  });
});

describe('finding 3: parser caps, connection caps, connect rate, keepalive, dead sockets', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({
      overrides: {
        gateway: {
          maxConnectionsPerAddress: 2,
          connectRatePerAddress: 0.2,
          connectBurstPerAddress: 5,
          keepaliveMaxSeconds: 1,
          connectTimeoutMs: 1000,
        },
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** A fixed header declaring `len` bytes of remaining length. */
  function header(type: number, len: number) {
    const bytes = [type];
    do {
      let b = len % 128;
      len = Math.floor(len / 128);
      if (len > 0) b |= 0x80;
      bytes.push(b);
    } while (len > 0);
    return Buffer.from(bytes);
  }

  async function flood(c: RawConn, limitBytes: number) {
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    let sent = 0;
    while (!c.isClosed() && sent < limitBytes) {
      if (!c.socket.write(chunk))
        await Promise.race([new Promise((r) => c.socket.once('drain', r)), c.closed]);
      sent += chunk.length;
    }
    return sent;
  }

  it('a CONNECT declaring 200 MiB is refused from its header; memory unchanged', async () => {
    global.gc?.();
    const before = process.memoryUsage();
    const conns = await Promise.all([1, 2].map(() => rawConnect(t.mqttUrl, { localAddress: '127.0.0.10' })));
    const sent = await Promise.all(
      conns.map(async (c) => {
        c.send(header(0x10, 200 * 1024 * 1024));
        return flood(c, 32 * 1024 * 1024);
      }),
    );
    for (const c of conns) expect(await closedWithin(c, 5000)).toBe(true);
    const after = process.memoryUsage();
    const grew = (after.rss - before.rss) / 1024 / 1024;
    console.log(
      `[gateway] 200 MiB CONNECT x2: closed after ${sent.map((s) => `${(s / 1024 / 1024).toFixed(1)} MiB`).join(', ')} sent; RSS ${(before.rss / 1048576).toFixed(0)} → ${(after.rss / 1048576).toFixed(0)} MiB, heap ${(before.heapUsed / 1048576).toFixed(0)} → ${(after.heapUsed / 1048576).toFixed(0)} MiB`,
    );
    expect(grew).toBeLessThan(64);
    expect(after.heapUsed - before.heapUsed).toBeLessThan(64 * 1024 * 1024);
  });

  it('after CONNECT, a PUBLISH declaring 200 MiB closes the connection at the parser', async () => {
    const token = await t.device({ id: 'cap-big', profile: 'generic', location: LOC });
    const c = await rawConnect(t.mqttUrl, { localAddress: '127.0.0.11' });
    c.send(connectPacket(token, { keepalive: 60 }));
    expect(((await c.next('connack')) as any).returnCode).toBe(0);
    const before = process.memoryUsage().heapUsed;
    c.send(header(0x32, 200 * 1024 * 1024));
    await flood(c, 32 * 1024 * 1024);
    expect(await closedWithin(c, 5000)).toBe(true);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('connections per source address are capped (2 here); another address is unaffected', async () => {
    const token = await t.device({ id: 'cap-addr', profile: 'generic', location: LOC });
    const open: RawConn[] = [];
    // Five CONNECTs from this address in all: within its connect burst (5), so only the cap refuses.
    for (let i = 0; i < 2; i++) {
      const c = await rawConnect(t.mqttUrl, { localAddress: '127.0.0.12' });
      c.send(connectPacket(token, { clientId: `c${i}` }));
      expect(((await c.next('connack')) as any).returnCode).toBe(0);
      open.push(c);
    }
    const fourth = await rawConnect(t.mqttUrl, { localAddress: '127.0.0.12', protocolVersion: 5 });
    fourth.send({ ...connectPacket(token, { clientId: 'c3' }), protocolVersion: 5 } as never);
    expect(((await fourth.next('connack')) as any).reasonCode).toBe(0x97);
    expect(await closedWithin(fourth, 3000)).toBe(true);
    const v4 = await rawConnect(t.mqttUrl, { localAddress: '127.0.0.12' });
    v4.send(connectPacket(token, { clientId: 'c4' }));
    expect(((await v4.next('connack')) as any).returnCode).toBe(3);
    v4.end();
    const elsewhere = await rawConnect(t.mqttUrl, { localAddress: '127.0.0.13' });
    elsewhere.send(connectPacket(token, { clientId: 'c5' }));
    expect(((await elsewhere.next('connack')) as any).returnCode).toBe(0);
    // Closing one frees its slot.
    open[0]!.end();
    await new Promise((r) => setTimeout(r, 100));
    const again = await rawConnect(t.mqttUrl, { localAddress: '127.0.0.12' });
    again.send(connectPacket(token, { clientId: 'c6' }));
    expect(((await again.next('connack')) as any).returnCode).toBe(0);
    for (const c of [...open, elsewhere, again]) c.end();
  });

  it('MQTT over WebSocket counts per source address too (the HTTP request address)', async () => {
    const token = await t.device({ id: 'cap-ws', profile: 'generic', location: LOC });
    const ws = (address: string, i: number) =>
      new Promise<number>((resolve, reject) => {
        const c = mqtt.connect(`${t.httpUrl.replace(/^http/, 'ws')}/mqtt`, {
          username: token,
          clientId: `ws${i}`,
          reconnectPeriod: 0,
          connectTimeout: 5000,
          wsOptions: { localAddress: address },
        } as never);
        open.push(c);
        c.once('connect', (ack) => resolve(ack.returnCode ?? 0));
        c.once('error', (err: any) => (err.code !== undefined ? resolve(err.code) : reject(err)));
      });
    const open: MqttClient[] = [];
    try {
      expect(await ws('127.0.0.19', 0)).toBe(0);
      expect(await ws('127.0.0.19', 1)).toBe(0);
      expect(await ws('127.0.0.19', 2)).toBe(3);
      expect(await ws('127.0.0.20', 3)).toBe(0);
    } finally {
      for (const c of open) c.end(true);
    }
  });

  it('new connections per address are rate limited (burst 5): the 6th → CONNACK 0x9F (3.1.1: 3)', async () => {
    const token = await t.device({ id: 'cap-rate', profile: 'generic', location: LOC });
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) {
      const v5 = i === 5;
      const c = await rawConnect(t.mqttUrl, { localAddress: '127.0.0.14', protocolVersion: v5 ? 5 : 4 });
      c.send({ ...connectPacket(token, { clientId: `r${i}` }), protocolVersion: v5 ? 5 : 4 } as never);
      const ack = (await c.next('connack')) as any;
      codes.push(v5 ? ack.reasonCode : ack.returnCode);
      c.end();
    }
    expect(codes).toEqual([0, 0, 0, 0, 0, 0x9f, 3]);
    const other = await rawConnect(t.mqttUrl, { localAddress: '127.0.0.15' });
    other.send(connectPacket(token, { clientId: 'x' }));
    expect(((await other.next('connack')) as any).returnCode).toBe(0);
    other.end();
  });

  it('keep alive is bounded: a client asking for none is reaped after 1.5x the maximum', async () => {
    const token = await t.device({ id: 'cap-ka', profile: 'generic', location: LOC });
    const c = await rawConnect(t.mqttUrl, { localAddress: '127.0.0.16' });
    c.send(connectPacket(token, { keepalive: 0 }));
    expect(((await c.next('connack')) as any).returnCode).toBe(0);
    const start = Date.now();
    expect(await closedWithin(c, 5000)).toBe(true);
    expect(Date.now() - start).toBeGreaterThanOrEqual(1400);
  });

  it('a socket that never sends CONNECT is closed after the connect timeout', async () => {
    const c = await rawConnect(t.mqttUrl, { localAddress: '127.0.0.17' });
    const start = Date.now();
    expect(await closedWithin(c, 5000)).toBe(true);
    expect(Date.now() - start).toBeGreaterThanOrEqual(900);
  });

  it('a CONNECT larger than the pre-CONNECT limit (8 KiB) is refused', async () => {
    const c = await rawConnect(t.mqttUrl, { localAddress: '127.0.0.18' });
    c.send(connectPacket('x'.repeat(9000)));
    expect(await closedWithin(c, 3000)).toBe(true);
    expect(c.packets).toEqual([]);
  });
});
