/**
 * Live view of the cameras (contract, Cameras): one supervised stream per camera, started by its
 * first viewer, at most `maxStreams` at once. Without ffmpeg the hub runs with live view off and
 * says why; everything else goes on.
 */
import { createRequire } from 'node:module';
import type { Logger, Metrics } from '../kernel/index.ts';
import type { Device, Registry } from '../registry/index.ts';
import {
  FFMPEG_INSTALL_HINT,
  findExecutable,
  type InputOptions,
  killGroup,
  LAUNCHER,
  launcherEnv,
} from './ffmpeg.ts';
import { memorySlots, type StreamSlots } from './slots.ts';
import {
  CameraStream,
  type Muxer,
  type StreamOptions,
  type StreamState,
  truncateReason,
  type Viewer,
} from './stream.ts';
import { checkUrl, redact } from './url.ts';

// node-rtsp-stream is CommonJS without types; only its muxer is used (README, Cameras).
const Mpeg1Muxer = createRequire(import.meta.url)('node-rtsp-stream/mpeg1muxer.js') as new (o: {
  url: string;
  ffmpegPath: string;
  ffmpegOptions?: Record<string, string>;
}) => { stream: Muxer['child']; on: Muxer['on'] };

export interface VideoOptions extends StreamOptions {
  enabled: boolean;
  ffmpegPath: string;
  maxStreams: number;
  rtspTransport: 'tcp' | 'udp';
  timeoutMs: number;
  fps: number;
  maxHeight: number;
  bitrateKbps: number;
}

/** WebSocket close codes for refusals (RFC 6455 §7.4: 4000–4999 are the application's). */
export const CLOSE = { limit: 1013, unavailable: 1011, off: 4503, noUrl: 4409 } as const;

export type Refusal = { code: number; reason: string };

export function rtspUrlOf(device: Device): string | undefined {
  const u = device.serverAttributes?.rtspUrl;
  return typeof u === 'string' && u ? u : undefined;
}

