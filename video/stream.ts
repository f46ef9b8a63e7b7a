/**
 * One camera's live stream: node-rtsp-stream's Mpeg1Muxer (ffmpeg → MPEG-1 video in MPEG-TS) run
 * under supervision, fanned out to the camera's viewers. It starts with the first viewer, stops a
 * few seconds after the last leaves, restarts with exponential backoff when ffmpeg exits (it
 * exits 0 when the camera disappears) or goes silent, and gives up (`failed`) after a bounded
 * number of attempts without video.
 */
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../kernel/index.ts';
import { jsmpegHeader, mpeg1Size, TsPacketizer } from './mpegts.ts';
import { redact } from './url.ts';

export type StreamState = 'idle' | 'starting' | 'live' | 'retrying' | 'failed';

export interface Viewer {
  send(data: Buffer): void;
  close(code: number, reason: string): void;
  /** Bytes queued and not yet sent (slow viewers are closed, never let to grow memory). */
  buffered(): number;
}

/** A running muxer: the ffmpeg child and its MPEG-TS output. */
export interface Muxer {
  child: ChildProcess;
  on(event: 'mpeg1data' | 'ffmpegStderr', fn: (data: Buffer) => void): void;
}

export interface StreamOptions {
  idleStopMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxRetries: number;
  stallMs: number;
  /** A viewer with more than this queued is closed. */
  maxViewerBufferBytes: number;
}

/** Delay before restart attempt `n` (1-based): base · 2^(n-1), capped. */
export function backoffMs(n: number, base: number, max: number): number {
  return Math.min(max, base * 2 ** Math.max(0, Math.min(n - 1, 30)));
}

const PROBE_LIMIT = 4 * 1024 * 1024;
const STDERR_LOG_EVERY_MS = 10_000;

export class CameraStream {
  state: StreamState = 'idle';
  lastError: string | null = null;
  since = Date.now();
  attempts = 0;
  size: { width: number; height: number } | undefined;
  /** The running ffmpeg process group, for tests and the stop check. */
  pgid: number | undefined;
  private readonly viewers = new Set<Viewer>();
  /** Viewers waiting for the first sequence header (they need the size first). */
  private readonly waiting = new Set<Viewer>();
  private probe: Buffer[] = [];
  private probeBytes = 0;
  private readonly packets = new TsPacketizer();
  private muxer: Muxer | undefined;
  private intentional = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private lastData = 0;
  private lastStderr = '';
  private stderrLoggedAt = 0;
  private stderrSuppressed = 0;
  private exited: Promise<void> | undefined;

  constructor(
    readonly id: string,
    private readonly deps: {
      /** Starts ffmpeg for this camera; throws when it cannot (no stream URL, …). */
      spawn: () => { muxer: Muxer; stop: () => Promise<void> };
      options: StreamOptions;
      logger: Logger;
      onChange: () => void;
    },
  ) {}

  get viewerCount(): number {
    return this.viewers.size + this.waiting.size;
  }

  /** True while a process is running or about to be restarted (counts against the stream limit). */
  get active(): boolean {
    return this.state === 'starting' || this.state === 'live' || this.state === 'retrying';
  }

  private set(state: StreamState, error?: string) {
    if (error !== undefined) this.lastError = error;
    if (state !== this.state) {
      this.state = state;
      this.since = Date.now();
      this.deps.onChange();
    }
  }

