import { performance } from 'node:perf_hooks';
import type { Clock } from '../hub/clock.ts';
import type { Config } from '../hub/config.ts';
import type { Logger } from '../hub/logger.ts';
import type { Metrics } from '../hub/metrics.ts';
import type { Device, Registry } from '../registry/index.ts';
import { type Db, emptyWriteSet, type LatestRow, type WriteSet, writeBatch } from '../store/index.ts';
import { type Problem, parseGatewayTelemetry, parseJson, parseTelemetry, type RawRecord } from './parse.ts';
import { type Reading, validateRecord } from './validate.ts';

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
}

/**
 * Called when the message may be acknowledged (and its socket read again). `verdict.invalid` says
 * the message as a whole carried nothing storable, and why (MQTT 5 answers it with PUBACK 0x99).
 */
export type Done = (err?: Error, verdict?: { invalid: string }) => void;
const invalid = (problems: Problem[]) => ({
  invalid: problems
    .map((p) => p.reason)
    .join('; ')
    .slice(0, 500),
});

export type IngestOptions = Config['ingest'];

/**
 * The ingest pipeline: parse → validate (per profile) → enrich (device, grid) → buffer → flush.
 *
 * Backpressure: with ackMode `durable` a QoS 1/2 message is acknowledged only once its readings
 * are committed; QoS 0 (and `received`) is acknowledged when buffered, unless the buffer is full —
 * then the acknowledgement waits for room. The broker reads no more from a client until its
 * messages are acknowledged, so a slow or absent database pushes back on the devices instead of
 * growing memory without bound.
 */
