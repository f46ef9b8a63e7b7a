/**
 * How long the event loop was held: the hub runs the broker, ingest, rules and the API on one
 * thread, so a long synchronous task delays every device and every request at once. Exported as
 * gauges over the last completed window (p50, p99, max), from Node's own sampler
 * (perf_hooks.monitorEventLoopDelay), so an operator sees a stall before users report it.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Metrics } from './metrics.ts';

export interface LoopDelayWatch {
  /** The last completed window's figures, in milliseconds. */
  last(): { p50: number; p99: number; max: number };
  stop(): void;
}

export function watchEventLoop(metrics: Metrics, opts: { windowMs?: number } = {}): LoopDelayWatch {
  const windowMs = opts.windowMs ?? 10_000;
  // 10 ms is the sampler's default; finer sampling costs a timer wake-up per period.
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  let last = { p50: 0, p99: 0, max: 0 };
  const roll = () => {
    // The sampler reports in nanoseconds; an idle window has no samples (NaN/0).
    const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0);
    last = { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
    h.reset();
  };
  const timer = setInterval(roll, windowMs);
  timer.unref?.();
  const g = metrics.gauge(
    'gridhub_event_loop_delay_seconds',
    `How late the event loop ran its timers, over the last ${windowMs / 1000} s window (quantile 1 = the longest stall)`,
  );
  g.collect(() => last.p50 / 1000, { quantile: '0.5' });
  g.collect(() => last.p99 / 1000, { quantile: '0.99' });
  g.collect(() => last.max / 1000, { quantile: '1' });
  return {
    last: () => last,
    stop() {
      clearInterval(timer);
      h.disable();
    },
  };
}
