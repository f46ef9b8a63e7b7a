/**
 * The ingest pipeline: a device message is parsed, validated (zod, ingest/validate.ts), placed in its
 * batch and acknowledged once its batch is committed (or spooled); a write that fails is bisected,
 * retried or spooled, never dropped.
 *
 * Why one file: one closure over the state every step shares on the hot path — the buffered batch,
 * the acknowledgements waiting on it, the redelivery window and the writer's single flight — so that a
 * message costs no indirection; parsing, validation, the spool and the store's batch writer live in
 * their own files (parse.ts, validate.ts, spool.ts, store/batch-writer.ts).
 */
import { performance } from 'node:perf_hooks';
import { type Clock, createTurnBudget, type Logger, type Metrics } from '../kernel/index.ts';
import type { Device, Registry } from '../registry/index.ts';
import {
  createBatchWriter,
  type Db,
  describeRow,
  describeStoreError,
  emptyWriteSet,
  formatTs,
  isRetryable,
  type LatestRow,
  mergeWriteSets,
  type RejectedRow,
  sliceWriteSet,
  storableText,
  type WriteSet,
  writeSetSize,
} from '../store/index.ts';
import type { IngestConfig } from './config.ts';
import { type Problem, parseGatewayTelemetry, parseJson, parseTelemetry, type RawRecord } from './parse.ts';
import type { Spool } from './spool.ts';
import { type Reading, validateRecordInto } from './validate.ts';

/** One accepted message's readings, handed to the rules right after validation. */
export interface AcceptedReadings {
  device: Device;
  readings: Reading[];
}
export type ReadingSink = (batch: AcceptedReadings) => void;

export interface Inbound {
  device: Device;
  clientId: string | null;
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  /** MQTT packet identifier (QoS > 0) and DUP flag: a redelivery is recognised by them. */
  messageId?: number;
  dup?: boolean;
}

/**
 * Called when the message may be acknowledged (and its socket read again). `verdict.invalid` says
 * the message as a whole carried nothing storable, and why (MQTT 5 answers it with PUBACK 0x99).
 */
export type Done = (err?: Error, verdict?: { invalid: string }) => void;
const invalid = (problems: Problem[]) => ({
  invalid: problems
    .map((p) => storableText(p.reason))
    .join('; ')
    .slice(0, 500),
});

export type IngestOptions = IngestConfig;

/** How many recent QoS 1 packets per device are remembered to recognise a redelivery. */
const RECENT_PACKETS = 64;
/** A redelivery later than this is treated as a new message. */
const REDELIVERY_WINDOW_MS = 3_600_000;
/** Resolves on the next turn of the event loop, after its I/O callbacks. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** Group commit's gather: a write waits for more only after one that held this many messages… */
const GATHER_MIN_MESSAGES = 4;
/** …and only while fewer readings than this (or than a write's batchSize) wait: under full load batches fill on their own. */
const GATHER_ENOUGH_READINGS = 500;
/** Consecutive failed writes after which health says `degraded`. */
const DEGRADED_AFTER_FAILURES = 3;
/** (device, key) pairs the memo of `latest`'s keys holds at most (~20 MB). */
const LATEST_KEYS = 200_000;

