// Nothing accepted is lost: QoS 1 is acknowledged only once committed, a database outage holds
// acknowledgements (and pushes back on the sockets) instead of dropping or growing without bound,
// and a restart keeps devices and data. Real PostgreSQL 15 (stopped and started for the outage).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestHub, type TestHub } from './support/hub.ts';
import { findPgBin, PG_INSTALL_HINT, type PgCluster, startPgCluster } from './support/pg-cluster.ts';

const needPg = !findPgBin();
if (needPg && process.env.CI === 'true') throw new Error(`CI requires PostgreSQL: ${PG_INSTALL_HINT}`);

describe.skipIf(needPg)(`a database outage (needs ${PG_INSTALL_HINT})`, () => {
  let cluster: PgCluster;
  let t: TestHub;
  beforeAll(async () => {
    cluster = await startPgCluster();
    t = await startTestHub({
      store: 'pg',
      databaseUrl: await cluster.createDatabase(),
      // Without the spool (or with it full), acknowledgements wait for the store: the fallback.
      overrides: {
        ingest: { maxBuffered: 200, flushIntervalMs: 20, rejectedSamplePerMinute: 100_000, spoolMaxMb: 0 },
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await cluster?.stop();
  });

  const count = async (id: string) =>
    Number(
      (
        await t.hub.parts.store.db.query<{ n: string }>(
          'SELECT count(*) AS n FROM telemetry WHERE device_id = $1',
          [id],
        )
      )[0]!.n,
    );

  it('holds QoS 1 acknowledgements until the reading is durable, then loses nothing', async () => {
    const c = await t.connect(await t.device({ id: 'out-1', profile: 'noise-level' }));
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ LAeq: 50 }), { qos: 1 });
    expect(await count('out-1')).toBe(1);

    await cluster.halt();
    let acked = false;
    const pending = c
      .publishAsync('v1/devices/me/telemetry', JSON.stringify({ LAeq: 51 }), { qos: 1 })
      .then(() => {
        acked = true;
      });
    await new Promise((r) => setTimeout(r, 1500));
    expect(acked).toBe(false);
    expect(t.hub.parts.ingest.stats().retrying).toBeGreaterThan(0);

    await cluster.resume();
    await pending; // the PUBACK arrives once the batch is committed
    expect(await count('out-1')).toBe(2);
  });

  it('bounds the buffer during an outage (QoS 0 pushes back on the socket) and stores everything after', async () => {
    const c = await t.connect(await t.device({ id: 'out-2', profile: 'noise-level' }));
    await cluster.halt();
    const total = 5000;
    let peak = 0;
    const watch = setInterval(() => {
      const s = t.hub.parts.ingest.stats();
      peak = Math.max(peak, s.buffered + s.retrying);
    }, 5);
    for (let i = 0; i < total; i++)
      c.publish('v1/devices/me/telemetry', `{"LAeq":${40 + (i % 50)}}`, { qos: 0 });
    await new Promise((r) => setTimeout(r, 1500));
    const during = t.hub.parts.ingest.stats();
    expect(during.held).toBeGreaterThan(0);
    expect(peak).toBeLessThan(total);
    await cluster.resume();
    await eventually(async () => (await count('out-2')) === total, 60_000, 200);
    clearInterval(watch);
    expect(t.hub.parts.ingest.stats().held).toBe(0);
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/gridhub_flush_failures_total [1-9]/);
  });
});

