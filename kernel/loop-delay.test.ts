import { describe, expect, it } from 'vitest';
import { watchEventLoop } from './loop-delay.ts';
import { Metrics } from './metrics.ts';

describe('event loop watch', () => {
  it('reports a stall of the loop as its window max, in /metrics seconds', async () => {
    const metrics = new Metrics();
    const w = watchEventLoop(metrics, { windowMs: 1000 });
    try {
      await new Promise((r) => setTimeout(r, 50));
      const end = performance.now() + 120;
      while (performance.now() < end); // hold the loop for 120 ms
      // The stall ends about 170 ms into the 1 s window; at about 1.17 s that window has completed and
      // the next (ending at 2 s) has not.
      await new Promise((r) => setTimeout(r, 1000));
      // The sampler sees the stall as at least ~100 ms (generous: timer granularity, a loaded box).
      const last = w.last();
      expect(last.max).toBeGreaterThanOrEqual(80);
      const text = metrics.render();
      const m = /gridhub_event_loop_delay_seconds\{quantile="1"\} ([0-9.e-]+)/.exec(text);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBeCloseTo(last.max / 1000, 6);
      expect(text).toContain('gridhub_event_loop_delay_seconds{quantile="0.99"}');
    } finally {
      w.stop();
    }
  });
});
