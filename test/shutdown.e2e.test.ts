// Finding 3 of issue 8: at shutdown the MQTT sockets closed before ingest's last flush, so those
// PUBACKs never left and devices resent; a resent QoS 1 message without `ts` was stored twice.
// Real broker over TCP, real embedded store, the real CLI for SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { holdStore, startTestHub, type TestHub } from './support/hub.ts';

/** A bare MQTT 3.1.1 connection that sends exactly the packets a test writes (DUP, packet ids). */
async function rawClient(port: number, token: string, clientId: string) {
  const socket: Socket = tcpConnect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const packets: mqttPacket.Packet[] = [];
  const waiters: (() => void)[] = [];
  parser.on('packet', (p) => {
    packets.push(p);
    for (const w of waiters.splice(0)) w();
  });
  socket.on('data', (d) => parser.parse(d));
  const next = async (cmd: string, timeoutMs = 10_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const i = packets.findIndex((p) => p.cmd === cmd);
      if (i >= 0) return packets.splice(i, 1)[0]!;
      if (Date.now() > until) throw new Error(`no ${cmd} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  const send = (p: Record<string, unknown>) => socket.write(mqttPacket.generate(p as never));
  send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId,
    keepalive: 60,
    username: token,
  });
  const connack = (await next('connack')) as mqttPacket.IConnackPacket;
  expect(connack.returnCode).toBe(0);
  return {
    socket,
    send,
    next,
    publish(messageId: number, payload: string, dup = false) {
      send({
        cmd: 'publish',
        topic: 'v1/devices/me/telemetry',
        qos: 1,
        dup,
        retain: false,
        messageId,
        payload,
      });
    },
    close: () => socket.destroy(),
  };
}

const rows = async (t: TestHub, id: string) =>
  Number(
    (
      await t.hub.parts.store.db.query<{ n: string | number }>(
        'SELECT count(*) AS n FROM telemetry WHERE device_id = $1',
        [id],
      )
    )[0]!.n,
  );

describe('exactly once: a resent QoS 1 PUBLISH (DUP, same packet id) is stored once', () => {
  it('without ts, on the same connection and after reconnecting under a new client id', async () => {
    const t = await startTestHub({ overrides: { ingest: { flushIntervalMs: 10 } } });
    try {
      const token = await t.device({ id: 'dup-1', profile: 'noise-level' });
      const port = Number(new URL(t.mqttUrl).port);
      const a = await rawClient(port, token, 'sdk-a');
      a.publish(7, '{"LAeq":50}');
      await a.next('puback');
      // The PUBACK was "lost": the device resends on the same connection …
      a.publish(7, '{"LAeq":50}', true);
      await a.next('puback');
      a.close();
      // … and again after reconnecting with a new client id, as ThingsBoard SDKs do.
      await new Promise((r) => setTimeout(r, 50)); // arrival times would differ without the dedupe
      const b = await rawClient(port, token, 'sdk-b');
      b.publish(7, '{"LAeq":50}', true);
      await b.next('puback');
      expect(await rows(t, 'dup-1')).toBe(1);
      // A new message reusing packet id 7 (no DUP) is a new reading; a DUP with another payload too.
      b.publish(7, '{"LAeq":50}');
      await b.next('puback');
      b.publish(8, '{"LAeq":51}', true);
      await b.next('puback');
      expect(await rows(t, 'dup-1')).toBe(3);
      // With ts the store's key (device, key, ts) already makes it idempotent.
      const ts = Date.now() - 1000;
      b.publish(9, JSON.stringify({ ts, values: { LAeq: 52 } }));
      await b.next('puback');
      b.publish(9, JSON.stringify({ ts, values: { LAeq: 52 } }), true);
      await b.next('puback');
      expect(await rows(t, 'dup-1')).toBe(4);
      const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/gridhub_redeliveries_total 3/);
      b.close();
    } finally {
      await t.stop();
    }
  });
});

describe('shutdown drains in order', () => {
  it('PUBACKs of messages taken before stop leave before the sockets close, and all is stored', async () => {
    // The writer writes as soon as it is free (group commit, issue 13): a transaction held open on
    // the embedded store's one connection keeps it busy, so the messages wait, unacknowledged,
    // until stop() — the first in the write that waits, the rest buffered.
    const t = await startTestHub({ overrides: { ingest: { flushIntervalMs: 5000 } } });
    const dataDir = t.dataDir;
    const token = await t.device({ id: 'drain-1', profile: 'noise-level' });
    const port = Number(new URL(t.mqttUrl).port);
    const c = await rawClient(port, token, 'drain');
    const store = await holdStore(t);
    for (let i = 1; i <= 20; i++) c.publish(i, `{"LAeq":${40 + i}}`);
    const waiting = () => {
      const s = t.hub.parts.ingest.stats();
      return s.buffered + s.retrying;
    };
    const until = Date.now() + 10_000;
    while (waiting() < 20 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(waiting()).toBe(20);
    const closed = new Promise<void>((r) => c.socket.once('close', () => r()));
    const stopping = t.stop({ keepData: true });
    store.release();
    await store.done;
    const acks: number[] = [];
    for (let i = 0; i < 20; i++) acks.push(((await c.next('puback')) as mqttPacket.IPubackPacket).messageId!);
    expect(acks.sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await stopping;
    await closed;
    const again = await startTestHub({ dataDir });
    try {
      expect(await rows(again, 'drain-1')).toBe(20);
    } finally {
      await again.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('the CLI exits within 10 s of SIGTERM with code 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gridhub-term-'));
    const child = spawn(process.execPath, ['bin/gridhub.js', 'start'], {
      env: {
        ...process.env,
        GRIDHUB_DATA_DIR: dataDir,
        GRIDHUB_MQTT_PORT: '0',
        GRIDHUB_HTTP_PORT: '0',
        GRIDHUB_LOG_LEVEL: 'warn',
        GRIDHUB_ADMIN_TOKEN: 'test-admin-token-0123456789',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line: ${out}`)), 60_000);
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('gridhub ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', () => reject(new Error(`exited early: ${out}`)));
      });
      const t0 = Date.now();
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      const ms = Date.now() - t0;
      console.log(`[shutdown] SIGTERM to exit: ${ms} ms`);
      expect(code).toBe(0);
      expect(ms).toBeLessThan(10_000);
    } finally {
      child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
