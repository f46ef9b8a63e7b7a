/**
 * The simulator's progress display: one line, redrawn in place (`\r`, clear to the end of the line)
 * on a terminal, or written as a plain line every 5 s when stdout is a pipe or a file (CI logs). And
 * the summary printed at the end. The formatting functions are pure.
 */

export interface ProgressFields {
  elapsedMs: number;
  /** Devices (or sockets) connected, of how many. */
  connected: number;
  of: number;
  /** What `connected` counts (default `connected`); e.g. `sockets`. */
  connectedLabel?: string;
  readingsPerSec: number;
  /** Messages sent and acknowledged. */
  sent: number;
  acked: number;
  /** Load mode: refusals (CONNACK, SUBACK, closed connections, unacknowledged publishes). */
  refused?: number;
  errors: number;
  /** What is going on, when it is not plain publishing: `replay 43% (2h10m behind)`. */
  status?: string;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `00:01:05`, `26:03:00`: elapsed wall time. */
export function formatClock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${pad2(Math.floor(s / 3600))}:${pad2(Math.floor((s % 3600) / 60))}:${pad2(s % 60)}`;
}

/** `6h`, `2h10m`, `45s`, `1m05s`, `0s`: a short human duration. */
export function formatSpan(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d${h ? `${h}h` : ''}`;
  if (h > 0) return `${h}h${m ? `${pad2(m)}m` : ''}`;
  if (m > 0) return `${m}m${sec ? `${pad2(sec)}s` : ''}`;
  return `${sec}s`;
}

/** `12,345`. */
export const formatCount = (n: number) => Math.round(n).toLocaleString('en-US');

/** `82`, `1,234`, `4.5`: a rate, with a decimal when small. */
export const formatRate = (n: number) =>
  !Number.isFinite(n) ? '—' : n >= 100 ? formatCount(n) : n >= 10 ? n.toFixed(0) : n.toFixed(1);

/** The progress line (no line ending). */
export function formatProgress(p: ProgressFields): string {
  const parts = [
    formatClock(p.elapsedMs),
    `${p.connectedLabel ?? 'connected'} ${formatCount(p.connected)}/${formatCount(p.of)}`,
    `${formatRate(p.readingsPerSec)} readings/s`,
    `sent ${formatCount(p.sent)}`,
    `acked ${formatCount(p.acked)}`,
  ];
  if (p.refused !== undefined) parts.push(`refused ${formatCount(p.refused)}`);
  parts.push(`errors ${formatCount(p.errors)}`);
  if (p.status) parts.push(p.status);
  return parts.join('  ');
}

/**
 * What to write for one update: on a terminal `\r` + the line cut to the width + clear-to-end (so
 * a shorter line leaves no debris); elsewhere the line and a newline.
 */
export function renderProgress(line: string, tty: boolean, columns?: number): string {
  if (!tty) return `${line}\n`;
  const width = columns && columns > 1 ? columns - 1 : undefined;
  const shown = width !== undefined && line.length > width ? `${line.slice(0, width - 1)}…` : line;
  return `\r${shown}\x1b[K`;
}

export interface ProgressOut {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressSample extends Omit<ProgressFields, 'readingsPerSec' | 'elapsedMs'> {
  /** Readings so far (the rate is worked out from successive samples). */
  readings: number;
}

/**
 * Redraws the line every `ttyEveryMs` (default 500) on a terminal, or prints it every `plainEveryMs`
 * (default 5000) otherwise; the rate is over the last ~5 s.
 */
export class ProgressDisplay {
  readonly tty: boolean;
  #timer: ReturnType<typeof setInterval> | undefined;
  #history: { t: number; readings: number }[] = [];
  #drawn = false;
  readonly #out: ProgressOut;
  readonly #sample: () => ProgressSample;
  readonly #now: () => number;
  readonly #started: number;
  readonly #every: number;

  constructor(opts: {
    out: ProgressOut;
    sample: () => ProgressSample;
    tty?: boolean;
    ttyEveryMs?: number;
    plainEveryMs?: number;
    now?: () => number;
    startedAt?: number;
  }) {
    this.#out = opts.out;
    this.#sample = opts.sample;
    this.tty = opts.tty ?? opts.out.isTTY === true;
    this.#now = opts.now ?? Date.now;
    this.#started = opts.startedAt ?? this.#now();
    this.#every = this.tty ? (opts.ttyEveryMs ?? 500) : (opts.plainEveryMs ?? 5000);
    this.#history.push({ t: this.#started, readings: 0 });
  }

  start(): this {
    this.#timer ??= setInterval(() => this.update(), this.#every);
    this.#timer.unref?.();
    return this;
  }

  /** The current fields (and remembers the sample for the rate). */
  fields(): ProgressFields {
    const t = this.#now();
    const s = this.#sample();
    const h = this.#history;
    h.push({ t, readings: s.readings });
    while (h.length > 2 && t - h[1]!.t >= 5000) h.shift();
    const first = h[0]!;
    const rate = t > first.t ? ((s.readings - first.readings) * 1000) / (t - first.t) : 0;
    const { readings: _readings, ...rest } = s;
    return { ...rest, elapsedMs: t - this.#started, readingsPerSec: rate };
  }

  update(): void {
    this.#out.write(renderProgress(formatProgress(this.fields()), this.tty, this.#out.columns));
    this.#drawn = true;
  }

  /** Stops the timer; on a terminal, ends the redrawn line so what follows starts clean. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.tty && this.#drawn) {
      this.update();
      this.#out.write('\n');
    }
  }
}

/** Lines of a summary table: `  label   value`. */
export function formatSummary(title: string, rows: [string, string][]): string {
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  return `${[title, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n')}\n`;
}
