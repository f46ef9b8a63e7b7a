/**
 * The load generators' publish loop over a set of open connections, with its counters and latency
 * histogram. Three paces:
 * - `closed`: as fast as acknowledged — each connection keeps `window` messages in flight and the
 *   next one leaves from the acknowledgement callback (the benchmark's ingest load, `simulate --load`
 *   without a rate);
 * - `rate`: at most `messagesPerSec` overall (token bucket), each connection still bounded by
 *   `window`; the connections take turns (`simulate --load --rate`);
 * - `schedule`: open loop — messages fall due at `messagesPerSec` whatever the latency, in turn over
 *   the connections; a connection with `window` in flight (or closed) skips its turn, counted (the
 *   benchmark's background load under the case-latency probes).
 *
 * The hot path is what the benchmark's bare-broker figures measure the hub against: per message one
 * payload, one publish with its callback closure and one clock read each way; no promise, no other
 * allocation. A message counts as acknowledged at its PUBACK (QoS 1) or once written (QoS 0).
 */
import { performance } from 'node:perf_hooks';
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { LatencyHistogram } from './latency.ts';
import { settleWithin, TokenBucket } from './pacing.ts';

export type LoadPace =
  | { kind: 'closed' }
  | { kind: 'rate'; messagesPerSec: number }
  | { kind: 'schedule'; messagesPerSec: number };

export interface PublisherOptions {
  /** Connections, attached by index once open. */
  sockets: number;
  /** Unacknowledged messages per connection. */
  window: number;
  qos: 0 | 1;
  topic: string;
  /** The next message of connection i. */
  payload: (i: number) => string;
  /** Readings in each message of connection i (asked once per connection). */
  readingsPerMessage: (i: number) => number;
  onError?: (message: string) => void;
}

/** Counted since start (or the last `mark()`). */
export interface PublisherCounts {
  sent: number;
  acked: number;
  readings: number;
  /** Publishes whose callback reported an error. */
  failed: number;
  /** In flight on a connection that closed under us: never acknowledged. */
  lost: number;
  /** `schedule` turns skipped (the connection's window was full or it was closed). */
  skipped: number;
}

export type Publisher = ReturnType<typeof createPublisher>;

