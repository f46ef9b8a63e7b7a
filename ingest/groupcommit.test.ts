// Issue 13: group commit — a write starts as soon as the writer is free and takes everything that
// arrived meanwhile (the flush timer only bounds the wait); on the embedded store one transaction
// holds at most `embeddedTransactionRows` rows. The store is a real embedded PGlite in memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics, silentLogger, systemClock } from '../kernel/index.ts';
import type { Device, Registry } from '../registry/index.ts';
import { type Db, migrate, type Queryable, wrapPglite } from '../store/index.ts';
import { openPglite } from '../store/pglite-driver.ts';
import { type IngestConfig, ingestConfigSchema } from './config.ts';
import { createIngest, type Inbound } from './pipeline.ts';

const registry = { presence: { seen() {} } } as unknown as Registry;
const device = (id: string) => ({ id, profile: 'generic' }) as Device;

let packetId = 0;
const msg = (deviceId: string, payload: unknown): Inbound => ({
  device: device(deviceId),
  clientId: deviceId,
  topic: 'v1/devices/me/telemetry',
  payload: Buffer.from(JSON.stringify(payload)),
  qos: 1,
  messageId: (++packetId % 65535) + 1,
});

/** An ingest whose flush timer (10 minutes) never fires: an acknowledgement that waited for it would time the test out. */
const ingestOn = (on: Db, options: Partial<IngestConfig> = {}, logger = silentLogger()) =>
  createIngest({
    db: on,
    registry,
    clock: systemClock(),
    logger,
    metrics: new Metrics(),
    options: { ...ingestConfigSchema.parse({}), flushIntervalMs: 600_000, ...options },
  });

/** The store, counting its writes: transactions, and single-statement writes outside one. */
function counting(db: Db) {
  const tx = { count: 0 };
  const wrapped: Db = {
    ...db,
    driver: db.driver,
    query: (sql, params) => {
      if (/^\s*(WITH|INSERT)\b/i.test(sql)) tx.count++;
      return db.query(sql, params);
    },
    run: (statement, params) => {
      tx.count++;
      return db.run(statement, params);
    },
    exec: (sql) => db.exec(sql),
    close: () => db.close(),
    transaction<T>(fn: (q: Queryable) => Promise<T>) {
      tx.count++;
      return db.transaction(fn);
    },
  };
  return { db: wrapped, tx };
}

