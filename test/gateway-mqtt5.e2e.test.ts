// MQTT 5 devices at the gateway (contract, devices section): mqtt.js v5 and mosquitto_pub -V mqttv5
// against a real hub over TCP.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, holdStore, startTestHub, type TestHub } from './support/hub.ts';
import { rawConnect } from './support/raw-mqtt.ts';

const LOC = { lng: 120.165, lat: 30.255 };
const MAX_PACKET = 200_000;
const hasMosquittoPub = spawnSync('mosquitto_pub', ['--help']).error === undefined;

let t: TestHub;
beforeAll(async () => {
  t = await startTestHub({ overrides: { gateway: { maxPacketBytes: MAX_PACKET } } });
});
afterAll(async () => {
  await t?.stop();
});

const opened: MqttClient[] = [];
afterAll(async () => {
  await Promise.all(opened.map((c) => c.endAsync(true).catch(() => {})));
});

/** Connects with MQTT 5; resolves with the client and its CONNACK, or the refusal's reason code. */
function connect5(
  token: string | undefined,
  opts: IClientOptions = {},
): Promise<{ client: MqttClient; connack: any } | { refused: number }> {
  return new Promise((resolve) => {
    const c = mqtt.connect(t.mqttUrl, {
      protocolVersion: 5,
      username: token,
      clientId: '',
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...opts,
    });
    opened.push(c);
    c.once('connect', (connack) => resolve({ client: c, connack }));
    c.once('error', (err) => {
      c.end(true);
      resolve({ refused: (err as Error & { code?: number }).code ?? -1 });
    });
  });
}
async function client5(token: string, opts: IClientOptions = {}) {
  const r = await connect5(token, opts);
  if ('refused' in r) throw new Error(`refused with ${r.refused}`);
  return r.client;
}
/** One QoS 1 publish; resolves with the PUBACK's reason code and reason string. */
function pub5(c: MqttClient, topic: string, payload: string | Buffer, qos: 0 | 1 | 2 = 1) {
  return new Promise<{ code: number; reason?: string }>((resolve) =>
    c.publish(topic, payload, { qos }, (err, packet) =>
      resolve({
        code: (packet as any)?.reasonCode ?? (err as any)?.code ?? 0,
        reason: (packet as any)?.properties?.reasonString,
      }),
    ),
  );
}
const series = async (id: string, key: string) =>
  ((await t.api('GET', `/api/devices/${id}/series?key=${key}&from=${Date.now() - 86_400_000}`)).body.points ??
    []) as { value: number }[];

