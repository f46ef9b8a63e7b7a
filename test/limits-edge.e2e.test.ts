// Two limits of issue 7 (finding 4 and 5) at their edge, made deterministic instead of timed:
// - a backtest is one at a time: while one waits on the store, a second gets 429 + Retry-After;
// - a live-stream client that stops reading is dropped once 256 KiB wait for it, and the others
//   keep their stream.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, eventually, holdStore, startTestHub, type TestHub } from './support/hub.ts';

/** Opens `GET /api/events` on a raw socket; `paused` stops reading, as a stalled client would. */
function openStream(httpUrl: string) {
  const url = new URL(httpUrl);
  const socket: Socket = connect(Number(url.port), url.hostname);
  let received = '';
  let ended = false;
  socket.on('data', (d) => {
    received += d.toString('latin1');
  });
  socket.on('close', () => {
    ended = true;
  });
  socket.on('error', () => {});
  socket.write(
    `GET /api/events HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nAccept: text/event-stream\r\n\r\n`,
  );
  return { socket, received: () => received, ended: () => ended };
}

describe('limits at their edge', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub({ store: 'pglite' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a second backtest while one is running gets 429 with Retry-After; once it ends the next one runs', async () => {
    // A bin for the rule to replay over, so the backtest reads the store.
    const c = await t.connect(await t.device({ id: 'bin-edge', profile: 'waste-container' }));
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ fillingLevel: 0.5 }), { qos: 1 });
    const from = Date.now() - 3_600_000;
    const path = `/api/rules/bin-full/backtest?from=${from}&to=${Date.now() + 60_000}`;
    // The first backtest waits for the store's one connection, so it is certainly still running.
    const hold = await holdStore(t);
    let first: ReturnType<TestHub['api']> | undefined;
    try {
      first = t.api('POST', path);
      const second = await eventually(async () => {
        const res = await fetch(`${t.httpUrl}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        });
        return res.status === 429 ? res : undefined;
      });
      expect(second.headers.get('retry-after')).toBe('5');
      const body = (await second.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('GRIDHUB_ERR_BUSY');
      expect(body.error.message).toMatch(/one at a time/);
    } finally {
      hold.release();
      await hold.done;
    }
    expect((await first)?.status).toBe(200);
    const third = await t.api('POST', path);
    expect(third.status).toBe(200);
  });

  it('a stream client that stops reading is dropped past 256 KiB waiting; a reading client keeps its stream', async () => {
    const slow = openStream(t.httpUrl);
    const fast = openStream(t.httpUrl);
    await eventually(
      () =>
        slow.received().includes('gridhub live stream') && fast.received().includes('gridhub live stream'),
    );
    slow.socket.pause();
    const dropped = () =>
      /gridhub_events_clients_dropped_total\{reason="slow"\} (\d+)/.exec(t.hub.metrics.render())?.[1];
    expect(dropped()).toBeUndefined();
    // Rule events of ~8 KiB each (what an admin's stream carries); bounded: 64 MiB at most, far
    // beyond the 256 KiB limit plus both sockets' kernel buffers.
    const reason = 'x'.repeat(8 * 1024);
    let sent = 0;
    for (; sent < 8_192 && dropped() === undefined; sent++) {
      t.hub.events.publish({
        type: 'rule',
        ruleId: `flood-${sent}`,
        change: 'saved',
        reason,
        at: new Date().toISOString(),
      });
      // Let the sockets drain what they can, as a live hub would between events.
      if (sent % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(dropped()).toBe('1');
    // The reading client got every event up to the drop and still gets the next one.
    const marker = `after-drop-${Date.now()}`;
    t.hub.events.publish({ type: 'rule', ruleId: marker, change: 'saved', at: new Date().toISOString() });
    await eventually(() => fast.received().includes(marker), 30_000);
    expect(fast.ended()).toBe(false);
    // The dropped client, once it reads again, finds its stream closed and never sees the marker.
    slow.socket.resume();
    await eventually(() => slow.ended(), 30_000);
    expect(slow.received()).not.toContain(marker);
    expect((await t.api('GET', '/api/health')).status).toBe(200);
    fast.socket.destroy();
  });
});
