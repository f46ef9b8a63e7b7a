/**
 * Latency figures for the load generators: a log-bucket histogram, cheap to record into on every
 * acknowledgement and to merge.
 */

/** A log-bucket latency histogram (2 % resolution, 10 µs .. ~100 s). */
export class LatencyHistogram {
  static readonly BASE = 1.02;
  static readonly MIN_MS = 0.01;
  readonly counts = new Float64Array(1000);
  n = 0;
  max = 0;
  record(ms: number): void {
    const i =
      ms <= LatencyHistogram.MIN_MS
        ? 0
        : Math.min(999, Math.ceil(Math.log(ms / LatencyHistogram.MIN_MS) / Math.log(LatencyHistogram.BASE)));
    this.counts[i]!++;
    this.n++;
    if (ms > this.max) this.max = ms;
  }
  /** Upper edge of the bucket holding the p-th percentile (ms), NaN when empty. */
  percentile(p: number): number {
    if (this.n === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, LatencyHistogram.MIN_MS * LatencyHistogram.BASE ** i);
    }
    return this.max;
  }
}