export function createIngest(deps: {
  db: Db;
  registry: Registry;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  options: IngestOptions;
  sink?: ReadingSink;
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
  metrics
    .gauge('gridhub_write_queue_depth', 'Readings buffered, not yet committed')
    .collect(() => buffered + retrying);

  let ws: WriteSet = emptyWriteSet();
  let acks: { done: Done; arrived: number }[] = [];
  let latest = new Map<string, LatestRow>();
  let buffered = 0;
  let retrying = 0;
  const held: Done[] = [];
  let timer: NodeJS.Timeout | undefined;
  /** Batches being written. PostgreSQL takes two at once, so the hub prepares one while the
   * server commits the other; the embedded store is single-threaded and takes one. */
  const flights = new Set<Promise<void>>();
  const maxFlights = db.driver === 'pg' ? 2 : 1;
  let stopping = false;
  let failures = 0;

  // A noisy device must not flood the log: one line per device and reason per window, with the
  // number of repeats suppressed since the last line.
  const logWindowMs = 10_000;
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  function logRejection(deviceId: string | null, topic: string, problems: Problem[]) {
    const k = `${deviceId}\u0000${problems[0]?.code}`;
    const now = Date.now();
    const prev = lastLogged.get(k);
    if (prev && now - prev.at < logWindowMs) {
      prev.suppressed++;
      return;
    }
    if (lastLogged.size > 10_000) lastLogged.clear();
    lastLogged.set(k, { at: now, suppressed: 0 });
    log.warn(
      { deviceId, topic, reasons: problems.map((p) => p.reason), suppressed: prev?.suppressed ?? 0 },
      'readings rejected',
    );
  }

  function reject(
    deviceId: string | null,
    clientId: string | null,
    topic: string,
    payload: Buffer,
    problems: Problem[],
  ) {
    for (const p of problems) m.rejected.inc({ reason: p.code });
    m.rejectedMessages.inc({ reason: problems[0]!.code });
    const reason = problems.map((p) => p.reason).join('; ');
    ws.rejected.push({
      receivedAt: clock.now(),
      deviceId,
      clientId,
      topic,
      code: problems[0]!.code,
      reason: reason.length > 2000 ? `${reason.slice(0, 2000)}…` : reason,
      payload: payload.subarray(0, options.rejectedPayloadBytes).toString('utf8'),
    });
    logRejection(deviceId, topic, problems);
    schedule();
  }

  function buffer(device: Device, readings: Reading[]) {
    const t = ws.telemetry;
    for (const r of readings) {
      const lk = `${device.id}\u0000${r.key}`;
      const prev = latest.get(lk);
      if (r.kind === 'number') {
        t.ts.push(r.ts);
        t.deviceId.push(device.id);
        t.key.push(r.key);
        t.value.push(r.value);
        if (!prev || prev.ts <= r.ts)
          latest.set(lk, { deviceId: device.id, key: r.key, ts: r.ts, value: r.value, json: null });
      } else if (r.kind === 'json') {
        const json = JSON.stringify(r.value);
        ws.values.ts.push(r.ts);
        ws.values.deviceId.push(device.id);
        ws.values.key.push(r.key);
        ws.values.json.push(json);
        if (!prev || prev.ts <= r.ts)
          latest.set(lk, { deviceId: device.id, key: r.key, ts: r.ts, value: null, json });
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
    countReadings(readings.length);
  }

  // Readings without a timestamp take their arrival time. Two messages of one device arriving in
  // the same millisecond must not collide on (device, key, ts) — the idempotency key — so arrival
  // times are made strictly increasing per device.
  const lastArrival = new Map<string, number>();
  function arrivalTime(deviceId: string): number {
    const now = clock.now();
    const prev = lastArrival.get(deviceId);
    const t = prev !== undefined && prev >= now ? prev + 1 : now;
    lastArrival.set(deviceId, t);
    return t;
  }

  /** Validates a device's records, buffers the good readings, records the bad parts. */
  function accept(
    device: Device,
    records: RawRecord[],
    parseProblems: Problem[],
    msg: Omit<Inbound, 'device'>,
    done: Done,
  ) {
    const arrival = arrivalTime(device.id);
    const readings: Reading[] = [];
    const problems = [...parseProblems];
    for (const rec of records) {
      const v = validateRecord(device.profile, rec, arrival);
      readings.push(...v.readings);
      problems.push(...v.problems);
    }
    if (problems.length) reject(device.id, msg.clientId, msg.topic, msg.payload, problems);
    registry.presence.seen(device.id, arrival);
    if (readings.length === 0) return done(undefined, problems.length ? invalid(problems) : undefined);
    buffer(device, readings);
    try {
      deps.sink?.({ device, readings });
    } catch (err) {
      // The rules isolate their own failures; this is the last fence so ingest never stops.
      log.error({ err, deviceId: device.id }, 'reading sink failed');
    }
    settle(done, msg.qos, arrival);
  }

  function settle(done: Done, qos: 0 | 1 | 2, arrived: number) {
    if (options.ackMode === 'durable' && qos > 0) acks.push({ done, arrived });
    else if (buffered + retrying < options.maxBuffered) done();
    else {
      m.held.inc();
      held.push(done);
    }
    schedule();
  }

  function schedule() {
    if (stopping) return;
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

  /** Writes what is buffered. Resolves when that batch (or, with nothing buffered, every batch in flight) is written. */
  function flush(): Promise<void> {
    if (!hasData()) return Promise.all(flights).then(() => undefined);
    if (flights.size >= maxFlights) return Promise.race(flights).then(() => flush());
    const flight = writeOnce().finally(() => {
      flights.delete(flight);
      if (hasData()) schedule();
    });
    flights.add(flight);
    return flight;
  }

  async function writeOnce() {
    const batch = ws;
    const batchAcks = acks;
    const batchLatest = latest;
    const count = buffered;
    ws = emptyWriteSet();
    acks = [];
    latest = new Map();
    buffered = 0;
    retrying += count;
    batch.latest = [...batchLatest.values()];
    const t0 = performance.now();
    // An outage must lose nothing: the batch is retried with backoff until it is written, while
    // new readings wait in the (bounded) buffer and the held acknowledgements push back.
    for (let attempt = 0; ; attempt++) {
      try {
        const written = await writeBatch(db, batch);
        for (const [table, n] of Object.entries(written)) m.rows.inc({ table }, n);
        break;
      } catch (err) {
        m.flushFailures.inc();
        if (failures++ === 0 || attempt % 20 === 0)
          log.error({ err, readings: count, attempt }, 'batch write failed; retrying');
        else log.debug({ err: (err as Error).message, attempt }, 'batch write failed again');
        if (stopping && attempt >= 5) {
          log.error({ readings: count }, 'giving up on a batch at stop: the store is unreachable');
          for (const a of batchAcks) a.done(new Error('store unavailable'));
          retrying -= count;
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(attempt, 6))));
      }
    }
    if (failures > 0) log.info({ failures }, 'store writes recovered');
    failures = 0;
    m.flushes.observe((performance.now() - t0) / 1000);
    retrying -= count;
    const now = clock.now();
    for (const a of batchAcks) {
      m.ackLatency.observe((now - a.arrived) / 1000);
      a.done();
    }
    while (held.length && buffered + retrying < options.maxBuffered) held.shift()!();
  }

  function telemetry(msg: Inbound, done: Done): void {
    countTelemetry();
    const tooBig = sizeProblem(msg.payload);
    if (tooBig) {
      reject(msg.device.id, msg.clientId, msg.topic, msg.payload, [tooBig]);
      done(undefined, invalid([tooBig]));
      return;
    }
    const json = parseJson(msg.payload);
    if (!json.ok) {
      reject(msg.device.id, msg.clientId, msg.topic, msg.payload, [json.problem]);
      done(undefined, invalid([json.problem]));
      return;
    }
    const { records, problems } = parseTelemetry(json.value);
    accept(msg.device, records, problems, msg, done);
  }

  /** `v1/gateway/telemetry`: {"NAME": [records…]}; a gateway speaks only for its own children. */
  async function gatewayTelemetry(msg: Inbound, done: Done) {
    countGatewayTelemetry();
    const tooBig = sizeProblem(msg.payload);
    if (tooBig) {
      reject(msg.device.id, msg.clientId, msg.topic, msg.payload, [tooBig]);
      return done();
    }
    const json = parseJson(msg.payload);
    const parsed = json.ok ? parseGatewayTelemetry(json.value) : json;
    if (!parsed.ok) {
      reject(msg.device.id, msg.clientId, msg.topic, msg.payload, [parsed.problem]);
      return done();
    }
    // One acknowledgement for the whole message, once every child's part is settled.
    let pending = parsed.value.size;
    if (pending === 0) return done();
    let failed: Error | undefined;
    const partDone: Done = (err) => {
      failed ??= err;
      if (--pending === 0) done(failed);
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
    stopping = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    // Flush on stop: everything accepted is written before the store closes.
    while (flights.size > 0 || hasData()) await flush();
    for (const h of held.splice(0)) h();
  }

  return {
    telemetry,
    gatewayTelemetry,
    reject,
    flush,
    stop,
    stats: () => ({
      buffered,
      retrying,
      held: held.length,
      readings: m.readings.total(),
      rejected: m.rejected.total(),
    }),
  };
}
export type Ingest = ReturnType<typeof createIngest>;