  add(v: Viewer): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.size && this.state === 'live') {
      v.send(jsmpegHeader(this.size.width, this.size.height));
      this.viewers.add(v);
    } else this.waiting.add(v);
    if (!this.active) {
      this.attempts = 0;
      this.launch();
    }
  }

  remove(v: Viewer): void {
    this.viewers.delete(v);
    this.waiting.delete(v);
    if (this.viewerCount > 0) return;
    if (this.state === 'retrying') {
      clearTimeout(this.retryTimer);
      this.set('idle');
      return;
    }
    if (this.active && !this.idleTimer) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (this.viewerCount === 0) void this.halt('idle');
      }, this.deps.options.idleStopMs);
      this.idleTimer.unref();
    }
  }

  private launch() {
    clearTimeout(this.retryTimer);
    this.set('starting');
    this.intentional = false;
    this.packets.reset();
    this.probe = [];
    this.probeBytes = 0;
    this.size = undefined; // the camera may come back with another resolution
    let started: ReturnType<typeof this.deps.spawn>;
    try {
      started = this.deps.spawn();
    } catch (err) {
      this.failedAttempt((err as Error).message);
      return;
    }
    const { muxer } = started;
    this.muxer = muxer;
    this.pgid = muxer.child.pid;
    this.lastData = Date.now();
    this.lastStderr = '';
    let resolveExit!: () => void;
    this.exited = new Promise((r) => {
      resolveExit = r;
    });
    muxer.child.on('error', (err) => {
      this.lastStderr = `cannot run ffmpeg: ${err.message}`;
    });
    muxer.on('mpeg1data', (d) => this.onData(d));
    muxer.on('ffmpegStderr', (d) => this.onStderr(d));
    muxer.child.on('close', (code, signal) => {
      clearInterval(this.stallTimer);
      if (this.muxer === muxer) this.muxer = undefined;
      this.pgid = undefined;
      resolveExit();
      void started.stop(); // leftovers of the group, if any
      this.onExit(code, signal);
    });
    this.stallTimer = setInterval(
      () => {
        if (Date.now() - this.lastData > this.deps.options.stallMs && this.muxer === muxer) {
          this.lastStderr = `no video for ${Math.round(this.deps.options.stallMs / 1000)} s`;
          void started.stop();
        }
      },
      Math.min(1000, this.deps.options.stallMs),
    );
    this.stallTimer.unref();
    this.stopProcess = started.stop;
  }

  private stopProcess: (() => Promise<void>) | undefined;

  private onData(chunk: Buffer) {
    this.lastData = Date.now();
    const packets = this.packets.push(chunk);
    if (packets.length === 0) return;
    if (this.state !== 'live') {
      this.attempts = 0;
      this.set('live');
    }
    if (this.waiting.size) {
      const size = this.size ?? this.findSize(packets);
      if (!size) return;
      // Waiting viewers get the header, then the stream from the probe's start (it holds the
      // sequence header jsmpeg needs first); the others just the new packets.
      const start = this.probe.length ? Buffer.concat(this.probe) : packets;
      this.probe = [];
      this.probeBytes = 0;
      const fresh = [...this.waiting];
      this.waiting.clear();
      for (const v of this.viewers) this.deliver(v, packets);
      for (const v of fresh) {
        v.send(jsmpegHeader(size.width, size.height));
        v.send(start);
        this.viewers.add(v);
      }
      return;
    }
    for (const v of this.viewers) this.deliver(v, packets);
  }

  private findSize(packets: Buffer) {
    this.probe.push(packets);
    this.probeBytes += packets.length;
    const size = mpeg1Size(Buffer.concat(this.probe));
    if (size) {
      this.size = size;
      return size;
    }
    if (this.probeBytes > PROBE_LIMIT) {
      this.lastStderr = 'no MPEG-1 sequence header in the first 4 MB of the stream';
      void this.stopProcess?.();
      this.probe = [];
      this.probeBytes = 0;
    }
    return undefined;
  }

  private deliver(v: Viewer, data: Buffer) {
    if (data.length === 0) return;
    if (v.buffered() > this.deps.options.maxViewerBufferBytes) {
      this.viewers.delete(v);
      v.close(1008, 'viewer too slow: the connection cannot keep up with the stream');
      this.remove(v);
      return;
    }
    v.send(data);
  }

  private onStderr(d: Buffer) {
    const text = redact(d.toString('utf8')).trim();
    if (!text) return;
    this.lastStderr = text.split('\n').pop()!.slice(0, 300);
    // ffmpeg can print a line per frame when a camera misbehaves: log at most one line per 10 s.
    const now = Date.now();
    if (now - this.stderrLoggedAt >= STDERR_LOG_EVERY_MS) {
      this.deps.logger.warn(
        { cameraId: this.id, stderr: text.slice(0, 1000), suppressed: this.stderrSuppressed },
        'ffmpeg',
      );
      this.stderrLoggedAt = now;
      this.stderrSuppressed = 0;
    } else this.stderrSuppressed++;
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null) {
    if (this.intentional) {
      this.intentional = false;
      if (this.viewerCount > 0) {
        this.attempts = 0;
        this.launch(); // a viewer came back while it was stopping
      } else this.set('idle');
      return;
    }
    const why =
      code === 0
        ? 'the stream ended (camera gone or restarting)'
        : `ffmpeg exited with ${code === null ? `signal ${signal}` : `code ${code === 3 ? 1 : code}`}`;
    this.failedAttempt(this.lastStderr ? `${why}: ${this.lastStderr}` : why);
  }

  private failedAttempt(error: string) {
    this.lastError = redact(error);
    this.deps.logger.warn(
      { cameraId: this.id, err: this.lastError, attempt: this.attempts + 1 },
      'stream stopped',
    );
    if (this.viewerCount === 0) {
      this.set('idle');
      return;
    }
    this.attempts++;
    if (this.attempts > this.deps.options.maxRetries) {
      this.set('failed');
      const reason = `camera unavailable after ${this.attempts} attempts: ${this.lastError}`;
      for (const v of [...this.viewers, ...this.waiting]) v.close(1011, truncateReason(reason));
      this.viewers.clear();
      this.waiting.clear();
      return;
    }
    const delay = backoffMs(this.attempts, this.deps.options.backoffBaseMs, this.deps.options.backoffMaxMs);
    this.set('retrying');
    this.retryTimer = setTimeout(() => {
      if (this.viewerCount > 0) this.launch();
      else this.set('idle');
    }, delay);
    this.retryTimer.unref();
  }

  /** Stops ffmpeg (intentionally) and waits for it to be gone. */
  private async halt(next: 'idle') {
    if (!this.muxer) {
      clearTimeout(this.retryTimer);
      this.set(next);
      return;
    }
    this.intentional = true;
    const exited = this.exited;
    await this.stopProcess?.();
    await exited;
  }

  /** Closes every viewer and stops ffmpeg; resolves when the process group is gone. */
  async close(reason: string): Promise<void> {
    clearTimeout(this.idleTimer);
    clearTimeout(this.retryTimer);
    for (const v of [...this.viewers, ...this.waiting]) v.close(1001, truncateReason(reason));
    this.viewers.clear();
    this.waiting.clear();
    await this.halt('idle');
    this.set('idle');
  }
}

/** A WebSocket close reason is at most 123 bytes (RFC 6455 §5.5). */
export function truncateReason(reason: string): string {
  const b = Buffer.from(reason, 'utf8');
  if (b.length <= 123) return reason;
  return `${b
    .subarray(0, 120)
    .toString('utf8')
    .replace(/\uFFFD$/, '')}...`;
}
