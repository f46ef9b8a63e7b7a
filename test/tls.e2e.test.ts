// HTTPS and MQTTS with GRIDHUB_TLS_CERT + GRIDHUB_TLS_KEY (a self-signed certificate made here).
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../hub/config.ts';
import { createHub } from '../hub/index.ts';
import { ConfigError } from '../kernel/index.ts';
import { ADMIN_TOKEN, startTestHub, type TestHub } from './support/hub.ts';
import { hasOpenssl, selfSigned } from './support/tls.ts';

describe.skipIf(!hasOpenssl)('TLS (needs openssl: apt-get install -y openssl)', () => {
  let t: TestHub;
  let cert: string;
  let key: string;
  beforeAll(async () => {
    t = await startTestHub();
    ({ certFile: cert, keyFile: key } = selfSigned(t.dataDir, '127.0.0.1', 'cert'));
    await t.stop({ keepData: true });
    t = await startTestHub({ dataDir: t.dataDir, overrides: { tlsCert: cert, tlsKey: key, mqttsPort: 0 } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('serves HTTPS and MQTTS with the configured certificate', async () => {
    expect(t.httpUrl).toMatch(/^https:/);
    const ca = readFileSync(cert);
    const call = (method: string, path: string, body?: unknown) =>
      new Promise<any>((resolve, reject) => {
        const req = request(
          `${t.httpUrl}${path}`,
          {
            method,
            ca,
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          },
          (res) => {
            let text = '';
            res.on('data', (d) => {
              text += d;
            });
            res.on('end', () => resolve(JSON.parse(text)));
          },
        );
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    const health = await call('GET', '/api/health');
    expect(health.mqtts).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const { accessToken } = await call('POST', '/api/devices', { id: 'tls-1', profile: 'noise-level' });
    const c = await mqtt.connectAsync(health.mqtts, {
      username: accessToken,
      ca,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await c.publishAsync('v1/devices/me/telemetry', '{"LAeq":55}', { qos: 1 });
    await c.endAsync();
    const count = await t.hub.parts.store.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM telemetry WHERE device_id = 'tls-1'`,
    );
    expect(count[0]!.n).toBe(1);
  });

  it('a certificate path that cannot be read stops the start, naming the key', async () => {
    const hub = createHub(
      loadConfig({
        overrides: {
          dataDir: t.dataDir,
          tlsCert: '/nonexistent/cert.pem',
          tlsKey: key,
          adminToken: ADMIN_TOKEN,
          logLevel: 'silent',
        },
      }),
    );
    const err = await hub.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]).toMatch(
      /^tlsCert \(GRIDHUB_TLS_CERT\): cannot read \/nonexistent\/cert.pem \(ENOENT\)/,
    );
  });
});
