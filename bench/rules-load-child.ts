// The open-loop background load of figure 4b, run as a child process
// (`startChild('./rules-load-child.ts', { name: 'rules-load' })`): QoS 1 air-quality messages at a
// fixed rate, spread over the connections, whatever the latency.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { airQualityPayload } from './load.ts';
import { serve } from './proc.ts';

export async function inParallel<T>(
  items: T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(items.length, concurrency) }, worker));
}

export function connectProbe(url: string, token: string, clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, {
      username: token,
      clientId,
      clean: true,
      protocolVersion: 4,
      keepalive: 60,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
    });
    c.once('connect', () => {
      (c.stream as Socket).setNoDelay?.(true);
      resolve(c);
    });
    c.once('error', reject);
  });
}

export interface PacedSnapshot {
  sent: number;
  acked: number;
  errors: number;
  skipped: number;
}

/** Messages a connection may have unacknowledged before the pacer skips it. */
const PACED_MAX_INFLIGHT = 50;

function pacedLoadChild() {
  let clients: MqttClient[] = [];
  let inflight = new Int32Array(0);
  const counts: PacedSnapshot = { sent: 0, acked: 0, errors: 0, skipped: 0 };
  let timer: NodeJS.Timeout | undefined;
  serve(
    {
      async connect(args: { url: string; tokens: string[]; connectConcurrency: number }) {
        clients = new Array(args.tokens.length);
        inflight = new Int32Array(args.tokens.length);
        await inParallel([...args.tokens.keys()], args.connectConcurrency, async (i) => {
          clients[i] = await connectProbe(args.url, args.tokens[i]!, `bench-rules-load-${i}`);
        });
        return { connected: clients.length };
      },
      start(args: { messagesPerSec: number }) {
        const t0 = performance.now();
        let due = 0;
        let next = 0;
        timer = setInterval(() => {
          const want = Math.floor(((performance.now() - t0) / 1000) * args.messagesPerSec);
          for (; due < want; due++) {
            const i = next;
            next = (next + 1) % clients.length;
            const c = clients[i]!;
            if (inflight[i]! >= PACED_MAX_INFLIGHT || !c.connected) {
              counts.skipped++;
              continue;
            }
            inflight[i]!++;
            counts.sent++;
            c.publish('v1/devices/me/telemetry', airQualityPayload(), { qos: 1 }, (err) => {
              inflight[i]!--;
              if (err) counts.errors++;
              else counts.acked++;
            });
          }
        }, 5);
      },
      snapshot: (): PacedSnapshot => ({ ...counts }),
    },
    async () => {
      if (timer) clearInterval(timer);
      await Promise.all(clients.map((c) => new Promise<void>((r) => c.end(true, () => r()))));
    },
  );
}

if (process.env.BENCH_CHILD === 'rules-load') pacedLoadChild();
