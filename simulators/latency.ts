/**
 * Latency figures for the load generators (`gridhub simulate --load`, the benchmarks): a log-bucket
 * histogram, cheap to record into on every acknowledgement, and mergeable, so several load-generator
 * processes can send their counts to one place (2 % relative resolution, 10 µs .. ~100 s).
 */

const BASE = 1.02;
const MIN_MS = 0.01;
const BUCKETS = 1000;
const LOG_BASE = Math.log(BASE);

export class LatencyHistogram {
  readonly counts = new Float64Array(BUCKETS);
  n = 0;
  /** The largest latency recorded (ms), exact: the percentiles never report more. */
  max = 0;

  record(ms: number): void {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_BASE));
    this.counts[i]!++;
    this.n++;
    if (ms > this.max) this.max = ms;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.max = 0;
  }

  /** Adds another histogram's `counts` (and its `max`), e.g. from a load-generator child's snapshot. */
  merge(counts: ArrayLike<number>, max: number): void {
    for (let i = 0; i < BUCKETS; i++) {
      const c = counts[i] ?? 0;
      this.counts[i]! += c;
      this.n += c;
    }
    if (max > this.max) this.max = max;
  }

  /** Upper edge of the bucket holding the p-th percentile (ms), at most `max`; NaN when empty. */
  percentile(p: number): number {
    if (this.n === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, MIN_MS * BASE ** i);
    }
    return this.max;
  }
}
