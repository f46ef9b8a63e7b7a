// Devices in, validated telemetry stored: real broker over TCP, real store (embedded PGlite and a
// throwaway PostgreSQL 15), real HTTP.
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRefused, eventually, type StoreKind, startTestHub, type TestHub } from './support/hub.ts';

const LOC = { lng: 120.165, lat: 30.255 };
const hasMosquittoPub = spawnSync('mosquitto_pub', ['--help']).error === undefined;

describe.each<StoreKind>(['pglite', 'pg'])('ingest end to end on %s', (store) => {
  let t: TestHub;
  let dustToken: string;

  beforeAll(async () => {
    t = await startTestHub({ store });
    dustToken = await t.device({ id: 'dust-1', profile: 'air-quality', location: LOC });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const series = async (id: string, key: string, extra = '') =>
    (await t.api('GET', `/api/devices/${id}/series?key=${key}&from=${Date.now() - 2 * 86_400_000}${extra}`))
      .body.points as {
      ts: string;
      value: number;
    }[];
  const rejected = async (id: string) =>
    (await t.api('GET', `/api/rejected?deviceId=${id}&limit=1000`)).body.items as {
      code: string;
      reason: string;
      topic: string;
      payload: string;
    }[];

  it('stores QoS 1 telemetry in all three payload forms, acknowledged after commit', async () => {
    const c = await t.connect(dustToken);
    const ts = Date.now() - 60_000;
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ pm10: 85.2, windSpeed: 3.1 }), {
      qos: 1,
    });
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ ts, values: { pm10: 70 } }), { qos: 1 });
    await c.publishAsync(
      'v1/devices/me/telemetry',
      JSON.stringify([{ pm25: 33 }, { ts: ts - 1000, values: { pm25: 31 } }]),
      { qos: 1 },
    );
    // The PUBACK came back only after the commit, so the rows are readable now, without polling.
    const pm10 = await series('dust-1', 'pm10');
    expect(pm10.map((p) => p.value)).toEqual([70, 85.2]);
    expect(pm10[0]!.ts).toBe(new Date(ts).toISOString());
    expect((await series('dust-1', 'pm25')).map((p) => p.value)).toEqual([31, 33]);
    const dev = await t.api('GET', '/api/devices/dust-1');
    expect(dev.body.status).toBe('online');
    expect(dev.body.latest.pm10.value).toBe(85.2);
    expect(dev.body.latest.windSpeed.value).toBe(3.1);
  });

  it('QoS 0 and QoS 2 are stored too (QoS 2 once)', async () => {
    const token = await t.device({ id: 'noise-q', profile: 'noise-level', location: LOC });
    const c = await t.connect(token);
    c.publish('v1/devices/me/telemetry', JSON.stringify({ LAeq: 61 }), { qos: 0 });
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ LAeq: 62 }), { qos: 2 });
    const pts = await eventually(async () => {
      const p = await series('noise-q', 'LAeq');
      return p.length === 2 ? p : undefined;
    });
    expect(pts.map((p) => p.value).sort()).toEqual([61, 62]);
  });

  it('bucketed series aggregate by avg/min/max/sum/count/last', async () => {
    const token = await t.device({ id: 'bin-agg', profile: 'waste-container', location: LOC });
    const c = await t.connect(token);
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
    const values = [0.1, 0.3, 0.2, 0.6];
    await c.publishAsync(
      'v1/devices/me/telemetry',
      JSON.stringify(values.map((v, i) => ({ ts: hour + i * 600_000, values: { fillingLevel: v } }))),
      { qos: 1 },
    );
    const get = async (agg: string) => (await series('bin-agg', 'fillingLevel', `&bucket=1h&agg=${agg}`))[0];
    expect((await get('avg'))!.value).toBeCloseTo(0.3);
    expect((await get('min'))!.value).toBe(0.1);
    expect((await get('max'))!.value).toBe(0.6);
    expect((await get('sum'))!.value).toBeCloseTo(1.2);
    expect((await get('count'))!.value).toBe(4);
    expect((await get('last'))!.value).toBe(0.6);
    expect((await get('avg'))!.ts).toBe(new Date(hour).toISOString());
    const bad = await t.api('GET', '/api/devices/bin-agg/series?key=fillingLevel&bucket=7m');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/querystring\.bucket/);
  });

  describe('bad input: rejected with a reason, counted, nothing else disturbed', () => {
    let bad: mqtt.MqttClient;
    let good: mqtt.MqttClient;
    beforeAll(async () => {
      bad = await t.connect(await t.device({ id: 'bad-1', profile: 'waste-container', location: LOC }));
      good = await t.connect(await t.device({ id: 'good-1', profile: 'waste-container', location: LOC }));
    });

    const cases: [string, string | Buffer, string, RegExp][] = [
      ['malformed JSON', '{"fillingLevel": 0.5', 'malformed_json', /malformed JSON/],
      ['wrong type', '{"fillingLevel": "full"}', 'wrong_type', /fillingLevel: expected a number, got string/],
      ['NaN literal', '{"fillingLevel": NaN}', 'malformed_json', /malformed JSON/],
      ['Infinity', '{"fillingLevel": 1e999}', 'not_finite', /fillingLevel/],
      ['out of range', '{"fillingLevel": 1.7}', 'out_of_range', /fillingLevel: 1.7 is outside 0..1/],
      [
        'timestamp in the future',
        JSON.stringify({ ts: Date.now() + 2 * 86_400_000, values: { fillingLevel: 0.2 } }),
        'ts_future',
        /is (1 d 23 h|2 d 0 h) ahead of the hub's clock \(limit 10 min 0 s\)/,
      ],
      [
        'timestamp too old',
        JSON.stringify({ ts: Date.now() - 400 * 86_400_000, values: { fillingLevel: 0.2 } }),
        'ts_past',
        /more than 1 year/,
      ],
      [
        '1 MB payload',
        Buffer.alloc(1024 * 1024, 'x'),
        'too_large',
        /1048576 bytes is over the limit of 65536/,
      ],
      ['unknown key', '{"colour": "green"}', 'unknown_key', /colour: not a key of profile waste-container/],
    ];

    it.each(cases)('%s', async (_name, payload, code, reason) => {
      const before = (await rejected('bad-1')).length;
      const counterBefore = await rejectedCounter(code);
      await bad.publishAsync('v1/devices/me/telemetry', payload, { qos: 1 });
      // The other device keeps flowing, and the bad one's connection stays up.
      const v = Math.round(Math.random() * 100) / 100;
      await good.publishAsync('v1/devices/me/telemetry', JSON.stringify({ fillingLevel: v }), { qos: 1 });
      const rows = await eventually(async () => {
        const r = await rejected('bad-1');
        return r.length > before ? r : undefined;
      });
      expect(rows[0]!.code).toBe(code);
      expect(rows[0]!.reason).toMatch(reason);
      expect(rows[0]!.topic).toBe('v1/devices/me/telemetry');
      expect(rows[0]!.payload.length).toBeLessThanOrEqual(1024);
      expect(await rejectedCounter(code)).toBe(counterBefore + 1);
      expect(bad.connected).toBe(true);
      expect((await series('good-1', 'fillingLevel')).at(-1)!.value).toBe(v);
      expect(await series('bad-1', 'fillingLevel')).toEqual([]);
    });

    it('a partly invalid message keeps its valid keys', async () => {
      await bad.publishAsync(
        'v1/devices/me/telemetry',
        JSON.stringify({ fillingLevel: 0.4, tilt: 500, junk: 1 }),
        { qos: 1 },
      );
      expect((await series('bad-1', 'fillingLevel')).map((p) => p.value)).toEqual([0.4]);
      const r = (await rejected('bad-1'))[0]!;
      expect(r.reason).toBe('tilt: 500 is outside 0..180 °; junk: not a key of profile waste-container');
    });

    async function rejectedCounter(code: string) {
      const res = await fetch(`${t.httpUrl}/metrics`);
      const line = (await res.text())
        .split('\n')
        .find((l) => l.startsWith(`gridhub_rejected_readings_total{reason="${code}"}`));
      return line ? Number(line.split(' ')[1]) : 0;
    }
  });

  describe('authentication and topic ACL', () => {
    it('unknown token → CONNACK 5, missing token → CONNACK 4, revoked → 5, rotated works', async () => {
      expect(await connectRefused(t.mqttUrl, 'no-such-token')).toBe(5);
      expect(await connectRefused(t.mqttUrl, undefined)).toBe(4);
      const token = await t.device({ id: 'rot-1', profile: 'noise-level', location: LOC });
      const rotated = await t.api('POST', '/api/devices/rot-1/token');
      expect(rotated.status).toBe(200);
      expect(await connectRefused(t.mqttUrl, token)).toBe(5);
      const c = await t.connect(rotated.body.accessToken);
      expect(c.connected).toBe(true);
      await c.endAsync();
      expect((await t.api('DELETE', '/api/devices/rot-1/token')).status).toBe(204);
      expect(await connectRefused(t.mqttUrl, rotated.body.accessToken)).toBe(5);
      const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/gridhub_mqtt_connect_refused_total\{reason="unknown_token"\} [3-9]/);
    });

    it("publishing to another device's or a gateway topic closes that connection only", async () => {
      const c = await t.connect(await t.device({ id: 'acl-1', profile: 'noise-level', location: LOC }));
      const other = await t.connect(await t.device({ id: 'acl-2', profile: 'noise-level', location: LOC }));
      for (const topic of ['v1/devices/acl-2/telemetry', 'v1/gateway/telemetry']) {
        const closed = new Promise<void>((r) => c.once('close', () => r()));
        c.publish(topic, JSON.stringify({ LAeq: 50 }), { qos: 1 });
        await closed;
        expect(c.connected).toBe(false);
        await new Promise<void>((resolve) => {
          c.reconnect();
          c.once('connect', () => resolve());
        });
      }
      await other.publishAsync('v1/devices/me/telemetry', JSON.stringify({ LAeq: 51 }), { qos: 1 });
      expect((await series('acl-2', 'LAeq')).map((p) => p.value)).toEqual([51]);
      expect(await series('acl-1', 'LAeq')).toEqual([]);
    });

    it('wildcard and foreign subscriptions get SUBACK 0x80; own attributes are private', async () => {
      const a = await t.connect(await t.device({ id: 'sub-1', profile: 'generic', location: LOC }));
      const b = await t.connect(await t.device({ id: 'sub-2', profile: 'generic', location: LOC }));
      const suback = (topic: string) =>
        new Promise<number>((resolve) =>
          a.subscribe(topic, { qos: 1 }, (err, granted) => resolve(err ? 128 : granted![0]!.qos)),
        );
      expect(await suback('#')).toBe(128);
      expect(await suback('v1/devices/+/attributes')).toBe(128);
      expect(await suback('v1/gateway/rpc')).toBe(128);
      expect(await suback('v1/devices/me/attributes')).toBe(1);
      expect(a.connected).toBe(true);
      const got: string[] = [];
      a.on('message', (topic) => got.push(topic));
      await b.publishAsync('v1/devices/me/attributes', JSON.stringify({ firmware: '1.2' }), { qos: 1 });
      await b.publishAsync('v1/devices/me/telemetry', JSON.stringify({ x: 1 }), { qos: 1 });
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toEqual([]);
      expect((await t.api('GET', '/api/devices/sub-2')).body.clientAttributes).toEqual({ firmware: '1.2' });
    });
  });

  describe('hub → device', () => {
    it('shared attributes are pushed to that device only, and answered on request', async () => {
      const a = await t.connect(await t.device({ id: 'attr-1', profile: 'air-quality', location: LOC }));
      const b = await t.connect(await t.device({ id: 'attr-2', profile: 'air-quality', location: LOC }));
      await a.subscribeAsync(['v1/devices/me/attributes', 'v1/devices/me/attributes/response/+'], { qos: 1 });
      await b.subscribeAsync('v1/devices/me/attributes', { qos: 1 });
      const gotA: [string, unknown][] = [];
      const gotB: string[] = [];
      a.on('message', (topic, payload) => gotA.push([topic, JSON.parse(payload.toString())]));
      b.on('message', (topic) => gotB.push(topic));
      const put = await t.api('PUT', '/api/devices/attr-1/attributes', {
        server: { pm10Limit: 60 },
        shared: { sampling: 30 },
      });
      expect(put.body).toMatchObject({
        serverAttributes: { pm10Limit: 60 },
        sharedAttributes: { sampling: 30 },
      });
      await eventually(() => gotA.length === 1);
      expect(gotA[0]).toEqual(['v1/devices/me/attributes', { sampling: 30 }]);
      await a.publishAsync('v1/devices/me/attributes/request/7', JSON.stringify({ sharedKeys: 'sampling' }), {
        qos: 1,
      });
      await eventually(() => gotA.length === 2);
      expect(gotA[1]).toEqual([
        'v1/devices/me/attributes/response/7',
        { client: {}, shared: { sampling: 30 } },
      ]);
      expect(gotB).toEqual([]);
    });

    it('a deleted device is cut off at its next publish', async () => {
      const c = await t.connect(await t.device({ id: 'del-1', profile: 'noise-level', location: LOC }));
      expect((await t.api('DELETE', '/api/devices/del-1')).status).toBe(200);
      const closed = new Promise<void>((r) => c.once('close', () => r()));
      c.publish('v1/devices/me/telemetry', '{"LAeq":50}', { qos: 1 });
      await closed;
      expect(c.connected).toBe(false);
    });
  });

  describe('gateways', () => {
    it('connect creates children; telemetry lands per child; foreign names are refused', async () => {
      const token = await t.device({ id: 'site-gw', profile: 'generic', location: LOC, gateway: true });
      await t.device({ id: 'not-mine', profile: 'air-quality', location: LOC });
      const gw = await t.connect(token);
      await gw.publishAsync(
        'v1/gateway/connect',
        JSON.stringify({ device: 'site-gw-dust', type: 'air-quality' }),
        { qos: 1 },
      );
      const ts = Date.now() - 5000;
      await gw.publishAsync(
        'v1/gateway/telemetry',
        JSON.stringify({
          'site-gw-dust': [{ ts, values: { pm10: 120, pm25: 60 } }],
          'site-gw-noise': [{ ts, values: { LAeq: 66 } }],
          'not-mine': [{ ts, values: { pm10: 1 } }],
        }),
        { qos: 1 },
      );
      const child = await t.api('GET', '/api/devices/site-gw-dust');
      expect(child.body).toMatchObject({
        profile: 'air-quality',
        parentId: 'site-gw',
        status: 'online',
        location: LOC,
      });
      expect((await series('site-gw-dust', 'pm10')).map((p) => p.value)).toEqual([120]);
      // An unannounced child is created as ThingsBoard does, with the generic profile.
      expect((await t.api('GET', '/api/devices/site-gw-noise')).body.profile).toBe('generic');
      expect((await series('site-gw-noise', 'LAeq')).map((p) => p.value)).toEqual([66]);
      expect(await series('not-mine', 'pm10')).toEqual([]);
      const r = await rejected('site-gw');
      expect(r[0]).toMatchObject({
        code: 'unknown_device',
        reason: "device 'not-mine' is not registered under gateway 'site-gw'",
      });
    });
  });

  it('a connect and telemetry sent back to back create the child once, with the connect type', async () => {
    const gw = await t.connect(
      await t.device({ id: 'race-gw', profile: 'generic', location: LOC, gateway: true }),
    );
    const ts = Date.now() - 1000;
    await Promise.all([
      gw.publishAsync('v1/gateway/connect', JSON.stringify({ device: 'race-child', type: 'noise-level' }), {
        qos: 1,
      }),
      gw.publishAsync(
        'v1/gateway/telemetry',
        JSON.stringify({ 'race-child': [{ ts, values: { LAeq: 61 } }] }),
        { qos: 1 },
      ),
    ]);
    expect((await t.api('GET', '/api/devices/race-child')).body).toMatchObject({
      profile: 'noise-level',
      parentId: 'race-gw',
    });
    expect((await series('race-child', 'LAeq')).map((p) => p.value)).toEqual([61]);
  });

  it('MQTT over WebSocket at /mqtt', async () => {
    const token = await t.device({ id: 'ws-1', profile: 'noise-level', location: LOC });
    const c = await mqtt.connectAsync(`${t.httpUrl.replace('http', 'ws')}/mqtt`, {
      username: token,
      clientId: '',
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ LAeq: 58.5 }), { qos: 1 });
    await c.endAsync();
    expect((await series('ws-1', 'LAeq')).map((p) => p.value)).toEqual([58.5]);
  });

  it.skipIf(!hasMosquittoPub && process.env.CI !== 'true')(
    'mosquitto_pub, the classic try (apt-get install -y mosquitto-clients)',
    async () => {
      const token = await t.device({ id: 'mosq-1', profile: 'air-quality', location: LOC });
      const port = new URL(t.mqttUrl).port;
      // Asynchronously: the hub runs in this process and must answer while mosquitto_pub waits.
      await promisify(execFile)(
        'mosquitto_pub',
        [
          '-h',
          '127.0.0.1',
          '-p',
          port,
          '-u',
          token,
          '-t',
          'v1/devices/me/telemetry',
          '-m',
          '{"pm10":90}',
          '-q',
          '1',
        ],
        { timeout: 30_000 },
      );
      expect((await series('mosq-1', 'pm10')).map((p) => p.value)).toEqual([90]);
    },
  );

  describe('HTTP bad input', () => {
    it('a body missing fields or with wrong types → 400 naming the field', async () => {
      const missing = await t.api('POST', '/api/devices', { id: 'x-1' });
      expect(missing.status).toBe(400);
      expect(missing.body.error.code).toBe('GRIDHUB_ERR_VALIDATION');
      expect(missing.body.error.message).toMatch(/body\.profile/);
      const wrong = await t.api('POST', '/api/devices', {
        id: 'x-1',
        profile: 'air-quality',
        location: { lng: 'east', lat: 30 },
      });
      expect(wrong.status).toBe(400);
      expect(wrong.body.error.message).toMatch(/body\.location\.lng/);
      const notJson = await t.api('POST', '/api/devices', '{"id": ');
      expect(notJson.status).toBe(400);
      expect(notJson.body.error.message).toBeTruthy();
      const dup = await t.api('POST', '/api/devices', { id: 'dust-1', profile: 'air-quality' });
      expect(dup.status).toBe(409);
    });
    it('no token → 401, wrong token → 401; health is public', async () => {
      expect((await t.api('GET', '/api/devices', undefined, null)).status).toBe(401);
      expect((await t.api('GET', '/api/devices', undefined, 'wrong')).status).toBe(401);
      const h = await t.api('GET', '/api/health', undefined, null);
      expect(h.status).toBe(200);
      expect(h.body).toMatchObject({ status: 'ok', mqtt: t.mqttUrl, http: t.httpUrl });
      expect(JSON.stringify(h.body)).not.toContain('test-admin-token');
    });
    it('serves the OpenAPI document', async () => {
      // /docs is admin-only (contract.md: a route the matrix does not list).
      expect((await t.api('GET', '/docs/json', undefined, null)).status).toBe(401);
      const doc = await t.api('GET', '/docs/json');
      expect(doc.status).toBe(200);
      expect(Object.keys(doc.body.paths)).toEqual(
        expect.arrayContaining(['/api/devices', '/api/devices/{id}/series', '/api/grids']),
      );
    });
  });
});
