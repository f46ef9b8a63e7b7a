// Issue 9, findings 4-6: gateways act only for their own children, limits on what a device may
// create, persistent sessions and server-side RPC with expiry and state. Real hub, real broker.
import { Writable } from 'node:stream';
import type { MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRefused, eventually, startTestHub, type TestHub } from './support/hub.ts';
import { connectPacket, rawConnect } from './support/raw-mqtt.ts';

const LOC = { lng: 120.165, lat: 30.255 };
const logLines: { msg: string }[] = [];
let t: TestHub;
beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
      cb();
    },
  });
  t = await startTestHub({ deps: { logger: pino({ level: 'warn' }, sink) as never } });
});
afterAll(async () => {
  await t?.stop();
});

const rejectedNow = async (id: string) =>
  (await t.api('GET', `/api/rejected?deviceId=${id}&limit=100`)).body.items as {
    code: string;
    reason: string;
  }[];
/** The rejected store is written in batches: waits for at least `n` rows. */
const rejected = (id: string, n = 1) =>
  eventually(async () => {
    const r = await rejectedNow(id);
    return r.length >= n ? r : undefined;
  });
const messages = (c: MqttClient) => {
  const got: [string, any][] = [];
  c.on('message', (topic, payload) => {
    let v: unknown = payload.toString();
    try {
      v = JSON.parse(v as string);
    } catch {}
    got.push([topic, v]);
  });
  return got;
};

