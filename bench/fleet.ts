// A set of load-generator child processes (./load-child.ts) driven as one: the devices are split
// between them, their counters and latency histograms are merged.

import {
  type ConnectResult,
  LatencyHistogram,
  type LoadGeneratorOptions,
  type LoadGeneratorSnapshot,
  type LoadPace,
} from '../simulators/index.ts';
import { log } from './env.ts';
import { type Child, startChild } from './proc.ts';

export interface FleetOptions extends Omit<LoadGeneratorOptions, 'tokens' | 'clientIdPrefix'> {
  tokens: string[];
  procs: number;
  idPrefix: string;
  cpu?: number;
  label: string;
}

export interface FleetSnapshot {
  acked: number;
  errors: number;
  inflight: number;
  connected: number;
  hist: LatencyHistogram;
}

export class LoadFleet {
  private constructor(
    readonly children: Child[],
    private readonly slices: string[][],
    private readonly opts: FleetOptions,
  ) {}

  static start(opts: FleetOptions): LoadFleet {
    const procs = Math.max(1, Math.min(opts.procs, opts.tokens.length));
    const per = Math.ceil(opts.tokens.length / procs);
    const slices: string[][] = [];
    for (let p = 0; p < procs; p++) slices.push(opts.tokens.slice(p * per, (p + 1) * per));
    const children = slices.map((slice, p) =>
      startChild('./load-child.ts', {
        name: `${opts.label}-${p}`,
        cpu: opts.cpu,
        nofile: slice.length + 1024,
      }),
    );
    return new LoadFleet(children, slices, opts);
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid);
  }

  async connect(): Promise<ConnectResult> {
    const total = this.opts.tokens.length;
    const progress = new Array<number>(this.children.length).fill(0);
    const every = Math.max(500, Math.floor(total / this.children.length / 5));
    let lastLogged = 0;
    for (const [p, c] of this.children.entries()) {
      c.onNotice((n) => {
        if (n.event !== 'connect-progress') return;
        progress[p] = (n.data as { done: number }).done;
        const sum = progress.reduce((a, b) => a + b, 0);
        if (sum - lastLogged >= total / 5) {
          lastLogged = sum;
          log(`  ${this.opts.label}: ${sum}/${total} connections open`);
        }
      });
    }
    const perChild = Math.max(1, Math.ceil(this.opts.connectConcurrency / this.children.length));
    const t0 = performance.now();
    const results = await Promise.all(
      this.children.map((c, p) =>
        c.call<ConnectResult>(
          'connect',
          {
            ...this.opts,
            tokens: this.slices[p]!,
            clientIdPrefix: `${this.opts.idPrefix}${p}-`,
            connectConcurrency: perChild,
            progressEvery: every,
          } satisfies LoadGeneratorOptions & { progressEvery: number },
          300_000,
        ),
      ),
    );
    return {
      connected: results.reduce((n, r) => n + r.connected, 0),
      failed: results.reduce((n, r) => n + r.failed, 0),
      ms: performance.now() - t0,
      firstError: results.find((r) => r.firstError)?.firstError,
    };
  }

  /** Closed loop, or a pace split evenly between the load processes. */
  async start(pace?: LoadPace): Promise<void> {
    const n = this.children.length;
    const each: LoadPace | undefined =
      pace && pace.kind !== 'closed' ? { ...pace, messagesPerSec: pace.messagesPerSec / n } : pace;
    await Promise.all(this.children.map((c) => c.call('start', each)));
  }

  async mark(): Promise<void> {
    await Promise.all(this.children.map((c) => c.call('mark')));
  }

  async snapshot(): Promise<FleetSnapshot> {
    const snaps = await Promise.all(this.children.map((c) => c.call<LoadGeneratorSnapshot>('snapshot')));
    const hist = new LatencyHistogram();
    for (const s of snaps) hist.merge(s.hist, s.max);
    return {
      acked: snaps.reduce((n, s) => n + s.acked, 0),
      errors: snaps.reduce((n, s) => n + s.errors, 0),
      inflight: snaps.reduce((n, s) => n + s.inflight, 0),
      connected: snaps.reduce((n, s) => n + s.connected, 0),
      hist,
    };
  }

  async stopPublishing(timeoutMs = 15_000): Promise<{ drained: boolean; leftInflight: number }> {
    const r = await Promise.all(
      this.children.map((c) =>
        c.call<{ drained: boolean; leftInflight: number }>(
          'stopPublishing',
          { timeoutMs },
          timeoutMs + 10_000,
        ),
      ),
    );
    return { drained: r.every((x) => x.drained), leftInflight: r.reduce((n, x) => n + x.leftInflight, 0) };
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop(60_000)));
  }
}