export function createLiveView(deps: {
  registry: Registry;
  logger: Logger;
  metrics: Metrics;
  options: VideoOptions;
  /** How many streams may run at once; in process unless a shared one is given (slots.ts). */
  slots?: StreamSlots;
}) {
  const { registry, options } = deps;
  const log = deps.logger;
  const ffmpeg = options.enabled ? findExecutable(options.ffmpegPath) : undefined;
  const off: string | undefined = !options.enabled
    ? 'live view is turned off (GRIDHUB_VIDEO=off)'
    : !ffmpeg
      ? `ffmpeg not found (${options.ffmpegPath}); install it: ${FFMPEG_INSTALL_HINT}`
      : undefined;
  const input: InputOptions = {
    ffmpeg: ffmpeg ?? options.ffmpegPath,
    transport: options.rtspTransport,
    timeoutMs: options.timeoutMs,
  };
  const streams = new Map<string, CameraStream>();
  const slots = deps.slots ?? memorySlots(options.maxStreams);
  const refused = deps.metrics.counter(
    'gridhub_video_refused_total',
    'Live view requests refused, by reason',
  );
  const restarts = deps.metrics.counter('gridhub_video_stream_starts_total', 'ffmpeg starts for live view');
  const gauge = deps.metrics.gauge('gridhub_video_streams', 'Live view streams, by state');
  for (const s of ['starting', 'live', 'retrying', 'failed'] as const)
    gauge.collect(() => [...streams.values()].filter((x) => x.state === s).length, { state: s });
  let stopping = false;

  function spawnFor(id: string) {
    return () => {
      const device = registry.devices.find(id);
      const url = device && rtspUrlOf(device);
      const check = checkUrl(url);
      if (!check.ok) throw new Error(`rtspUrl ${check.problem}`);
      // The launcher reads its input options from the environment at spawn time; the muxer
      // spawns synchronously in its constructor, so the variables are set just around it.
      const env = launcherEnv(input);
      const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
      Object.assign(process.env, env);
      let m: InstanceType<typeof Mpeg1Muxer>;
      try {
        m = new Mpeg1Muxer({
          url: check.url.href,
          ffmpegPath: LAUNCHER,
          // Output options (they land after -i): no audio, MPEG-1 needs a standard frame rate,
          // bounded size and bitrate so a 4K camera cannot eat the hub's CPU.
          ffmpegOptions: {
            '-an': '',
            '-r': String(options.fps),
            '-vf': `scale=-2:'min(ih,${options.maxHeight})'`,
            '-b:v': `${options.bitrateKbps}k`,
            '-maxrate': `${options.bitrateKbps}k`,
            '-bufsize': `${options.bitrateKbps * 2}k`,
            '-bf': '0',
          },
        });
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
      restarts.inc();
      const child = m.stream;
      log.info({ cameraId: id, url: redact(check.url.href), pid: child.pid }, 'live view: ffmpeg started');
      return {
        muxer: { child, on: (e: 'mpeg1data' | 'ffmpegStderr', fn: (d: Buffer) => void) => m.on(e, fn) },
        stop: async () => {
          if (child.pid) await killGroup(child.pid);
        },
      };
    };
  }

  function streamOf(id: string): CameraStream {
    let s = streams.get(id);
    if (!s) {
      const stream: CameraStream = new CameraStream(id, {
        spawn: spawnFor(id),
        options,
        logger: log,
        // A stream that stops (idle, failed, hub stopping) gives its slot back.
        onChange: () => {
          if (!stream.active) slots.release(id);
        },
      });
      s = stream;
      streams.set(id, s);
    }
    return s;
  }

  /** Attaches a viewer to a camera's stream, or says why not. */
  function open(device: Device, viewer: Viewer): Refusal | undefined {
    const refuse = (reason: string, code: number, why: string): Refusal => {
      refused.inc({ reason: why });
      return { code, reason: truncateReason(reason) };
    };
    if (off || stopping) return refuse(`live view is off: ${off ?? 'the hub is stopping'}`, CLOSE.off, 'off');
    const url = rtspUrlOf(device);
    if (!url) return refuse(`camera ${device.id} has no rtspUrl server attribute`, CLOSE.noUrl, 'no_url');
    const s = streamOf(device.id);
    if (!s.active && !slots.take(device.id))
      return refuse(
        `too many live streams: ${slots.inUse()} of ${slots.max} running (GRIDHUB_VIDEO_MAX_STREAMS); try again later`,
        CLOSE.limit,
        'limit',
      );
    s.add(viewer);
    // A stream that could not even start (it failed at once) holds no slot.
    if (!s.active) slots.release(device.id);
    return undefined;
  }

  function state(id: string) {
    const s = streams.get(id);
    return {
      state: (s?.state ?? 'idle') as StreamState,
      since: s ? new Date(s.since).toISOString() : null,
      lastError: s?.lastError ?? null,
      viewers: s?.viewerCount ?? 0,
      attempts: s?.attempts ?? 0,
      size: s?.size ?? null,
    };
  }

  function counts() {
    const c = { live: 0, starting: 0, retrying: 0, failed: 0, viewers: 0 };
    for (const s of streams.values()) {
      if (s.state !== 'idle') c[s.state]++;
      c.viewers += s.viewerCount;
    }
    return c;
  }

  return {
    ffmpeg,
    off,
    input,
    open,
    close: (id: string, v: Viewer) => streams.get(id)?.remove(v),
    state,
    counts,
    /** Process groups of running ffmpegs (tests check none is left after stop). */
    pids: () => [...streams.values()].map((s) => s.pgid).filter((p): p is number => p !== undefined),
    async stop() {
      stopping = true;
      await Promise.all([...streams.values()].map((s) => s.close('the hub is stopping')));
    },
  };
}
export type LiveView = ReturnType<typeof createLiveView>;
