/**
 * The benchmarks' load generator: one connection per device token (already provisioned), each
 * publishing QoS 1 air-quality records (load-payload.ts) at a pace of load-publisher.ts — by default
 * as fast as the broker acknowledges, `inflight` messages in flight per connection, the next one
 * leaving from the PUBACK callback. With `inflight: 0` it only holds idle connections. Its snapshot is
 * plain data (counts and histogram buckets), so it crosses a process boundary and merges with others.
 */
import { performance } from 'node:perf_hooks';
import { airQualityValues, LOAD_DEFAULT_KEYS } from './load-payload.ts';
import { createPublisher, type LoadPace, type Publisher } from './load-publisher.ts';
import { openMqttSocket } from './mqtt-socket.ts';
import { eachLimit } from './pacing.ts';
import { TELEMETRY_TOPIC } from './topics.ts';

export interface LoadGeneratorOptions {
  url: string;
  tokens: string[];
  /** Client ids are `${clientIdPrefix}${index}`. */
  clientIdPrefix: string;
  /** Unacknowledged QoS 1 messages per connection. */
  inflight: number;
  keepalive: number;
  /** Connections being opened at once. */
  connectConcurrency: number;
  /** TCP_NODELAY on the client sockets (so client-side Nagle does not shape the figures). */
  noDelay: boolean;
  topic?: string;
}

export interface LoadGeneratorSnapshot {
  sent: number;
  acked: number;
  /** Connection errors, failed publishes and messages lost with a closed connection. */
  errors: number;
  /** Open-loop turns skipped (`schedule` pace). */
  skipped: number;
  elapsedMs: number;
  inflight: number;
  connected: number;
  /** LatencyHistogram buckets and max (ms) of publish → PUBACK. */
  hist: number[];
  max: number;
}

export interface ConnectResult {
  connected: number;
  failed: number;
  ms: number;
  firstError?: string;
}

export class LoadGenerator {
  private readonly pub: Publisher;
  private connErrors = 0;
  private markAt = performance.now();

  constructor(private readonly opts: LoadGeneratorOptions) {
    this.pub = createPublisher({
      sockets: opts.tokens.length,
      window: opts.inflight,
      qos: 1,
      topic: opts.topic ?? TELEMETRY_TOPIC,
      payload: airQualityValues(),
      readingsPerMessage: () => LOAD_DEFAULT_KEYS,
    });
  }

  /** Opens every connection; onProgress is called every `every` connections. */
  async connect(onProgress?: (done: number, failed: number) => void, every = 1000): Promise<ConnectResult> {
    const t0 = performance.now();
    let done = 0;
    let failed = 0;
    let firstError: string | undefined;
    const o = this.opts;
    await eachLimit([...o.tokens.keys()], o.connectConcurrency, async (i) => {
      try {
        const c = await openMqttSocket(o.url, {
          username: o.tokens[i]!,
          clientId: `${o.clientIdPrefix}${i}`,
          keepalive: o.keepalive,
          connectTimeoutMs: 60_000,
          noDelay: o.noDelay,
          onError: () => this.connErrors++,
        });
        c.once('close', () => this.pub.closed(i));
        this.pub.attach(i, c);
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
      }
      if (++done % every === 0) onProgress?.(done, failed);
    });
    return { connected: o.tokens.length - failed, failed, ms: performance.now() - t0, firstError };
  }

  /** Starts publishing (default: closed loop) and a measurement window. */
  start(pace?: LoadPace): void {
    this.mark();
    this.pub.start(pace);
  }

  /** Starts a new measurement window. */
  mark(): void {
    this.connErrors = 0;
    this.pub.mark();
    this.markAt = performance.now();
  }

  snapshot(): LoadGeneratorSnapshot {
    const c = this.pub.counts;
    return {
      sent: c.sent,
      acked: c.acked,
      errors: this.connErrors + c.failed + c.lost,
      skipped: c.skipped,
      elapsedMs: performance.now() - this.markAt,
      inflight: this.pub.inflight,
      connected: this.pub.connected(),
      hist: Array.from(this.pub.hist.counts),
      max: this.pub.hist.max,
    };
  }

  /** Stops publishing and waits (bounded) for the messages in flight to be acknowledged. */
  stopPublishing(timeoutMs = 15_000): Promise<{ drained: boolean; leftInflight: number }> {
    return this.pub.stop(timeoutMs);
  }

  async close(): Promise<void> {
    await this.pub.close();
  }
}