/** FNV-1a over the payload: cheap, and only compared together with packet id, length and DUP. */
function payloadHash(b: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

/** Acknowledgements of one batch, in arrival order: `done[i]` arrived at `arrived[i]` (hub clock, ms). */
interface Acks {
  done: Done[];
  arrived: number[];
}

/** A callback that runs once, whatever path (success, failure, a guarded bug) calls it. */
function once(done: Done): Done {
  let called = false;
  return (err, verdict) => {
    if (called) return;
    called = true;
    done(err, verdict);
  };
}

/**
 * The ingest pipeline: parse → validate (per profile) → enrich (device, grid) → buffer → flush.
 *
 * Backpressure: with ackMode `durable` a QoS 1/2 message is acknowledged only once its readings
 * are committed; QoS 0 (and `received`) is acknowledged when buffered, unless the buffer is full —
 * then the acknowledgement waits for room. Rejected messages count toward the same limit. The
 * broker reads no more from a client until its messages are acknowledged, so a slow or absent
 * database pushes back on the devices instead of growing memory without bound.
 *
 * Nothing a device sends can stop the pipeline: every step is guarded (a bug rejects that message
 * with code `internal`), strings the store cannot hold are refused at validation, and a batch the
 * store refuses for a reason retrying cannot cure is split until the refused rows are found; those
 * go to the rejected store with the store's reason and the rest is written.
 *
 * The write path is one function, `commit(batch)`: a write-ahead spool or a group-commit writer
 * slots in there without touching the steps before it.
 */
export function createIngest(deps: {
  db: Db;
  registry: Registry;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  options: IngestOptions;
  sink?: ReadingSink;
  /** The write-ahead spool: batches wait here, durable, while the store is unreachable. */
  spool?: Spool;
}) {
  const { db, registry, clock, metrics, options } = deps;
  const log = deps.logger;
  const m = {
    messages: metrics.counter('gridhub_messages_received_total', 'MQTT messages received, by kind'),
    readings: metrics.counter(
      'gridhub_readings_accepted_total',
      'Readings accepted (validated and buffered)',
    ),
    rejectedMessages: metrics.counter(
      'gridhub_rejected_messages_total',
      'Messages with at least one rejected part, by reason',
    ),
    rejected: metrics.counter('gridhub_rejected_readings_total', 'Rejected readings or records, by reason'),
    rejectedSampled: metrics.counter(
      'gridhub_rejected_not_kept_total',
      'Rejected messages counted but not kept in the rejected store (sampled under a flood)',
    ),
    unstorable: metrics.counter(
      'gridhub_rejected_unstorable_total',
      'Rejected-store rows the store itself refused (logged, then dropped)',
    ),
    internal: metrics.counter(
      'gridhub_ingest_internal_errors_total',
      'Messages a pipeline step failed on (a bug, contained to the message), by step',
    ),
    duplicates: metrics.counter(
      'gridhub_redeliveries_total',
      'QoS 1 redeliveries (DUP, same packet id and payload) recognised and stored once',
    ),
    redeliveredBatches: metrics.counter(
      'gridhub_redelivered_batches_total',
      'Batches holding a reading already stored, written again skipping it',
    ),
    rows: metrics.counter('gridhub_rows_written_total', 'Rows written to the store, by table'),
    flushes: metrics.histogram(
      'gridhub_flush_seconds',
      'Time to write one batch',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
    flushFailures: metrics.counter(
      'gridhub_flush_failures_total',
      'Batch writes that failed and will be retried',
    ),
    splits: metrics.counter(
      'gridhub_flush_splits_total',
      'Batches split because the store refused part of them',
    ),
    spooled: metrics.counter(
      'gridhub_spooled_readings_total',
      'Readings appended to the write-ahead spool while the store was unreachable',
    ),
    replayed: metrics.counter(
      'gridhub_replayed_readings_total',
      'Readings replayed from the spool into the store',
    ),
    held: metrics.counter(
      'gridhub_ingest_pushback_total',
      'Acknowledgements held back because the write buffer was full',
    ),
    ackLatency: metrics.histogram(
      'gridhub_ingest_commit_seconds',
      'Arrival to commit of a durable message',
      [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
  };
  const countTelemetry = m.messages.bind({ kind: 'telemetry' });
  const countGatewayTelemetry = m.messages.bind({ kind: 'gateway_telemetry' });
  const countReadings = m.readings.bind();
  metrics.gauge('gridhub_write_queue_depth', 'Readings buffered, not yet committed').collect(() => pending());
  metrics
    .gauge('gridhub_store_writable', '1 while store writes succeed, 0 while they keep failing')
    .collect(() => (failures >= DEGRADED_AFTER_FAILURES ? 0 : 1));

  metrics
    .gauge('gridhub_spool_bytes', 'Bytes in the write-ahead spool, not yet replayed')
    .collect(() => deps.spool?.bytes() ?? 0);

  let ws: WriteSet = emptyWriteSet();
  /** Acknowledgements waiting for the next commit, in arrival order: two arrays, no object per message (issue 13, GC). */
  let acks: Acks = { done: [], arrived: [] };
  let latest = new Map<string, LatestRow>();
  let buffered = 0;
  let retrying = 0;
  const held: Done[] = [];
  let timer: NodeJS.Timeout | undefined;
  /** Batches being written. PostgreSQL takes two at once, so the hub prepares one while the
   * server commits the other; the embedded store is single-threaded and takes one. */
  const flights = new Set<Promise<void>>();
  const maxFlights = db.driver === 'pg' ? 2 : 1;
  /** PostgreSQL: the writer's own connections, apart from the API's (issue 13). */
  const writer = createBatchWriter(db.writer ?? db, {
    onRedelivered: () => m.redeliveredBatches.inc(),
  });
  let stopping = false;
  let failures = 0;
  let failingSince: number | undefined;
  let lastError: string | undefined;

  /** Rows waiting for the store (readings and rejected rows alike): what the buffer limit bounds. */
  const pending = () => buffered + ws.rejected.length + retrying;
  const hasRoom = () => pending() < options.maxBuffered;

  // A noisy device must not flood the log: one line per key (device and reason, or step) per
  // window, with the number of repeats suppressed since the last line.
  const logWindowMs = 10_000;
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  function throttled(k: string): { suppressed: number } | undefined {
    const now = Date.now();
    const prev = lastLogged.get(k);
    if (prev && now - prev.at < logWindowMs) {
      prev.suppressed++;
      return undefined;
    }
    if (lastLogged.size > 10_000) lastLogged.clear();
    lastLogged.set(k, { at: now, suppressed: 0 });
    return { suppressed: prev?.suppressed ?? 0 };
  }

  // The rejected store keeps a sample under a flood: per device and reason, the first
  // `rejectedSamplePerMinute` rows of each minute; the rest are counted, and the next kept row
  // carries that count (`suppressed`). The metrics count every rejection.
  const sampling = new Map<string, { windowStart: number; kept: number; suppressed: number }>();
  function sample(deviceId: string | null, code: string): { keep: boolean; suppressed: number } {
    const k = `${deviceId}\u0000${code}`;
    const now = Date.now();
    let s = sampling.get(k);
    if (!s) {
      if (sampling.size > 50_000) sampling.clear();
      s = { windowStart: now, kept: 0, suppressed: 0 };
      sampling.set(k, s);
    }
    if (now - s.windowStart >= 60_000) {
      s.windowStart = now;
      s.kept = 0;
    }
    if (s.kept < options.rejectedSamplePerMinute) {
      s.kept++;
      const suppressed = s.suppressed;
      s.suppressed = 0;
      return { keep: true, suppressed };
    }
    s.suppressed++;
    return { keep: false, suppressed: 0 };
  }

  function reject(
    deviceId: string | null,
    clientId: string | null,
    topic: string,
    payload: Buffer,
    problems: Problem[],
  ) {
    for (const p of problems) m.rejected.inc({ reason: p.code });
    const code = problems[0]?.code ?? 'internal';
    m.rejectedMessages.inc({ reason: code });
    const reason = problems.map((p) => p.reason).join('; ');
    const s = sample(deviceId, code);
    if (s.keep) {
      // Everything kept here is text the store can hold: the payload copy and the reasons may
      // quote a NUL or a lone surrogate the device sent.
      ws.rejected.push({
        receivedAt: clock.now(),
        deviceId: deviceId === null ? null : storableText(deviceId),
        clientId: clientId === null ? null : storableText(clientId),
        topic: storableText(topic),
        code,
        reason: storableText(reason.length > 2000 ? `${reason.slice(0, 2000)}…` : reason),
        payload: storableText(payload.subarray(0, options.rejectedPayloadBytes).toString('utf8')),
        suppressed: s.suppressed,
      });
      schedule();
    } else m.rejectedSampled.inc();
    const t = throttled(`${deviceId}\u0000${code}`);
    if (t)
      log.warn(
        {
          deviceId,
          topic,
          reasons: problems.map((p) => storableText(p.reason)),
          suppressed: t.suppressed,
        },
        'readings rejected',
      );
  }

  /** A step threw on this message: a bug. The message is rejected, counted and logged; the hub goes on. */
  function internalError(step: string, msg: Inbound, err: unknown, done: Done) {
    m.internal.inc({ step });
    const t = throttled(`\u0000internal\u0000${step}`);
    if (t)
      log.error(
        { err, step, deviceId: msg.device?.id, topic: msg.topic, suppressed: t.suppressed },
        'ingest step failed on a message; message rejected',
      );
    try {
      reject(msg.device?.id ?? null, msg.clientId, msg.topic, msg.payload, [
        {
          code: 'internal',
          reason: `internal error in step ${step}: ${(err as Error)?.message ?? String(err)}`,
        },
      ]);
    } catch {
      // reject() is itself guarded by construction; this only keeps the promise of never throwing.
    }
    settleRejected(done, { invalid: 'internal error' });
  }

  /**
   * `device\0key`, the key of `latest`, made once per pair and reused (issue 13: a new string per
   * reading, hashed again on every lookup, was a third of buffering's allocations). Bounded in all:
   * devices of open profiles may invent keys (up to their key limit), and ids come and go; past
   * LATEST_KEYS pairs it starts again empty (only speed depends on it).
   */
  let latestKeys = new Map<string, Map<string, string>>();
  let latestKeyCount = 0;
  function latestKey(deviceId: string, key: string): string {
    let byKey = latestKeys.get(deviceId);
    let lk = byKey?.get(key);
    if (lk !== undefined) return lk;
    if (latestKeyCount >= LATEST_KEYS) {
      latestKeys = new Map();
      latestKeyCount = 0;
      byKey = undefined;
    }
    if (byKey === undefined) {
      byKey = new Map();
      latestKeys.set(deviceId, byKey);
    }
    lk = `${deviceId}\u0000${key}`;
    byKey.set(key, lk);
    latestKeyCount++;
    return lk;
  }

  function buffer(device: Device, readings: Reading[], arrival: number) {
    const t = ws.telemetry;
    for (const r of readings) {
      const lk = latestKey(device.id, r.key);
      const prev = latest.get(lk);
      // `latest` orders readings by their timestamp capped at arrival: a clock running ahead
      // (within the allowed skew) can neither hold back newer readings nor make latest go back.
      const lts = Math.min(r.ts, arrival);
      if (r.kind === 'number') {
        t.ts.push(r.ts);
        t.deviceId.push(device.id);
        t.key.push(r.key);
        t.value.push(r.value);
        // This batch's own row is updated in place: no new object per reading (issue 13, GC).
        if (!prev) latest.set(lk, { deviceId: device.id, key: r.key, ts: lts, value: r.value, json: null });
        else if (prev.ts <= lts) {
          prev.ts = lts;
          prev.value = r.value;
          prev.json = null;
        }
      } else if (r.kind === 'json') {
        const json = JSON.stringify(r.value);
        ws.values.ts.push(r.ts);
        ws.values.deviceId.push(device.id);
        ws.values.key.push(r.key);
        ws.values.json.push(json);
        if (!prev || prev.ts <= lts)
          latest.set(lk, { deviceId: device.id, key: r.key, ts: lts, value: null, json });
      } else {
        ws.events.push({
          ts: r.ts,
          deviceId: device.id,
          type: r.type,
          confidence: r.confidence,
          snapshot: r.snapshot,
          data: r.data,
        });
      }
    }
    buffered += readings.length;
    bufferedMessages++;
    countReadings(readings.length);
  }

  // Readings without a timestamp take their arrival time. Two messages of one device arriving in
  // the same millisecond must not collide on (device, key, ts) — the idempotency key — so arrival
  // times are made strictly increasing per device.
  const lastArrival = new Map<string, number>();
  // Exactly once for QoS 1: a PUBACK lost at shutdown or in a broken connection makes the device
  // resend with DUP set and the same packet id [MQTT-4.4.0-1] — also after reconnecting under a
  // new client id, as ThingsBoard SDKs do, so this is kept per device, not per session. A
  // redelivery reuses the first arrival time, so readings without `ts` land on the same
  // (device, key, ts) and the idempotent insert stores them once.
  const recent = new Map<string, Map<number, { hash: number; length: number; arrival: number }>>();
  function arrivalTime(deviceId: string, msg: Inbound): { arrival: number; redelivery: boolean } {
    const now = clock.now();
    const id = msg.messageId;
    let seen: Map<number, { hash: number; length: number; arrival: number }> | undefined;
    let hash = 0;
    if (msg.qos > 0 && id !== undefined) {
      seen = recent.get(deviceId);
      hash = payloadHash(msg.payload);
      const first = seen?.get(id);
      if (
        msg.dup &&
        first &&
        first.hash === hash &&
        first.length === msg.payload.length &&
        now - first.arrival < REDELIVERY_WINDOW_MS
      ) {
        m.duplicates.inc();
        return { arrival: first.arrival, redelivery: true };
      }
    }
    const prev = lastArrival.get(deviceId);
    const t = prev !== undefined && prev >= now ? prev + 1 : now;
    lastArrival.set(deviceId, t);
    if (id !== undefined && msg.qos > 0) {
      if (!seen) {
        seen = new Map();
        recent.set(deviceId, seen);
      }
      // The entry this packet id had, or the oldest once the window is full, is reused (issue 13:
      // no allocation per message); re-inserted, it is the newest.
      let e = seen.get(id);
      if (e) seen.delete(id);
      else if (seen.size >= RECENT_PACKETS) {
        const oldest = seen.keys().next().value!;
        e = seen.get(oldest);
        seen.delete(oldest);
      }
      if (e) {
        e.hash = hash;
        e.length = msg.payload.length;
        e.arrival = t;
      } else e = { hash, length: msg.payload.length, arrival: t };
      seen.set(id, e);
    }
    return { arrival: t, redelivery: false };
  }

  /**
   * Validates a device's records, buffers the good readings, records the bad parts. `problems` (the
   * parsing's, the caller's own array) gets the validation's too.
   */
  function accept(device: Device, records: RawRecord[], problems: Problem[], msg: Inbound, done: Done) {
    const { arrival, redelivery } = arrivalTime(device.id, msg);
    const readings: Reading[] = [];
    for (const rec of records)
      validateRecordInto(device.profile, rec, arrival, options.maxClockSkew, readings, problems);
    // A redelivery's rejected parts were recorded the first time.
    if (problems.length && !redelivery) reject(device.id, msg.clientId, msg.topic, msg.payload, problems);
    registry.presence.seen(device.id, arrival);
    if (readings.length === 0) return settleRejected(done, problems.length ? invalid(problems) : undefined);
    buffer(device, readings, arrival);
    // The rules saw the first delivery; a redelivery must not count as a second occurrence.
    if (!redelivery) {
      try {
        deps.sink?.({ device, readings });
      } catch (err) {
        // The rules isolate their own failures; this is the last fence so ingest never stops.
        log.error({ err, deviceId: device.id }, 'reading sink failed');
      }
    }
    settle(done, msg.qos, arrival);
  }

  function settle(done: Done, qos: 0 | 1 | 2, arrived: number) {
    if (options.ackMode === 'durable' && qos > 0) {
      acks.done.push(done);
      acks.arrived.push(arrived);
    } else if (hasRoom()) done();
    else {
      m.held.inc();
      held.push(done);
    }
    schedule();
  }

  /** A message with nothing to store but its rejection: acknowledged at once unless the buffer is full. */
  function settleRejected(done: Done, verdict?: { invalid: string }) {
    if (hasRoom()) done(undefined, verdict);
    else {
      m.held.inc();
      held.push(() => done(undefined, verdict));
    }
  }

  /** A group-commit write is queued for the end of this event-loop turn. */
  let writeQueued = false;
  /** Messages in the buffer, and in the batch written last (the evidence of concurrent devices). */
  let bufferedMessages = 0;
  let lastBatchMessages = 0;
  /** A write waiting up to `gatherMs` for more messages to join it, until this many readings wait. */
  let gathering: NodeJS.Timeout | undefined;
  const gatherEnough = Math.min(GATHER_ENOUGH_READINGS, options.batchSize);
  function schedule() {
    if (stopping) return;
    // Group commit (issue 13): a write starts as soon as the writer is free and takes everything
    // that arrived meanwhile, so one device with one message in flight is acknowledged after one
    // commit, not after a timer. setImmediate runs after the I/O callbacks of this turn: the
    // messages read from every socket in the same turn join the same batch.
    if (flights.size < maxFlights) {
      if (gathering) {
        if (buffered < gatherEnough) return;
        clearTimeout(gathering);
        gathering = undefined;
      }
      if (!writeQueued) {
        writeQueued = true;
        setImmediate(writeWhenFree);
      }
      return;
    }
    // The writer is busy: the write that ends schedules the next one. The timer only bounds the
    // wait, should that write hang in retries.
    if (buffered >= options.batchSize) {
      if (timer) clearTimeout(timer);
      timer = undefined;
      void flush();
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = undefined;
        void flush();
      }, options.flushIntervalMs);
      timer.unref?.();
    }
  }

  const hasData = () => buffered > 0 || ws.rejected.length > 0 || ws.events.length > 0;

  function writeWhenFree() {
    writeQueued = false;
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (stopping || !hasData()) return;
    if (flights.size >= maxFlights) return schedule();
    // Each write costs the hub a few hundred µs of CPU whatever its size (the statement, its
    // round trip, the acknowledgements' release): at a few thousand messages/s from many devices,
    // writing the moment the writer is free made ~900 writes/s of 5 messages. When the last write
    // held several messages, more are on their way: wait up to gatherMs for them (or until enough
    // readings wait). A lone device's message (the last write held fewer than four) goes at once.
    if (
      options.gatherMs > 0 &&
      lastBatchMessages >= GATHER_MIN_MESSAGES &&
      buffered < gatherEnough &&
      !gathering
    ) {
      gathering = setTimeout(() => {
        gathering = undefined;
        if (stopping || !hasData()) return;
        // The wait is over: write what came (through schedule() only if the writer is busy again).
        if (flights.size < maxFlights) void flush();
        else schedule();
      }, options.gatherMs);
      gathering.unref?.();
      return;
    }
    void flush();
  }

  /**
   * Writes what is buffered. Resolves when that batch is written and its acknowledgements released
   * (with nothing buffered: when every batch begun so far is).
   */
  function flush(): Promise<void> {
    if (!hasData()) return Promise.all(flights).then(() => ackedInOrder);
    if (flights.size >= maxFlights) return Promise.race(flights).then(() => flush());
    const { committed, released } = writeOnce();
    // The writer is free again once the store has committed, while this batch's acknowledgements
    // are still being released (in slices, over several turns): the next batch is written meanwhile,
    // so the embedded store's one connection does not wait for the main thread (issue 13).
    const flight = committed.finally(() => {
      flights.delete(flight);
      if (hasData()) schedule();
    });
    flights.add(flight);
    return released;
  }

  /** Acknowledgements released in order: resolves once those of the last write begun have been. */
  let ackedInOrder: Promise<void> = Promise.resolve();

  /** Takes the buffered batch and writes it: `committed` once it is durable, `released` once acknowledged. */
  function writeOnce(): { committed: Promise<void>; released: Promise<void> } {
    const batch = ws;
    const batchAcks = acks;
    const batchLatest = latest;
    const count = buffered + batch.rejected.length;
    ws = emptyWriteSet();
    acks = { done: [], arrived: [] };
    latest = new Map();
    buffered = 0;
    lastBatchMessages = bufferedMessages;
    bufferedMessages = 0;
    retrying += count;
    batch.latest = [...batchLatest.values()];
    // Two writes may overlap and the second may commit first; acknowledgements still leave in
    // arrival order (PUBACKs in the order of the PUBLISHes, MQTT 3.1.1 [MQTT-4.6.0-2]), and an
    // acknowledgement means everything that arrived before it is in the store.
    const before = ackedInOrder;
    const t0 = performance.now();
    const committed = commit(batch).finally(() => {
      retrying -= count;
      m.flushes.observe((performance.now() - t0) / 1000);
    });
    // Never rejects: the next batch's acknowledgements wait for it.
    const released = (async () => {
      let ok = false;
      try {
        ok = await committed;
      } catch (err) {
        log.error({ err }, 'batch write failed unexpectedly');
      }
      await before;
      await release(batchAcks, ok);
      releaseHeld(false);
    })();
    ackedInOrder = released;
    return {
      committed: committed.then(
        () => undefined,
        () => undefined,
      ),
      released,
    };
  }

  /** Acknowledgements held while the buffer was full: while there is room again (or all, at stop). */
  function releaseHeld(all: boolean) {
    while (held.length && (all || hasRoom())) {
      try {
        held.shift()!();
      } catch (err) {
        // One connection's failure must not hold back the acknowledgements behind it.
        log.error({ err }, 'releasing an acknowledgement failed');
      }
    }
  }

  /**
   * Releases a committed batch's acknowledgements in arrival order, in slices of about
   * `options.sliceMs` of work with a turn of the event loop between them (issue 13). An acknowledgement
   * is not only a PUBACK: the broker then reads that client's next messages and ingests them, so a
   * batch of 7,500 released at once is one task of several hundred milliseconds during which no
   * HTTP request, database answer or timer is served. Sliced, the API waits a slice, not a batch.
   */
  async function release(batchAcks: Acks, ok: boolean): Promise<void> {
    const slice = options.sliceMs;
    const { done, arrived } = batchAcks;
    const n = done.length;
    let i = 0;
    while (i < n) {
      const t0 = performance.now();
      const now = clock.now();
      do {
        const d = done[i]!;
        const at = arrived[i]!;
        i++;
        try {
          if (!ok) d(new Error('store unavailable'));
          else {
            m.ackLatency.observe((now - at) / 1000);
            d();
          }
        } catch (err) {
          // One connection's failure must not hold back the acknowledgements behind it.
          log.error({ err }, 'releasing an acknowledgement failed');
        }
      } while (i < n && (slice === 0 || (i & 31) !== 0 || performance.now() - t0 < slice));
      if (i < n) await nextTurn();
    }
  }

  /**
   * Makes a batch durable: written, or — for rows the store refuses for good — recorded as
   * rejected. A failure retrying can cure (connection, restart, overload) is retried with backoff
   * until it succeeds, while new readings wait in the bounded buffer and held acknowledgements
   * push back on the devices; a refusal (bad data) splits the batch in halves until the refused
   * rows are found. Resolves false only when the hub stops with the store unreachable.
   */
  async function commit(batch: WriteSet): Promise<boolean> {
    const spool = deps.spool;
    // While older batches wait in the spool, newer ones queue behind them: replay keeps order.
    if (spool && (replaying || spool.frames() > 0) && (await toSpool([batch])) === 1) return true;
    return writeDirect(batch, true);
  }

  /** Appends parts (in write order) to the spool; how many of them (from the first) are durable there. */
  async function toSpool(parts: WriteSet[]): Promise<number> {
    const spool = deps.spool;
    if (!spool) return 0;
    let n = 0;
    for (const part of parts) {
      let ok = false;
      try {
        ok = await spool.append(part);
      } catch (err) {
        log.error({ err }, 'spool append failed; holding the batch in memory');
      }
      if (!ok) {
        if (!spoolFull)
          log.error({ bytes: spool.bytes() }, 'spool full: acknowledgements wait for the store');
        spoolFull = true;
        break;
      }
      spoolFull = false;
      n++;
      m.spooled.inc({}, readingsIn(part));
    }
    if (n > 0) void replay();
    return n;
  }

  const readingsIn = (w: WriteSet) => w.telemetry.ts.length + w.values.ts.length + w.events.length;
  let replaying: Promise<void> | undefined;
  let spoolFull = false;

  /** Replays the spool into the store, oldest batch first; one loop at a time. */
  function replay(): Promise<void> {
    const spool = deps.spool;
    if (!spool) return Promise.resolve();
    replaying ??= (async () => {
      try {
        for (;;) {
          if (stopping) return;
          const seg = await spool.takeOldest();
          if (!seg) return;
          // Consecutive spooled batches are written together, up to a batch size of readings: a
          // spool filled by small flushes replays in few transactions.
          for (let i = 0; i < seg.batches.length; ) {
            // At stop the rest stays in the spool (replayed, idempotently, at the next start).
            if (stopping) return;
            const group: WriteSet[] = [];
            let n = 0;
            while (i < seg.batches.length && (group.length === 0 || n < options.batchSize)) {
              const b = seg.batches[i++]!;
              group.push(b);
              n += readingsIn(b);
            }
            const b = group.length === 1 ? group[0]! : mergeWriteSets(group);
            if (!(await writeDirect(b, false))) return; // stopping with the store unreachable
            m.replayed.inc({}, n);
          }
          await seg.remove();
          log.info({ batches: seg.batches.length, left: spool.frames() }, 'spool: replayed a segment');
        }
      } catch (err) {
        log.error({ err }, 'spool replay failed; retrying on the next batch');
      }
    })().finally(() => {
      replaying = undefined;
      if (!stopping && spool.frames() > 0) setTimeout(() => void replay(), 1000).unref();
    });
    return replaying;
  }

  /** Writes a batch to the store itself: retries what retrying cures, splits what it cannot. */
  async function writeDirect(batch: WriteSet, mayspool: boolean): Promise<boolean> {
    // A stack of parts still to write; the first half on top, so rows keep their order. On the
    // embedded store (one connection, on this thread) one transaction holds at most
    // embeddedTransactionRows rows: the API's reads wait for one part, not for the whole batch.
    const todo: WriteSet[] = [batch];
    const cap = options.embeddedTransactionRows;
    const size = db.driver === 'pglite' ? writeSetSize(batch) : 0;
    if (size > cap) {
      todo.pop();
      for (let end = size; end > 0; end -= cap) todo.push(sliceWriteSet(batch, Math.max(0, end - cap), end));
    }
    for (let attempt = 0; todo.length > 0; ) {
      const part = todo[todo.length - 1]!;
      try {
        const written = await writer.write(part);
        todo.pop();
        for (const [table, n] of Object.entries(written)) m.rows.inc({ table }, n);
        if (failures > 0) log.info({ failures }, 'store writes recovered');
        failures = 0;
        // The store takes writes again: a full spool no longer holds anything back (it drains).
        spoolFull = false;
        failingSince = undefined;
        lastError = undefined;
        attempt = 0;
      } catch (err) {
        if (!isRetryable(err)) {
          todo.pop();
          const size = writeSetSize(part);
          if (size > 1) {
            m.splits.inc();
            const half = Math.ceil(size / 2);
            todo.push(sliceWriteSet(part, half, size), sliceWriteSet(part, 0, half));
          } else refused(part, err, todo);
          continue;
        }
        m.flushFailures.inc();
        failures++;
        failingSince ??= Date.now();
        lastError = describeStoreError(err);
        // The store is unreachable: what is left of the batch goes to the spool, and is acknowledged
        // once it is durable there.
        if (mayspool && deps.spool) {
          const n = await toSpool([...todo].reverse());
          if (n === todo.length) return true;
          todo.splice(todo.length - n, n); // those are durable in the spool now
        }
        if (failures === 1 || attempt % 20 === 0)
          log.error({ err, rows: writeSetSize(part), attempt }, 'batch write failed; retrying');
        else log.debug({ err: (err as Error).message, attempt }, 'batch write failed again');
        if (stopping && attempt >= 5) {
          log.error(
            { rows: todo.reduce((n, w) => n + writeSetSize(w), 0) },
            'giving up on a batch at stop: the store is unreachable',
          );
          return false;
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(attempt, 6))));
        attempt++;
      }
    }
    return true;
  }

  /** One row the store refuses for good: recorded in the rejected store with the store's reason. */
  function refused(row: WriteSet, err: unknown, todo: WriteSet[]) {
    const d = describeRow(row);
    const why = describeStoreError(err);
    if (d.table === 'rejected_messages') {
      // The record of a rejection cannot itself be stored: logged (throttled) and counted.
      m.unstorable.inc();
      const t = throttled('\u0000unstorable');
      if (t)
        log.error({ err: why, deviceId: d.deviceId, suppressed: t.suppressed }, 'rejected row unstorable');
      return;
    }
    if (d.table === 'telemetry_latest') {
      // The reading itself is judged on its own row; its latest value simply is not updated.
      log.warn({ err: why, deviceId: d.deviceId, key: d.key }, 'latest value refused by the store');
      return;
    }
    m.rejected.inc({ reason: 'store_refused' });
    m.rejectedMessages.inc({ reason: 'store_refused' });
    const t = throttled(`${d.deviceId}\u0000store_refused`);
    if (t)
      log.warn(
        { deviceId: d.deviceId, key: d.key, err: why, suppressed: t.suppressed },
        'reading refused by the store',
      );
    const rejected: RejectedRow = {
      receivedAt: clock.now(),
      deviceId: d.deviceId === null ? null : storableText(d.deviceId),
      clientId: null,
      topic: 'store',
      code: 'store_refused',
      reason: storableText(
        `the store refused ${d.table} ${d.key} at ${formatTs(d.ts)}: ${why}`.slice(0, 2000),
      ),
      payload: storableText(d.value.slice(0, options.rejectedPayloadBytes)),
    };
    const w = emptyWriteSet();
    w.rejected.push(rejected);
    todo.push(w);
  }

  /**
   * Taking messages in is budgeted per turn of the event loop (kernel/turns.ts): under full load a
   * message past the turn's budget waits, in order, for the next turn, and its acknowledgement —
   * so the broker's next read from that client — waits with it.
   */
  const intake = createTurnBudget({
    sliceMs: options.sliceMs,
    onError: (err) => log.error({ err }, 'deferred intake failed'),
  });
  // Bounded by the devices themselves: a waiting message holds its acknowledgement, so each
  // connection has at most its in-flight limit (Receive Maximum) waiting here.
  metrics
    .gauge(
      'gridhub_ingest_intake_waiting',
      'Messages taken from the broker, waiting for a turn of the event loop',
    )
    .collect(() => intake.waiting());

  function telemetry(msg: Inbound, done: Done): void {
    if (intake.mustWait()) intake.run(() => telemetryNow(msg, done));
    else telemetryNow(msg, done);
  }

  function telemetryNow(msg: Inbound, done: Done): void {
    const ack = once(done);
    try {
      countTelemetry();
      const tooBig = sizeProblem(msg.payload);
      if (tooBig) {
        reject(msg.device.id, msg.clientId, msg.topic, msg.payload, [tooBig]);
        settleRejected(ack, invalid([tooBig]));
        return;
      }
      const json = parseJson(msg.payload);
      if (!json.ok) {
        reject(msg.device.id, msg.clientId, msg.topic, msg.payload, [json.problem]);
        settleRejected(ack, invalid([json.problem]));
        return;
      }
      const { records, problems } = parseTelemetry(json.value);
      accept(msg.device, records, problems, msg, ack);
    } catch (err) {
      internalError('telemetry', msg, err, ack);
    }
  }

  /** `v1/gateway/telemetry`: {"NAME": [records…]}; a gateway speaks only for its own children. */
  function gatewayTelemetry(msg: Inbound, done: Done): Promise<void> {
    if (!intake.mustWait()) return gatewayTelemetryNow(msg, done);
    return new Promise<void>((resolve) =>
      intake.run(() => void gatewayTelemetryNow(msg, done).then(resolve)),
    );
  }

  async function gatewayTelemetryNow(msg: Inbound, done: Done) {
    const ack = once(done);
    try {
      await gatewaySteps(msg, ack);
    } catch (err) {
      internalError('gateway_telemetry', msg, err, ack);
    }
  }

  async function gatewaySteps(msg: Inbound, done: Done) {
    countGatewayTelemetry();
    const tooBig = sizeProblem(msg.payload);
    if (tooBig) {
      reject(msg.device.id, msg.clientId, msg.topic, msg.payload, [tooBig]);
      return settleRejected(done, invalid([tooBig]));
    }
    const json = parseJson(msg.payload);
    const parsed = json.ok ? parseGatewayTelemetry(json.value) : json;
    if (!parsed.ok) {
      reject(msg.device.id, msg.clientId, msg.topic, msg.payload, [parsed.problem]);
      return settleRejected(done, invalid([parsed.problem]));
    }
    // One acknowledgement for the whole message, once every child's part is settled.
    let pendingParts = parsed.value.size;
    if (pendingParts === 0) return done();
    let failed: Error | undefined;
    const partDone: Done = (err) => {
      failed ??= err;
      if (--pendingParts === 0) done(failed);
    };
    for (const [name, body] of parsed.value) {
      const child = await registry.devices.ensureChild(msg.device, name);
      if ('refused' in child) {
        reject(msg.device.id, msg.clientId, msg.topic, msg.payload, [
          { code: 'unknown_device', reason: child.refused },
        ]);
        partDone();
        continue;
      }
      const { records, problems } = parseTelemetry(body);
      // Each child's packet id space is the gateway's: a child's redelivery is keyed by the child.
      accept(
        child,
        records,
        problems.map((p) => ({ ...p, reason: `${name}: ${p.reason}` })),
        msg,
        partDone,
      );
    }
  }

  function sizeProblem(payload: Buffer): Problem | undefined {
    if (payload.length <= options.maxPayloadBytes) return undefined;
    return {
      code: 'too_large',
      reason: `payload of ${payload.length} bytes is over the limit of ${options.maxPayloadBytes}`,
    };
  }

  async function stop() {
    // Messages taken but waiting for a turn are ingested first: nothing taken is left behind.
    intake.runAll();
    stopping = true;
    if (timer) clearTimeout(timer);
    if (gathering) clearTimeout(gathering);
    gathering = undefined;
    timer = undefined;
    // Flush on stop: everything accepted is written (or spooled) before the store closes.
    while (flights.size > 0 || hasData()) await flush();
    await ackedInOrder;
    releaseHeld(true);
    // What the replay has not written yet stays in the spool for the next start.
    await replaying;
    await deps.spool?.close();
  }

  return {
    telemetry,
    gatewayTelemetry,
    reject,
    flush,
    stop,
    /** `degraded` once store writes have failed several times in a row, with the last error. */
    /** Starts replaying what a previous run left in the spool. */
    start: () => {
      if (deps.spool && deps.spool.frames() > 0) void replay();
    },
    spool: () =>
      deps.spool
        ? {
            state: spoolFull ? 'full' : replaying || deps.spool.frames() > 0 ? 'replaying' : 'idle',
            bytes: deps.spool.bytes(),
            batches: deps.spool.frames(),
          }
        : { state: 'off' as const },
    health: () =>
      spoolFull
        ? {
            status: 'degraded' as const,
            reason: 'write-ahead spool full: acknowledgements wait for the store',
          }
        : failures >= DEGRADED_AFTER_FAILURES
          ? {
              status: 'degraded' as const,
              reason: `store writes failing since ${new Date(failingSince ?? Date.now()).toISOString()} (${failures} attempts): ${lastError}`,
            }
          : { status: 'ok' as const },
    stats: () => ({
      /** Readings and rejected rows waiting for the next write. */
      buffered: buffered + ws.rejected.length,
      retrying,
      held: held.length,
      /** Messages taken but waiting for a turn of the event loop (GRIDHUB_INGEST_SLICE_MS). */
      intakeWaiting: intake.waiting(),
      spooled: deps.spool?.frames() ?? 0,
      readings: m.readings.total(),
      rejected: m.rejected.total(),
    }),
  };
}

export type Ingest = ReturnType<typeof createIngest>;
