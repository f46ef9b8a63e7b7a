/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format (https://prometheus.io/docs/instrumenting/exposition_formats/). Hot paths hold
 * on to a labelled child so a reading costs one Map lookup at most.
 */
type Labels = Record<string, string>;

/** The default of every `labels` parameter: unlabelled updates (the hot paths') allocate nothing. */
const NO_LABELS: Labels = Object.freeze({}) as Labels;

const labelKey = (labels: Labels) =>
  labels === NO_LABELS
    ? ''
    : Object.keys(labels)
        .sort()
        .map(
          (k) =>
            `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
        )
        .join(',');

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}
  abstract render(): string[];
}

export class Counter extends Metric {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels = NO_LABELS, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  /** A child for fixed labels: the label key is computed once, not on every increment. */
  bind(labels: Labels = NO_LABELS): (by?: number) => void {
    const k = labelKey(labels);
    if (!this.values.has(k)) this.values.set(k, 0);
    return (by = 1) => {
      this.values.set(k, (this.values.get(k) ?? 0) + by);
    };
  }
  get(labels: Labels = NO_LABELS): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  total(): number {
    let t = 0;
    for (const v of this.values.values()) t += v;
    return t;
  }
  render(): string[] {
    if (this.values.size === 0) return [`${this.name} 0`];
    return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${v}`);
  }
}

export class Gauge extends Metric {
  private readonly values = new Map<string, () => number>();
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  /** Gauges are read when scraped, from the component that owns the value. */
  collect(fn: () => number, labels: Labels = NO_LABELS): void {
    this.values.set(labelKey(labels), fn);
  }
  render(): string[] {
    return [...this.values].map(([k, fn]) => `${this.name}${k ? `{${k}}` : ''} ${fn()}`);
  }
}

export class Histogram extends Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    readonly buckets: number[],
  ) {
    super(name, help, 'histogram');
  }
  observe(value: number, labels: Labels = NO_LABELS): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.series) {
      const pre = k ? `${k},` : '';
      this.buckets.forEach((b, i) => {
        out.push(`${this.name}_bucket{${pre}le="${b}"} ${s.counts[i]}`);
      });
      out.push(`${this.name}_bucket{${pre}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      out.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return out;
  }
}

export class Metrics {
  private readonly all = new Map<string, Metric>();
  counter(name: string, help: string): Counter {
    return this.register(name, () => new Counter(name, help)) as Counter;
  }
  gauge(name: string, help: string): Gauge {
    return this.register(name, () => new Gauge(name, help)) as Gauge;
  }
  histogram(name: string, help: string, buckets: number[]): Histogram {
    return this.register(name, () => new Histogram(name, help, buckets)) as Histogram;
  }
  private register(name: string, make: () => Metric): Metric {
    let m = this.all.get(name);
    if (!m) {
      m = make();
      this.all.set(name, m);
    }
    return m;
  }
  render(): string {
    const lines: string[] = [];
    for (const m of this.all.values()) {
      lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.render());
    }
    return `${lines.join('\n')}\n`;
  }
}