export function createPublisher(o: PublisherOptions) {
  const n = o.sockets;
  const window = o.window;
  const topic = o.topic;
  const payload = o.payload;
  // One options object for every publish: mqtt.js copies it (client.publish spreads its defaults).
  const publishOpts: IClientPublishOptions = { qos: o.qos };
  const clients: (MqttClient | undefined)[] = new Array(n);
  const inflightOf = new Int32Array(n);
  const dead = new Uint8Array(n);
  const readingsOf = Int32Array.from({ length: n }, (_, i) => o.readingsPerMessage(i));
  const hist = new LatencyHistogram();
  const counts: PublisherCounts = { sent: 0, acked: 0, readings: 0, failed: 0, lost: 0, skipped: 0 };
  let inflight = 0;
  let publishing = false;
  let pace: LoadPace = { kind: 'closed' };
  let lastAckAt = 0;
  let drained: (() => void) | undefined;

  const send = (i: number, c: MqttClient) => {
    inflightOf[i]!++;
    inflight++;
    counts.sent++;
    const t0 = performance.now();
    c.publish(topic, payload(i), publishOpts, (err) => {
      if (dead[i]) return; // counted as lost when its connection closed
      inflightOf[i]!--;
      inflight--;
      if (err) {
        counts.failed++;
        o.onError?.(`publish: ${err.message}`);
      } else {
        const t = performance.now();
        counts.acked++;
        counts.readings += readingsOf[i]!;
        hist.record(t - t0);
        lastAckAt = t;
      }
      if (publishing) {
        if (pace.kind === 'closed') pumpOne(i);
        else if (pace.kind === 'rate') enqueue(i);
      } else if (inflight === 0) drained?.();
    });
  };

  // ---- closed loop ------------------------------------------------------------------------------
  const pumping = new Uint8Array(n);
  function pumpOne(i: number): void {
    // A QoS 0 callback can come synchronously from inside publish (written at once): the loop
    // below goes on by itself, no recursion.
    if (pumping[i]) return;
    const c = clients[i];
    if (!c) return;
    pumping[i] = 1;
    while (publishing && inflightOf[i]! < window && c.connected) send(i, c);
    pumping[i] = 0;
  }

  // ---- rate: the connections with room take turns for the bucket's tokens ----------------------
  let bucket: TokenBucket | undefined;
  const queued = new Uint8Array(n);
  const ready: number[] = [];
  let readyHead = 0;
  let pumpQueued = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  function enqueue(i: number): void {
    const c = clients[i];
    if (queued[i] || !publishing || !c?.connected || inflightOf[i]! >= window) return;
    queued[i] = 1;
    ready.push(i);
    if (!pumpQueued) {
      pumpQueued = true;
      setImmediate(pumpReady);
    }
  }

  function pumpReady(): void {
    pumpQueued = false;
    if (!publishing) return;
    let budget = 5000; // then yield to the acknowledgements
    while (readyHead < ready.length) {
      const i = ready[readyHead]!;
      const c = clients[i];
      if (!c?.connected || inflightOf[i]! >= window) {
        readyHead++;
        queued[i] = 0; // back when its acknowledgement comes
        continue;
      }
      if (budget-- <= 0) {
        pumpQueued = true;
        setImmediate(pumpReady);
        break;
      }
      if (bucket && !bucket.take(1)) {
        timer ??= setTimeout(() => {
          timer = undefined;
          pumpReady();
        }, bucket.waitMs(1));
        break;
      }
      readyHead++;
      queued[i] = 0;
      send(i, c);
      enqueue(i);
    }
    if (readyHead > 4096 && readyHead * 2 > ready.length) {
      ready.splice(0, readyHead);
      readyHead = 0;
    }
  }

  // ---- schedule: open loop, due messages in turn, a busy connection skips ------------------------
  let ticker: ReturnType<typeof setInterval> | undefined;
  function startSchedule(messagesPerSec: number): void {
    const t0 = performance.now();
    let due = 0;
    let next = 0;
    ticker = setInterval(() => {
      const want = Math.floor(((performance.now() - t0) / 1000) * messagesPerSec);
      for (; due < want; due++) {
        const i = next;
        next = (next + 1) % n;
        const c = clients[i];
        if (!c?.connected || inflightOf[i]! >= window) counts.skipped++;
        else send(i, c);
      }
    }, 5);
  }

  return {
    hist,
    counts,
    /** Hands connection i to the publisher (its 'close' is noted through `closed(i)`). */
    attach(i: number, client: MqttClient): void {
      clients[i] = client;
    },
    client: (i: number): MqttClient | undefined => clients[i],
    /**
     * Connection i closed under us: what it had in flight will never be acknowledged (no
     * reconnection), and its late callbacks are ignored.
     */
    closed(i: number): void {
      if (dead[i]) return;
      dead[i] = 1;
      counts.lost += inflightOf[i]!;
      inflight -= inflightOf[i]!;
      inflightOf[i] = 0;
      if (!publishing && inflight === 0) drained?.();
    },
    get inflight(): number {
      return inflight;
    },
    get lastAckAt(): number {
      return lastAckAt;
    },
    connected(): number {
      let up = 0;
      for (let i = 0; i < n; i++) if (clients[i]?.connected) up++;
      return up;
    },
    start(p: LoadPace = { kind: 'closed' }): void {
      pace = p;
      publishing = true;
      if (p.kind === 'schedule') startSchedule(p.messagesPerSec);
      else if (p.kind === 'rate') {
        bucket = new TokenBucket(p.messagesPerSec, { burst: Math.max(1, p.messagesPerSec / 20) });
        for (let i = 0; i < n; i++) enqueue(i);
      } else for (let i = 0; i < n; i++) pumpOne(i);
    },
    /** Starts a new measurement window: the counters and the histogram from zero. */
    mark(): void {
      counts.sent = counts.acked = counts.readings = counts.failed = counts.lost = counts.skipped = 0;
      hist.reset();
    },
    /** Stops publishing and waits (at most `timeoutMs`) for what is in flight. */
    async stop(timeoutMs: number): Promise<{ drained: boolean; leftInflight: number }> {
      publishing = false;
      if (timer) clearTimeout(timer);
      if (ticker) clearInterval(ticker);
      timer = ticker = undefined;
      if (inflight > 0) {
        await settleWithin(timeoutMs, (done) => {
          drained = done;
        });
        drained = undefined;
      }
      return { drained: inflight === 0, leftInflight: inflight };
    },
    /** Ends every connection within 5 s: forcibly, or with a DISCONNECT where `graceful` and still open. */
    async close(graceful = false): Promise<void> {
      publishing = false;
      const all = clients.slice();
      clients.fill(undefined);
      await Promise.all(
        all.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (!c) return resolve();
              const t = setTimeout(resolve, 5000);
              c.end(!(graceful && c.connected), () => {
                clearTimeout(t);
                resolve();
              });
            }),
        ),
      );
    },
  };
}