describe('finding 4: a gateway acts only for its own children', () => {
  it('v1/gateway/disconnect of a device that is not its child is refused; the device stays online', async () => {
    const victim = await t.connect(
      await t.device({ id: 'f4-victim', profile: 'noise-level', location: LOC }),
    );
    const gw = await t.connect(
      await t.device({ id: 'f4-gw', profile: 'generic', location: LOC, gateway: true }),
    );
    await gw.publishAsync('v1/gateway/disconnect', JSON.stringify({ device: 'f4-victim' }), { qos: 1 });
    expect((await t.api('GET', '/api/devices/f4-victim')).body.status).toBe('online');
    expect((await rejected('f4-gw'))[0]).toMatchObject({
      code: 'unknown_device',
      reason: "device 'f4-victim' is not registered under gateway 'f4-gw'",
    });
    // Its own child it may take offline.
    await gw.publishAsync('v1/gateway/connect', JSON.stringify({ device: 'f4-child', type: 'noise-level' }), {
      qos: 1,
    });
    expect((await t.api('GET', '/api/devices/f4-child')).body.status).toBe('online');
    await gw.publishAsync('v1/gateway/disconnect', JSON.stringify({ device: 'f4-child' }), { qos: 1 });
    expect((await t.api('GET', '/api/devices/f4-child')).body.status).toBe('offline');
    expect(victim.connected).toBe(true);
  });

  it('children follow the device-id rules (a 300-character or slashed name is refused)', async () => {
    const gw = await t.connect(
      await t.device({ id: 'f4-names', profile: 'generic', location: LOC, gateway: true }),
    );
    const long = 'n'.repeat(300);
    await gw.publishAsync('v1/gateway/connect', JSON.stringify({ device: long }), { qos: 1 });
    await gw.publishAsync('v1/gateway/telemetry', JSON.stringify({ 'a/b': [{ values: { x: 1 } }] }), {
      qos: 1,
    });
    await gw.publishAsync('v1/gateway/attributes', JSON.stringify({ ' sp ace': { fw: '1' } }), { qos: 1 });
    const r = await rejected('f4-names', 3);
    expect(r.map((x) => x.reason).join('\n')).toMatch(/child name "n{64}"… is not a valid device id/);
    expect(r.map((x) => x.reason).join('\n')).toMatch(/child name "a\/b" is not a valid device id/);
    expect(r.map((x) => x.reason).join('\n')).toMatch(/child name " sp ace" is not a valid device id/);
    expect(
      (await t.api('GET', '/api/devices?limit=1000')).body.items.some((d: any) => d.parentId === 'f4-names'),
    ).toBe(false);
  });

  it('children per gateway are capped, on every path that creates one', async () => {
    const token = await t.device({ id: 'f4-cap', profile: 'generic', location: LOC, gateway: true });
    await t.api('PUT', '/api/devices/f4-cap/attributes', { server: { limits: { maxChildren: 3 } } });
    const gw = await t.connect(token);
    for (const n of [1, 2, 3, 4])
      await gw.publishAsync('v1/gateway/connect', JSON.stringify({ device: `f4-cap-${n}` }), { qos: 1 });
    const body: Record<string, unknown> = {};
    for (let n = 5; n < 205; n++) body[`f4-cap-${n}`] = [{ values: { x: n } }];
    await gw.publishAsync('v1/gateway/telemetry', JSON.stringify(body), { qos: 1 });
    await gw.publishAsync('v1/gateway/attributes', JSON.stringify({ 'f4-cap-999': { fw: '1' } }), { qos: 1 });
    const children = (await t.api('GET', '/api/devices?limit=1000')).body.items.filter(
      (d: any) => d.parentId === 'f4-cap',
    );
    expect(children.map((d: any) => d.id).sort()).toEqual(['f4-cap-1', 'f4-cap-2', 'f4-cap-3']);
    expect((await rejected('f4-cap'))[0]!.reason).toMatch(/already has 3 children, its limit \(3\)/);
    expect((await t.api('GET', '/api/devices/f4-cap/limits')).body.breaches.children).toBeGreaterThanOrEqual(
      1,
    );
  });

  it('attribute requests and RPC replies name only its own children', async () => {
    const gw = await t.connect(
      await t.device({ id: 'f4-req', profile: 'generic', location: LOC, gateway: true }),
    );
    await t.device({ id: 'f4-other', profile: 'noise-level', location: LOC });
    await gw.subscribeAsync('v1/gateway/attributes/response', { qos: 1 });
    const got = messages(gw);
    await gw.publishAsync('v1/gateway/attributes', JSON.stringify({ 'f4-req-a': { fw: '2.1' } }), { qos: 1 });
    await gw.publishAsync('v1/gateway/attributes', JSON.stringify({ 'f4-other': { fw: 'evil' } }), {
      qos: 1,
    });
    await gw.publishAsync(
      'v1/gateway/attributes/request',
      JSON.stringify({ id: 1, device: 'f4-req-a', client: true, key: 'fw' }),
      { qos: 1 },
    );
    await gw.publishAsync(
      'v1/gateway/attributes/request',
      JSON.stringify({ id: 2, device: 'f4-other', client: true, key: 'fw' }),
      { qos: 1 },
    );
    await gw.publishAsync('v1/gateway/rpc', JSON.stringify({ device: 'f4-other', id: 1, data: {} }), {
      qos: 1,
    });
    await eventually(() => got.length >= 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual([['v1/gateway/attributes/response', { id: 1, device: 'f4-req-a', value: '2.1' }]]);
    expect((await t.api('GET', '/api/devices/f4-other')).body.clientAttributes).toEqual({});
    expect((await rejected('f4-req', 3)).length).toBe(3);
  });
});

describe('finding 5: limits on what a device may create; throttled logs', () => {
  it('attributes over the size or key limits are refused whole (MQTT 5: PUBACK 0x99)', async () => {
    const token = await t.device({ id: 'f5-attr', profile: 'generic', location: LOC });
    const c = await t.connect(token);
    await c.publishAsync('v1/devices/me/attributes', JSON.stringify({ blob: 'x'.repeat(20_000) }), {
      qos: 1,
    });
    const many = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i]));
    await c.publishAsync('v1/devices/me/attributes', JSON.stringify(many), { qos: 1 });
    const keys201 = Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`a${i}`, 1]));
    await c.publishAsync('v1/devices/me/attributes', JSON.stringify(keys201), { qos: 1 });
    const keys200 = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`a${i}`, 1]));
    await c.publishAsync('v1/devices/me/attributes', JSON.stringify(keys200), { qos: 1 });
    expect(Object.keys((await t.api('GET', '/api/devices/f5-attr')).body.clientAttributes).length).toBe(200);
    const reasons = (await rejected('f5-attr', 3)).map((r) => r.reason);
    expect(reasons).toContain('attributes: 201 keys would be over the limit of 200 per device');
    expect(reasons.some((r) => /attributes of \d+ bytes are over the limit of 16384/.test(r))).toBe(true);
    expect(c.connected).toBe(true);
    const v5 = await t.connect(token, { protocolVersion: 5 });
    const code = await new Promise<number>((resolve) =>
      v5.publish('v1/devices/me/attributes', JSON.stringify({ new1: 1 }), { qos: 1 }, (_e, p) =>
        resolve((p as any)?.reasonCode ?? 0),
      ),
    );
    expect(code).toBe(0x99);
    const breaches = (await t.api('GET', '/api/devices/f5-attr/limits')).body.breaches;
    expect(breaches).toMatchObject({ attribute_size: 2, attribute_keys: 2 });
  });

  it('a generic device may not create keys without bound (limit per device); a gateway child neither', async () => {
    const token = await t.device({ id: 'f5-keys', profile: 'generic', location: LOC });
    await t.api('PUT', '/api/devices/f5-keys/attributes', { server: { limits: { maxKeysPerDevice: 5 } } });
    const c = await t.connect(token);
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ a: 1, b: 2, c: 3, d: 4, e: 5 }), {
      qos: 1,
    });
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ a: 1, f: 6 }), { qos: 1 });
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ a: 7 }), { qos: 1 });
    const series = async (key: string) =>
      (
        await t.api('GET', `/api/devices/f5-keys/series?key=${key}&from=${Date.now() - 60_000}`)
      ).body.points.map((p: { value: number }) => p.value);
    expect(await series('a')).toEqual([1, 7]);
    expect(await series('f')).toEqual([]);
    expect((await rejected('f5-keys'))[0]).toMatchObject({
      code: 'too_many_keys',
      reason: "1 new keys would take device 'f5-keys' over its limit of 5 keys",
    });
    const gwToken = await t.device({ id: 'f5-gw', profile: 'generic', location: LOC, gateway: true });
    const gw = await t.connect(gwToken);
    const many = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`k${i}`, i]));
    await gw.publishAsync('v1/gateway/telemetry', JSON.stringify({ 'f5-gw-child': [{ values: many }] }), {
      qos: 1,
    });
    expect((await rejected('f5-gw'))[0]!.reason).toMatch(
      /600 new keys would take device 'f5-gw-child' over its limit of 500 keys/,
    );
  });

  it('subscriptions per connection are capped (32): one more gets SUBACK 0x80', async () => {
    const token = await t.device({ id: 'f5-subs', profile: 'generic', location: LOC });
    const raw = await rawConnect(t.mqttUrl);
    raw.send(connectPacket(token));
    expect(((await raw.next('connack')) as any).returnCode).toBe(0);
    const topics = Array.from({ length: 33 }, (_, i) => ({
      topic: `v1/devices/me/attributes/response/${i}`,
      qos: 1 as const,
    }));
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: topics });
    const granted = ((await raw.next('suback')) as any).granted as number[];
    // Topics of one SUBSCRIBE are authorised in parallel: which one is over the cap is not fixed.
    expect(granted.filter((q) => q === 1).length).toBe(32);
    expect(granted.filter((q) => q === 128).length).toBe(1);
    expect(raw.isClosed()).toBe(false);
    raw.end();
  });

  it('refused connects are logged once per window, not once each', async () => {
    const before = logLines.filter((l) => /connect refused/.test(l.msg)).length;
    for (let i = 0; i < 30; i++) expect(await connectRefused(t.mqttUrl, `bad-token-${i}`)).toBe(5);
    const after = logLines.filter((l) => /connect refused/.test(l.msg)).length;
    expect(after - before).toBeLessThanOrEqual(1);
  });
});

