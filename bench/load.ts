// MQTT load generator: one connection per device (its access token as the username), each publishing
// QoS 1 JSON telemetry as fast as the broker acknowledges, with a bounded number of messages in flight
// per connection (the next message leaves from the PUBACK callback). Also used with publishing off to
// hold idle connections. Reusable in-process or through ./load-child.ts.

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { LatencyHistogram } from './stats.ts';

export interface LoadOptions {
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

export interface LoadSnapshot {
  acked: number;
  errors: number;
  elapsedMs: number;
  inflight: number;
  connected: number;
  hist: number[];
}

/** `{"pm10":…,"pm25":…,"windSpeed":…}`: three readings of the air-quality profile per message. */
export function airQualityPayload(): string {
  const pm10 = (20 + Math.random() * 180).toFixed(1);
  const pm25 = (5 + Math.random() * 95).toFixed(1);
  const wind = (Math.random() * 15).toFixed(2);
  return `{"pm10":${pm10},"pm25":${pm25},"windSpeed":${wind}}`;
}
export const READINGS_PER_MESSAGE = 3;

export class LoadGenerator {
  private clients: (MqttClient | undefined)[] = [];
  private inflightOf: Int32Array;
  private running = false;
  private totalInflight = 0;
  private drained: (() => void) | undefined;
  private acked = 0;
  private errors = 0;
  private markAt = performance.now();
  private readonly hist = new LatencyHistogram();
  private readonly topic: string;

  constructor(private readonly opts: LoadOptions) {
    this.inflightOf = new Int32Array(opts.tokens.length);
    this.topic = opts.topic ?? 'v1/devices/me/telemetry';
  }

  private connectOne(i: number): Promise<MqttClient> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const c = mqtt.connect(this.opts.url, {
        username: this.opts.tokens[i]!,
        clientId: `${this.opts.clientIdPrefix}${i}`,
        clean: true,
        protocolVersion: 4,
        keepalive: this.opts.keepalive,
        reconnectPeriod: 0,
        connectTimeout: 60_000,
      });
      c.once('connect', () => {
        settled = true;
        if (this.opts.noDelay) (c.stream as Socket).setNoDelay?.(true);
        resolve(c);
      });
      c.on('error', (err) => {
        if (!settled) {
          settled = true;
          c.end(true);
          reject(err);
        } else this.errors++;
      });
      c.once('close', () => {
        if (!settled) {
          settled = true;
          reject(new Error('connection closed before CONNACK'));
        }
      });
    });
  }

  /** Opens every connection; onProgress is called every `every` connections. */
  async connect(
    onProgress?: (done: number, failed: number) => void,
    every = 1000,
  ): Promise<{ connected: number; failed: number; ms: number; firstError?: string }> {
    const t0 = performance.now();
    let next = 0;
    let done = 0;
    let failed = 0;
    let firstError: string | undefined;
    const n = this.opts.tokens.length;
    this.clients = new Array(n);
    const worker = async () => {
      while (next < n) {
        const i = next++;
        try {
          this.clients[i] = await this.connectOne(i);
        } catch (err) {
          failed++;
          firstError ??= (err as Error).message;
        }
        if (++done % every === 0) onProgress?.(done, failed);
      }
    };
    await Promise.all(Array.from({ length: Math.min(n, this.opts.connectConcurrency) }, worker));
    return { connected: n - failed, failed, ms: performance.now() - t0, firstError };
  }

  private pump(i: number): void {
    const c = this.clients[i];
    if (!c) return;
    while (this.running && this.inflightOf[i]! < this.opts.inflight && c.connected) {
      this.inflightOf[i]!++;
      this.totalInflight++;
      const t0 = performance.now();
      c.publish(this.topic, airQualityPayload(), { qos: 1 }, (err) => {
        this.inflightOf[i]!--;
        this.totalInflight--;
        if (err) {
          this.errors++;
          if (!c.connected) this.clients[i] = undefined;
        } else {
          this.acked++;
          this.hist.record(performance.now() - t0);
        }
        if (this.running) this.pump(i);
        else if (this.totalInflight === 0) this.drained?.();
      });
    }
  }

  start(): void {
    this.running = true;
    this.mark();
    for (let i = 0; i < this.clients.length; i++) this.pump(i);
  }

  /** Starts a new measurement window. */
  mark(): void {
    this.acked = 0;
    this.errors = 0;
    this.hist.reset();
    this.markAt = performance.now();
  }

  snapshot(): LoadSnapshot {
    return {
      acked: this.acked,
      errors: this.errors,
      elapsedMs: performance.now() - this.markAt,
      inflight: this.totalInflight,
      connected: this.clients.reduce((n, c) => n + (c?.connected ? 1 : 0), 0),
      hist: Array.from(this.hist.counts),
    };
  }

  /** Stops publishing and waits (bounded) for the messages in flight to be acknowledged. */
  async stopPublishing(timeoutMs = 15_000): Promise<{ drained: boolean; leftInflight: number }> {
    this.running = false;
    if (this.totalInflight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    this.drained = undefined;
    return { drained: this.totalInflight === 0, leftInflight: this.totalInflight };
  }

  async close(): Promise<void> {
    this.running = false;
    const all = this.clients.filter((c): c is MqttClient => c !== undefined);
    this.clients = [];
    await Promise.all(
      all.map(
        (c) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 5000);
            c.end(true, () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
  }
}