describe('MQTT 5 devices', () => {
  it('token as user name; CONNACK advertises the hub limits', async () => {
    const token = await t.device({ id: 'v5-a', profile: 'air-quality', location: LOC });
    const r = await connect5(token, { keepalive: 60 });
    if ('refused' in r) throw new Error('refused');
    expect(r.connack.reasonCode).toBe(0);
    expect(r.connack.properties).toMatchObject({
      maximumPacketSize: MAX_PACKET,
      receiveMaximum: 100,
      topicAliasMaximum: 16,
      serverKeepAlive: 60,
    });
    expect(r.connack.properties.assignedClientIdentifier).toBeTruthy();
    expect(await pub5(r.client, 'v1/devices/me/telemetry', '{"pm10":42}')).toEqual({
      code: 0,
      reason: undefined,
    });
    expect((await series('v5-a', 'pm10')).map((p) => p.value)).toEqual([42]);
    // Keep alive 0 (none) or over the maximum: the server's maximum (600 s) is imposed.
    const none = await connect5(token, { keepalive: 0 });
    if ('refused' in none) throw new Error('refused');
    expect(none.connack.properties.serverKeepAlive).toBe(600);
  });

  it('unknown token → 0x87, no token → 0x86', async () => {
    expect(await connect5('no-such-token')).toEqual({ refused: 0x87 });
    expect(await connect5(undefined)).toEqual({ refused: 0x86 });
  });

  it('a refused publish gets PUBACK 0x87 and the connection stays', async () => {
    const c = await client5(await t.device({ id: 'v5-acl', profile: 'noise-level', location: LOC }));
    const r = await pub5(c, 'v1/devices/other/telemetry', '{"LAeq":50}');
    expect(r.code).toBe(0x87);
    expect(r.reason).toMatch(/not allowed/);
    expect((await pub5(c, 'v1/gateway/telemetry', '{}')).code).toBe(0x87);
    expect(c.connected).toBe(true);
    expect((await pub5(c, 'v1/devices/me/telemetry', '{"LAeq":51}')).code).toBe(0);
    expect((await series('v5-acl', 'LAeq')).map((p) => p.value)).toEqual([51]);
  });

  it('invalid as a whole → PUBACK 0x99 naming the problem; partly invalid → 0x00', async () => {
    const c = await client5(await t.device({ id: 'v5-bad', profile: 'waste-container', location: LOC }));
    const bad = await pub5(c, 'v1/devices/me/telemetry', '{"fillingLevel": 0.5');
    expect(bad.code).toBe(0x99);
    expect(bad.reason).toMatch(/malformed JSON/);
    const range = await pub5(c, 'v1/devices/me/telemetry', '{"fillingLevel": 7}');
    expect(range).toEqual({ code: 0x99, reason: 'fillingLevel: 7 is outside 0..1' });
    const big = await pub5(c, 'v1/devices/me/telemetry', Buffer.alloc(100_000, 'x'));
    expect(big).toEqual({ code: 0x99, reason: 'payload of 100000 bytes is over the limit of 65536' });
    expect((await pub5(c, 'v1/devices/me/attributes', '[1]')).code).toBe(0x99);
    const partly = await pub5(c, 'v1/devices/me/telemetry', '{"fillingLevel": 0.3, "tilt": 999}');
    expect(partly.code).toBe(0);
    expect((await series('v5-bad', 'fillingLevel')).map((p) => p.value)).toEqual([0.3]);
    expect(c.connected).toBe(true);
  });

  it('a packet over the maximum packet size → DISCONNECT 0x95', async () => {
    const c = await client5(await t.device({ id: 'v5-big', profile: 'generic', location: LOC }));
    const disconnect = new Promise<any>((r) => c.once('disconnect', r));
    c.publish('v1/devices/me/telemetry', Buffer.alloc(MAX_PACKET + 10, 'x'), { qos: 1 });
    expect((await disconnect).reasonCode).toBe(0x95);
  });

  it('past its rate: PUBACK 0x97; past the threshold: DISCONNECT 0x96 and a cool-down (CONNACK 0x97)', async () => {
    const token = await t.device({ id: 'v5-fast', profile: 'noise-level', location: LOC });
    await t.api('PUT', '/api/devices/v5-fast/attributes', {
      server: { limits: { messagesPerSecond: 5, burstSeconds: 1, breachThreshold: 5, coolDownSeconds: 30 } },
    });
    const c = await client5(token);
    const disconnect = new Promise<any>((r) => c.once('disconnect', r));
    const results = await Promise.all(
      Array.from({ length: 9 }, (_, i) => pub5(c, 'v1/devices/me/telemetry', `{"LAeq":${50 + i}}`)),
    );
    const codes = results.map((r) => r.code);
    expect(codes.filter((x) => x === 0).length).toBe(5); // the bucket holds 1 s of 5 messages/s
    expect(codes.filter((x) => x === 0x97).length).toBe(4);
    expect(results.find((r) => r.code === 0x97)!.reason).toMatch(/rate limit of 5 messages\/s/);
    c.publish('v1/devices/me/telemetry', '{"LAeq":60}', { qos: 1 }); // the fifth breach
    expect((await disconnect).reasonCode).toBe(0x96);
    expect(await connect5(token)).toEqual({ refused: 0x97 });
    const limits = await t.api('GET', '/api/devices/v5-fast/limits');
    expect(limits.status).toBe(200);
    expect(limits.body.breaches.rate_messages).toBe(5);
    expect(limits.body.limits.messagesPerSecond).toBe(5);
    expect(limits.body.coolDownUntil).toBeTruthy();
    expect((await series('v5-fast', 'LAeq')).length).toBe(5);
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/gridhub_device_limit_breaches_total\{reason="rate_messages"\} \d+/);
    expect(metrics).not.toContain('v5-fast');
    expect((await t.api('GET', '/api/devices/nope/limits')).status).toBe(404);
    expect((await t.api('GET', '/api/devices/v5-fast/limits', undefined, null)).status).toBe(401);
  });

  it('MQTT 3.1.1 over its rate: paced (the PUBACK waits), nothing lost; a flood that owes a whole bucket → cool-down', async () => {
    const token = await t.device({ id: 'v4-paced', profile: 'noise-level', location: LOC });
    await t.api('PUT', '/api/devices/v4-paced/attributes', {
      server: { limits: { messagesPerSecond: 5, burstSeconds: 1, breachThreshold: 5, coolDownSeconds: 30 } },
    });
    const c = await t.connect(token, { reconnectPeriod: 0 });
    const start = Date.now();
    for (let i = 0; i < 10; i++)
      await c.publishAsync('v1/devices/me/telemetry', `{"LAeq":${60 + i}}`, { qos: 1 });
    const took = Date.now() - start;
    expect(took).toBeGreaterThanOrEqual(800); // 5 from the bucket, 5 more at 5/s
    expect((await series('v4-paced', 'LAeq')).length).toBe(10);
    expect(c.connected).toBe(true);
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    for (let i = 0; i < 60; i++) c.publish('v1/devices/me/telemetry', '{"LAeq":70}', { qos: 0 });
    await closed;
    const refused = await mqtt
      .connectAsync(t.mqttUrl, { username: token, clientId: '', reconnectPeriod: 0, protocolVersion: 4 })
      .then(
        () => 'accepted',
        (e: { code?: number }) => e.code,
      );
    expect(refused).toBe(3);
    // At least the threshold's worth of breaches (how many paced ones came before depends on timing).
    expect(
      (await t.api('GET', '/api/devices/v4-paced/limits')).body.breaches.rate_messages,
    ).toBeGreaterThanOrEqual(5);
  });

  it('more QoS 1 messages in flight than Receive Maximum → DISCONNECT 0x93', async () => {
    const token = await t.device({ id: 'v5-window', profile: 'noise-level', location: LOC });
    await t.api('PUT', '/api/devices/v5-window/attributes', {
      server: { limits: { messagesPerSecond: 1000 } },
    });
    const raw = await rawConnect(t.mqttUrl, { protocolVersion: 5 });
    raw.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clean: true,
      clientId: 'w',
      keepalive: 60,
      username: token,
    });
    expect(((await raw.next('connack')) as any).reasonCode).toBe(0);
    // The writer commits as soon as it is free (group commit), so PUBACKs could leave before the
    // 101st message arrives: a transaction held open on the embedded store's one connection keeps
    // the first 100 unacknowledged, as a slow store would.
    const store = await holdStore(t);
    const burst = Array.from({ length: 101 }, (_, i) =>
      raw.socket.write(
        mqttPacket.generate(
          {
            cmd: 'publish',
            topic: 'v1/devices/me/telemetry',
            payload: Buffer.from(`{"LAeq":${i % 100}}`),
            qos: 1,
            messageId: i + 1,
            retain: false,
            dup: false,
          },
          { protocolVersion: 5 },
        ),
      ),
    );
    expect(burst.length).toBe(101);
    try {
      const d = (await raw.next('disconnect')) as any;
      expect(d?.reasonCode).toBe(0x93);
    } finally {
      store.release();
      await store.done;
      raw.end();
    }
  });

  it('getSessionLimits is answered with the device limits; other client RPC methods with an error', async () => {
    const c = await client5(await t.device({ id: 'v5-sdk', profile: 'air-quality', location: LOC }));
    await c.subscribeAsync('v1/devices/me/rpc/response/+', { qos: 1 });
    const got: [string, any][] = [];
    c.on('message', (topic, payload) => got.push([topic, JSON.parse(payload.toString())]));
    await pub5(
      c,
      'v1/devices/me/rpc/request/1',
      JSON.stringify({ method: 'getSessionLimits', params: { timeout: 5000 } }),
    );
    await pub5(c, 'v1/devices/me/rpc/request/2', JSON.stringify({ method: 'getCurrentTime', params: {} }));
    await eventually(() => got.length === 2);
    const byTopic = Object.fromEntries(got);
    expect(byTopic['v1/devices/me/rpc/response/1']).toEqual({
      maxPayloadSize: 65536,
      maxInflightMessages: 100,
      rateLimits: { messages: '50:1,200:4', telemetryMessages: '50:1,200:4', telemetryDataPoints: '5000:1' },
    });
    expect(byTopic['v1/devices/me/rpc/response/2'].error).toMatch(
      /unsupported client-side RPC method 'getCurrentTime'/,
    );
  });

  it('a gateway is answered with gatewayRateLimits too', async () => {
    const c = await client5(
      await t.device({ id: 'v5-gw', profile: 'generic', location: LOC, gateway: true }),
    );
    await c.subscribeAsync('v1/devices/me/rpc/response/+', { qos: 1 });
    const got = new Promise<any>((r) => c.once('message', (_t, p) => r(JSON.parse(p.toString()))));
    await pub5(c, 'v1/devices/me/rpc/request/9', JSON.stringify({ method: 'getSessionLimits' }));
    const answer = await got;
    expect(answer.gatewayRateLimits).toEqual(answer.rateLimits);
    expect(answer.rateLimits.messages).toBe('2000:1,8000:4');
  });

  it('subscriptions beyond the limit get SUBACK 0x87', async () => {
    const token = await t.device({ id: 'v5-subs', profile: 'generic', location: LOC });
    await t.api('PUT', '/api/devices/v5-subs/attributes', { server: { limits: { maxSubscriptions: 2 } } });
    const c = await client5(token);
    // mqtt.js rejects a SUBACK with a refusal in it; the packet carries every topic's code.
    const err = await c
      .subscribeAsync(
        ['v1/devices/me/attributes', 'v1/devices/me/rpc/request/+', 'v1/devices/me/attributes/response/+'],
        { qos: 1 },
      )
      .then(
        () => undefined,
        (e: { packet?: { granted: number[] } }) => e,
      );
    expect(err?.packet?.granted).toEqual([1, 1, 0x87]);
    expect(c.connected).toBe(true);
  });

  it.skipIf(!hasMosquittoPub && process.env.CI !== 'true')(
    'mosquitto_pub -V mqttv5 (apt-get install -y mosquitto-clients)',
    async () => {
      const token = await t.device({ id: 'v5-mosq', profile: 'air-quality', location: LOC });
      const port = new URL(t.mqttUrl).port;
      await promisify(execFile)(
        'mosquitto_pub',
        [
          '-V',
          'mqttv5',
          '-h',
          '127.0.0.1',
          '-p',
          port,
          '-u',
          token,
          '-t',
          'v1/devices/me/telemetry',
          '-m',
          '{"pm10":91}',
          '-q',
          '1',
        ],
        { timeout: 30_000 },
      );
      expect((await series('v5-mosq', 'pm10')).map((p) => p.value)).toEqual([91]);
    },
  );
});