describe('finding 6: persistent sessions and server-side RPC', () => {
  async function session(token: string, v5 = false) {
    return t.connect(token, {
      clientId: 'logger-1',
      clean: false,
      ...(v5 ? { protocolVersion: 5, properties: { sessionExpiryInterval: 600 } } : {}),
    });
  }

  it.each([
    ['MQTT 3.1.1 clean session 0', false],
    ['MQTT 5 session expiry', true],
  ])(
    '%s: responses, shared-attribute pushes and RPC queued while offline reach the device',
    async (_n, v5) => {
      const id = v5 ? 'f6-v5' : 'f6-v4';
      const token = await t.device({ id, profile: 'generic', location: LOC });
      const first = await session(token, v5);
      await first.subscribeAsync(
        ['v1/devices/me/attributes', 'v1/devices/me/attributes/response/+', 'v1/devices/me/rpc/request/+'],
        { qos: 1 },
      );
      await first.endAsync();
      await t.api('PUT', `/api/devices/${id}/attributes`, { shared: { interval: 30 } });
      const call = await t.api('POST', `/api/devices/${id}/rpc`, { method: 'compact', params: { force: 1 } });
      expect(call.status).toBe(201);
      expect(call.body.state).toBe('queued');
      const c = await session(token, v5);
      const got = messages(c);
      await eventually(() => got.length >= 2);
      expect(got).toContainEqual(['v1/devices/me/attributes', { interval: 30 }]);
      const request = got.find(([topic]) => topic.startsWith('v1/devices/me/rpc/request/'))!;
      expect(request[1]).toEqual({ method: 'compact', params: { force: 1 } });
      await eventually(
        async () => (await t.api('GET', `/api/devices/${id}/rpc/${call.body.id}`)).body.state === 'delivered',
      );
      await c.publishAsync(request[0].replace('request', 'response'), JSON.stringify({ done: true }), {
        qos: 1,
      });
      const answered = await t.api('GET', `/api/devices/${id}/rpc/${call.body.id}`);
      expect(answered.body).toMatchObject({ state: 'answered', response: { done: true } });
      await c.publishAsync('v1/devices/me/attributes/request/5', JSON.stringify({ sharedKeys: 'interval' }), {
        qos: 1,
      });
      await eventually(() => got.some(([topic]) => topic === 'v1/devices/me/attributes/response/5'));
      expect(c.connected).toBe(true);
    },
  );

  it('an RPC not delivered by its expiry is never sent late; its state says expired', async () => {
    const token = await t.device({ id: 'f6-crane', profile: 'tower-crane', location: LOC });
    const first = await session(token);
    await first.subscribeAsync('v1/devices/me/rpc/request/+', { qos: 1 });
    await first.endAsync();
    const call = await t.api('POST', '/api/devices/f6-crane/rpc', { method: 'cutOff', timeout: 500 });
    const dflt = await t.api('POST', '/api/devices/f6-crane/rpc', { method: 'status' });
    expect(Date.parse(dflt.body.expiresAt) - Date.parse(dflt.body.createdAt)).toBe(60_000);
    await new Promise((r) => setTimeout(r, 1200));
    const c = await session(token);
    const got = messages(c);
    await eventually(() => got.length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(got.map(([, v]) => v.method)).toEqual(['status']);
    expect((await t.api('GET', `/api/devices/f6-crane/rpc/${call.body.id}`)).body).toMatchObject({
      state: 'expired',
      error: 'not delivered before the expiry',
    });
    const list = await t.api('GET', '/api/devices/f6-crane/rpc');
    expect(list.body.items.map((r: any) => r.state).sort()).toEqual(['delivered', 'expired']);
  });

  it('RPC: an online device goes queued → sent → delivered → answered; bad input is refused', async () => {
    const c = await t.connect(await t.device({ id: 'f6-bin', profile: 'waste-container', location: LOC }));
    await c.subscribeAsync('v1/devices/me/rpc/request/+', { qos: 1 });
    c.on('message', (topic) => c.publish(topic.replace('request', 'response'), '{"ok":1}', { qos: 1 }));
    const call = await t.api('POST', '/api/devices/f6-bin/rpc', {
      method: 'compact',
      expirationTime: Date.now() + 10_000,
    });
    const done = await eventually(async () => {
      const r = await t.api('GET', `/api/devices/f6-bin/rpc/${call.body.id}`);
      return r.body.state === 'answered' ? r.body : undefined;
    });
    expect(done.sentAt).toBeTruthy();
    expect(done.deliveredAt).toBeTruthy();
    expect(done.response).toEqual({ ok: 1 });
    expect(
      (await t.api('POST', '/api/devices/f6-bin/rpc', { method: 'x', expirationTime: Date.now() - 1 }))
        .status,
    ).toBe(400);
    expect((await t.api('POST', '/api/devices/f6-bin/rpc', { params: {} })).status).toBe(400);
    // The edge of expirationTime: the largest date JavaScript can format is accepted; past it (1e20
    // once made a reason formatter throw) is a 400 naming the field, never a 5xx.
    for (const expirationTime of [8.64e15 + 1, 1e20]) {
      const r = await t.api('POST', '/api/devices/f6-bin/rpc', { method: 'x', expirationTime });
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(/expirationTime/);
    }
    expect(
      (await t.api('POST', '/api/devices/f6-bin/rpc', { method: 'x', expirationTime: 8.64e15, oneway: true }))
        .status,
    ).toBe(201);
    expect((await t.api('POST', '/api/devices/nope/rpc', { method: 'x' })).status).toBe(404);
    expect((await t.api('POST', '/api/devices/f6-bin/rpc', { method: 'x' }, null)).status).toBe(401);
  });
});
