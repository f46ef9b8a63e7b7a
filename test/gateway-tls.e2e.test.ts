// Finding 8: with TLS on, plain MQTT can be turned off; optional X.509 device authentication by
// the client certificate's SHA-256 fingerprint over MQTTS (as ThingsBoard's X.509 credentials).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { hasOpenssl, selfSigned } from './support/tls.ts';

describe.skipIf(!hasOpenssl)('MQTTS only, X.509 devices (needs openssl: apt-get install -y openssl)', () => {
  let t: TestHub;
  let dir: string;
  let server: ReturnType<typeof selfSigned>;
  let device: ReturnType<typeof selfSigned>;
  let stranger: ReturnType<typeof selfSigned>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridhub-x509-'));
    server = selfSigned(dir, 'hub');
    device = selfSigned(dir, 'crane-7');
    stranger = selfSigned(dir, 'stranger');
    t = await startTestHub({
      overrides: {
        tlsCert: server.certFile,
        tlsKey: server.keyFile,
        mqttsPort: 0,
        gateway: { plainMqtt: false },
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const connectTls = (opts: mqtt.IClientOptions) =>
    new Promise<mqtt.MqttClient | number>((resolve) => {
      const c = mqtt.connect(t.mqttUrl, {
        ca: server.cert,
        rejectUnauthorized: false,
        clientId: '',
        reconnectPeriod: 0,
        protocolVersion: 4,
        ...opts,
      });
      c.once('connect', () => resolve(c));
      c.once('error', (e) => {
        c.end(true);
        resolve((e as Error & { code?: number }).code ?? -1);
      });
    });

  it('plain MQTT is off: the hub listens for MQTT over TLS only', async () => {
    expect(t.mqttUrl).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const { accessToken } = await t.hub.parts.registry.devices.create({
      id: 'tls-token',
      profile: 'noise-level',
    });
    const c = await connectTls({ username: accessToken! });
    expect(typeof c).not.toBe('number');
    await (c as mqtt.MqttClient).endAsync();
  });

  it('a device registered with its certificate fingerprint connects without a token; others are refused', async () => {
    const reg = t.hub.parts.registry;
    await reg.devices.create({ id: 'x509-crane', profile: 'tower-crane' });
    await reg.devices.setAttributes('x509-crane', { server: { x509Fingerprint: device.fingerprint } });
    const readings = t.hub.parts.ingest.stats().readings;
    const c = await connectTls({ key: device.key, cert: device.cert });
    if (typeof c === 'number') throw new Error(`refused with ${c}`);
    expect(reg.presence.status('x509-crane')).toBe('online');
    await c.publishAsync('v1/devices/me/telemetry', '{"loadMomentRatio":0.4}', { qos: 1 });
    expect(t.hub.parts.ingest.stats().readings).toBe(readings + 1);
    expect(await connectTls({ key: stranger.key, cert: stranger.cert })).toBe(5);
    // Re-keying the device (a new fingerprint) cuts the old certificate off.
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    await reg.devices.setAttributes('x509-crane', { server: { x509Fingerprint: stranger.fingerprint } });
    c.publish('v1/devices/me/telemetry', '{"loadMomentRatio":0.5}', { qos: 1 });
    await closed;
    await eventually(() => reg.presence.status('x509-crane') === 'offline');
    expect(t.hub.parts.ingest.stats().readings).toBe(readings + 1);
  });
});