describe.skipIf(needPg)(`rejected messages during an outage (needs ${PG_INSTALL_HINT})`, () => {
  it('finding 4: count toward the buffer limit, so they push back instead of growing without bound', async () => {
    const cluster = await startPgCluster();
    const t = await startTestHub({
      store: 'pg',
      databaseUrl: await cluster.createDatabase(),
      overrides: {
        ingest: { maxBuffered: 100, flushIntervalMs: 20, rejectedSamplePerMinute: 100_000, spoolMaxMb: 0 },
      },
    });
    try {
      const c = await t.connect(await t.device({ id: 'rej-out', profile: 'noise-level' }));
      await cluster.halt();
      let acked = 0;
      let peak = 0;
      const watch = setInterval(() => {
        const s = t.hub.parts.ingest.stats();
        peak = Math.max(peak, s.buffered + s.retrying);
      }, 5);
      const all = Array.from({ length: 500 }, (_, i) =>
        c.publishAsync('v1/devices/me/telemetry', `not json ${i}`, { qos: 1 }).then(() => acked++),
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(acked).toBeLessThan(500);
      expect(t.hub.parts.ingest.stats().held).toBeGreaterThan(0);
      await cluster.resume();
      await Promise.all(all);
      clearInterval(watch);
      // Bounded: the broker stops reading from the socket (aedes still takes what it has parsed).
      expect(peak).toBeLessThan(500);
      await t.hub.parts.ingest.flush();
      const n = await t.hub.parts.store.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM rejected_messages WHERE device_id = 'rej-out'`,
      );
      expect(Number(n[0]!.n)).toBe(500);
    } finally {
      await t.stop();
      await cluster.stop();
    }
  });
});

describe.skipIf(needPg)(`the write-ahead spool at its quota (needs ${PG_INSTALL_HINT})`, () => {
  it('says so in health and holds acknowledgements (backpressure), then everything is stored', async () => {
    const cluster = await startPgCluster();
    const t = await startTestHub({
      store: 'pg',
      databaseUrl: await cluster.createDatabase(),
      overrides: { ingest: { flushIntervalMs: 20, spoolMaxMb: 1 } },
    });
    try {
      const c = await t.connect(await t.device({ id: 'spool-full', profile: 'noise-level' }));
      await cluster.halt();
      const base = Date.now() - 3_600_000;
      const records = (m: number) =>
        JSON.stringify(
          Array.from({ length: 200 }, (_, i) => ({ ts: base + m * 200 + i, values: { LAeq: 50.5 } })),
        );
      // ~2.4 MB of readings at QoS 0 (about 40 bytes each spooled): more than the 1 MiB spool holds.
      for (let m = 0; m < 300; m++) c.publish('v1/devices/me/telemetry', records(m), { qos: 0 });
      const health = await eventually(async () => {
        const h = (await t.api('GET', '/api/health')).body;
        return h.spool.state === 'full' ? h : undefined;
      });
      expect(health.status).toBe('degraded');
      expect(health.warnings.join(' ')).toMatch(/spool full/);
      // 100 more QoS 1 messages (~800 KB): whatever room is left takes a few, the rest must wait.
      let acked = 0;
      const more = Array.from({ length: 100 }, (_, k) =>
        c.publishAsync('v1/devices/me/telemetry', records(300 + k), { qos: 1 }).then(() => acked++),
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(acked).toBeLessThan(100); // the spool is full too: acknowledgements wait for the store
      await cluster.resume();
      await Promise.all(more);
      await eventually(async () => t.hub.parts.ingest.spool().state === 'idle', 60_000, 100);
      await t.hub.parts.ingest.flush();
      const n = await t.hub.parts.store.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM telemetry WHERE device_id = 'spool-full'`,
      );
      expect(Number(n[0]!.n)).toBe(400 * 200);
      expect((await t.api('GET', '/api/health')).body.status).toBe('ok');
    } finally {
      await t.stop();
      await cluster.stop();
    }
  }, 120_000);
});

describe('a restart', () => {
  it('keeps devices, tokens, grids, data and the generated admin token', async () => {
    const first = await startTestHub({ overrides: { adminToken: undefined } });
    const dataDir = first.dataDir;
    const admin = first.hub.adminToken;
    const api = (method: string, path: string, body?: unknown) => first.api(method, path, body, admin);
    const r = await api('POST', '/api/devices', { id: 'keep-1', profile: 'waste-container' });
    const token = r.body.accessToken as string;
    const c = await first.connect(token);
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ fillingLevel: 0.5 }), { qos: 1 });
    await first.stop({ keepData: true });

    const second = await startTestHub({ dataDir, overrides: { adminToken: undefined } });
    try {
      expect(second.hub.adminToken).toBe(admin);
      const c2 = await second.connect(token);
      await c2.publishAsync('v1/devices/me/telemetry', JSON.stringify({ fillingLevel: 0.6 }), { qos: 1 });
      const pts = await second.api('GET', '/api/devices/keep-1/series?key=fillingLevel', undefined, admin);
      expect(pts.body.points.map((p: { value: number }) => p.value)).toEqual([0.5, 0.6]);
    } finally {
      await second.stop();
    }
  });
});