describe('group commit in the ingest writer', () => {
  let db: Db;
  beforeAll(async () => {
    db = wrapPglite(await openPglite('memory://'));
    await migrate(db, { timescale: 'off', retentionDays: 400, compressAfterDays: 7 });
  });
  afterAll(async () => {
    await db.close();
  });

  it('a durable QoS 1 message is written and acknowledged at once, not after the flush timer', async () => {
    const c = counting(db);
    const ingest = ingestOn(c.db);
    const t0 = performance.now();
    for (let i = 0; i < 20; i++)
      await new Promise<void>((resolve, reject) =>
        ingest.telemetry(msg('gc-1', { n: i }), (err) => (err ? reject(err) : resolve())),
      );
    const ms = performance.now() - t0;
    // 20 round trips, one commit each; generous: 10 s would be 500 ms per message.
    expect(ms).toBeLessThan(10_000);
    expect(c.tx.count).toBe(20);
    const rows = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM telemetry WHERE device_id = 'gc-1'`,
    );
    expect(rows[0]!.n).toBe('20');
    await ingest.stop();
  });

  it("after a write of several devices' messages the next small one gathers for gatherMs; a lone device is never held", async () => {
    const GATHER = 1000;
    const setup = (gatherMs: number, batchSize = 5000) => {
      const c = counting(db);
      const ingest = ingestOn(c.db, { gatherMs, batchSize });
      /** Sends the messages in one turn; resolves with ms until the last acknowledgement. */
      const send = async (items: { id: string; payload: Record<string, number> }[]) => {
        const t0 = performance.now();
        await Promise.all(
          items.map(
            ({ id, payload }) =>
              new Promise<void>((resolve, reject) =>
                ingest.telemetry(msg(id, payload), (err) => (err ? reject(err) : resolve())),
              ),
          ),
        );
        return performance.now() - t0;
      };
      const many = (prefix: string) =>
        Array.from({ length: 6 }, (_, i) => ({ id: `${prefix}-${i}`, payload: { n: i } }));
      return { c, ingest, send, many };
    };
    const { c, ingest, send, many } = setup(GATHER);
    // A lone device: written at once (the write before it held nothing).
    expect(await send([{ id: 'gc-g-lone', payload: { n: 1 } }])).toBeLessThan(GATHER / 2);
    // Six devices in one turn: one write, at once (the write before held one message).
    const writes = c.tx.count;
    expect(await send(many('gc-g-a'))).toBeLessThan(GATHER / 2);
    expect(c.tx.count).toBe(writes + 1);
    // After that write, a small batch waits for company: the whole gather time, then one write.
    expect(await send([{ id: 'gc-g-next', payload: { n: 2 } }])).toBeGreaterThanOrEqual(GATHER * 0.9);
    // That write held one message: the next is written at once again.
    expect(await send([{ id: 'gc-g-next', payload: { n: 3 } }])).toBeLessThan(GATHER / 2);
    // Enough readings waiting end the gather early: 500 readings in the next turn.
    await send(many('gc-g-b'));
    const t0 = performance.now();
    const small = send([{ id: 'gc-g-c', payload: { n: 4 } }]);
    await new Promise((r) => setImmediate(r));
    const big = Object.fromEntries(Array.from({ length: 100 }, (_, k) => [`k${k}`, k]));
    await send(Array.from({ length: 5 }, (_, i) => ({ id: `gc-g-big-${i}`, payload: big })));
    await small;
    expect(performance.now() - t0).toBeLessThan(GATHER / 2);
    await ingest.stop();
    const rows = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM telemetry WHERE device_id LIKE 'gc-g-%'`,
    );
    expect(rows[0]!.n).toBe(String(1 + 6 + 1 + 1 + 6 + 1 + 500));

    // A batchSize under 500 ends the gather at batchSize readings.
    const small50 = setup(GATHER, 50);
    await small50.send(small50.many('gc-g50-a'));
    const t50 = performance.now();
    const lone = small50.send([{ id: 'gc-g50-b', payload: { n: 1 } }]);
    await new Promise((r) => setImmediate(r));
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, k) => [`k${k}`, k]));
    await small50.send([{ id: 'gc-g50-c', payload: fifty }]);
    await lone;
    expect(performance.now() - t50).toBeLessThan(GATHER / 2);
    await small50.ingest.stop();

    // gatherMs 0: never waits.
    const off = setup(0);
    await off.send(off.many('gc-g0-a'));
    expect(await off.send([{ id: 'gc-g0-next', payload: { n: 1 } }])).toBeLessThan(GATHER / 2);
    await off.ingest.stop();
  });

  it('messages arriving while a write runs go together into the next write', async () => {
    const c = counting(db);
    const ingest = ingestOn(c.db);
    const acks: Promise<void>[] = [];
    for (let i = 0; i < 200; i++)
      acks.push(
        new Promise<void>((resolve, reject) =>
          ingest.telemetry(msg(`gc-2-${i % 20}`, { n: i }), (err) => (err ? reject(err) : resolve())),
        ),
      );
    await Promise.all(acks);
    // Sent in one turn: one write (nothing was running when they arrived), at most a few.
    expect(c.tx.count).toBeGreaterThanOrEqual(1);
    expect(c.tx.count).toBeLessThanOrEqual(3);
    const rows = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM telemetry WHERE device_id LIKE 'gc-2-%'`,
    );
    expect(rows[0]!.n).toBe('200');
    await ingest.stop();
  });

  it('on the embedded store one transaction holds at most embeddedTransactionRows rows', async () => {
    const c = counting(db);
    const ingest = ingestOn(c.db, { embeddedTransactionRows: 25 });
    const acks: Promise<void>[] = [];
    // 100 messages of 1 reading from 10 devices in one turn: 100 telemetry rows + 10 latest rows.
    for (let i = 0; i < 100; i++)
      acks.push(
        new Promise<void>((resolve, reject) =>
          ingest.telemetry(msg(`gc-3-${i % 10}`, { n: i }), (err) => (err ? reject(err) : resolve())),
        ),
      );
    await Promise.all(acks);
    // 110 rows in parts of 25: 5 transactions (100 + 10 rows, ceil(110 / 25)).
    expect(c.tx.count).toBe(5);
    const rows = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM telemetry WHERE device_id LIKE 'gc-3-%'`,
    );
    expect(rows[0]!.n).toBe('100');
    const latest = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM telemetry_latest WHERE device_id LIKE 'gc-3-%'`,
    );
    expect(latest[0]!.n).toBe('10');
    await ingest.stop();
  });

  /**
   * Sends `n` QoS 1 messages in one turn and records, per acknowledgement, how many times a 0 ms
   * timer had fired by then: a release in one task shows one count for every acknowledgement.
   */
  async function releaseTurns(sliceMs: number, n: number, prefix: string) {
    const ingest = ingestOn(db, { batchSize: 100_000, sliceMs });
    let ticks = 0;
    let ticking = true;
    const tick = () => {
      ticks++;
      if (ticking) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    const order = new Map<string, number[]>();
    const seenAt: number[] = [];
    const acks: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const id = `${prefix}-${i % 50}`;
      acks.push(
        new Promise<void>((resolve, reject) =>
          ingest.telemetry(msg(id, { n: i }), (err) => {
            if (err) return reject(err);
            seenAt.push(ticks);
            const list = order.get(id) ?? [];
            list.push(i);
            order.set(id, list);
            resolve();
          }),
        ),
      );
    }
    // Sent in one turn: past the budget, the rest waits for later turns (counted, nothing dropped).
    const waitingAfterSend = ingest.stats().intakeWaiting;
    await Promise.all(acks);
    expect(ingest.stats().intakeWaiting).toBe(0);
    ticking = false;
    await ingest.stop();
    const rows = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM telemetry WHERE device_id LIKE '${prefix}-%'`,
    );
    return { seenAt, order, rows: Number(rows[0]!.n), waitingAfterSend };
  }

  it('under a flood, intake and acknowledgements are sliced: timers run in between, order and data kept', async () => {
    const n = 4000;
    const sliced = await releaseTurns(1, n, 'gc-4');
    expect(sliced.rows).toBe(n);
    expect(sliced.seenAt).toHaveLength(n);
    // Every device's messages were acknowledged in the order they were sent.
    for (const [, list] of sliced.order) expect(list).toEqual([...list].sort((a, b) => a - b));
    // The 0 ms timer fired while the acknowledgements were being released: the loop was served.
    expect(sliced.seenAt.at(-1)! - sliced.seenAt[0]!).toBeGreaterThan(0);
    // 4,000 messages cannot all be ingested within a 1 ms budget: some waited for a later turn.
    expect(sliced.waitingAfterSend).toBeGreaterThan(0);

    // The contrast (the assertion above can fail): unsliced, one task takes the 4,000 messages in
    // and one task releases their acknowledgements, with no timer in between.
    const whole = await releaseTurns(0, n, 'gc-5');
    expect(whole.rows).toBe(n);
    expect(whole.seenAt.at(-1)! - whole.seenAt[0]!).toBe(0);
    expect(whole.waitingAfterSend).toBe(0);
  });
  /** An ingest whose flush timer never fires, keeping what it logs as errors. */
  function recordingErrors(options: Partial<ReturnType<typeof ingestConfigSchema.parse>> = {}) {
    const errors: unknown[] = [];
    const logger = silentLogger();
    const ingest = ingestOn(
      db,
      options,
      Object.assign(Object.create(logger), {
        error: (o: unknown) => errors.push(o),
      }) as typeof logger,
    );
    return { ingest, errors };
  }

  it('an acknowledgement that throws does not hold back the others of its batch', async () => {
    const { ingest, errors } = recordingErrors();
    const acked: number[] = [];
    // One batch: all ten arrive in the same turn. The third connection's callback throws.
    const all = Array.from(
      { length: 10 },
      (_, i) =>
        new Promise<void>((resolve) =>
          ingest.telemetry(msg(`gc-throw-${i}`, { n: i }), () => {
            resolve();
            if (i === 2) throw new Error('socket gone');
            acked.push(i);
          }),
        ),
    );
    await Promise.all(all);
    expect(acked).toEqual([0, 1, 3, 4, 5, 6, 7, 8, 9]);
    expect(errors).toHaveLength(1);
    await ingest.stop();
  });

  it("the next batch is written while the last one's acknowledgements are still being released", async () => {
    // Like a device whose next message follows its PUBACK: each acknowledgement of the first batch
    // sends one more message. With the writer free as soon as the store has committed, the second
    // batch's write begins before the first batch's last acknowledgement has left; acknowledgements
    // still leave in arrival order.
    const c = counting(db);
    const ingest = ingestOn(c.db, { sliceMs: 1, embeddedTransactionRows: 100_000 });
    const n = 2000;
    const events: string[] = [];
    /** Per telemetry write: acknowledgements released when it began, and the readings it held. */
    const writes: { at: number; rows: number }[] = [];
    const wrapped = c.db.run;
    c.db.run = (statement, params) => {
      writes.push({ at: events.length, rows: params[0]!.length });
      return wrapped(statement, params);
    };
    const followUps: Promise<void>[] = [];
    const first = Array.from(
      { length: n },
      (_, i) =>
        new Promise<void>((resolve, reject) =>
          ingest.telemetry(msg(`gc-overlap-${i % 100}`, { n: i }), (err) => {
            if (err) return reject(err);
            events.push(`ack ${i}`);
            // An acknowledgement costs the broker a PUBACK and the next read: 50 µs here, so a
            // batch's acknowledgements take several slices.
            for (const t = performance.now(); performance.now() - t < 0.05; );
            followUps.push(
              new Promise<void>((res, rej) =>
                ingest.telemetry(msg(`gc-overlap-${i % 100}`, { n: n + i }), (e) => {
                  if (e) return rej(e);
                  events.push(`ack ${n + i}`);
                  res();
                }),
              ),
            );
            resolve();
          }),
        ),
    );
    await Promise.all(first);
    await Promise.all(followUps);
    await ingest.stop();
    expect(events).toHaveLength(2 * n);
    // Every acknowledgement in arrival order.
    expect(events).toEqual(Array.from({ length: 2 * n }, (_, i) => `ack ${i}`));
    // One reading per message, acknowledged in order: write k's acknowledgements are those after
    // the readings of the writes before it. Some write began before its predecessor's were all out.
    expect(writes.reduce((sum, w) => sum + w.rows, 0)).toBe(2 * n);
    let before = 0;
    const overlapped = writes.filter((w, k) => {
      const prevEnd = before;
      before += w.rows;
      return k > 0 && w.at < prevEnd;
    });
    expect(overlapped.length).toBeGreaterThan(0);
    const rows = await db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM telemetry WHERE device_id LIKE 'gc-overlap-%'`,
    );
    expect(rows[0]!.n).toBe(String(2 * n));
  });

  it('a held acknowledgement that throws does not hold back the others, nor the next batches', async () => {
    // A buffer of one reading: while the first message's batch is written, QoS 0 messages are held;
    // the first held one's connection is gone (its callback throws).
    const { ingest, errors } = recordingErrors({ maxBuffered: 1 });
    const acked: string[] = [];
    const ack = (name: string, m: Inbound, fail = false) =>
      new Promise<void>((resolve, reject) =>
        ingest.telemetry(m, (err) => {
          if (err) return reject(err);
          resolve();
          if (fail) throw new Error('socket gone');
          acked.push(name);
        }),
      );
    const first = ack('first', msg('gc-held-1', { n: 1 }));
    const thrower = ack('thrower', { ...msg('gc-held-2', { n: 2 }), qos: 0 }, true);
    const after = ack('after', { ...msg('gc-held-3', { n: 3 }), qos: 0 });
    await Promise.all([first, thrower, after]);
    // A later durable message is still written and acknowledged: the chain of releases holds.
    await ack('later', msg('gc-held-4', { n: 4 }));
    expect(acked).toEqual(['first', 'after', 'later']);
    expect(errors).toHaveLength(1);
    await ingest.stop();
  });
});
