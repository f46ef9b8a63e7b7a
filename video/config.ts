/** The cameras' section of the configuration (`video`, `GRIDHUB_VIDEO_*`): live view and stills. */
import { z } from 'zod';
import { positiveInt } from '../kernel/index.ts';

export const videoConfigSchema = z
  .object({
    /** `off` turns live view and stills off; `on` uses ffmpeg when it is installed. */
    enabled: z
      .enum(['on', 'off'])
      .default('on')
      .transform((v) => v === 'on'),
    /** The ffmpeg executable: a name looked up on PATH, or a path. */
    ffmpegPath: z.string().min(1).default('ffmpeg'),
    /** Transcodes running at once; a viewer beyond that is refused with a message saying so. */
    maxStreams: positiveInt.max(1000).default(4),
    /** A stream stops this long after its last viewer leaves. */
    idleStopMs: z.coerce.number().int().min(0).max(600_000).default(5000),
    rtspTransport: z.enum(['tcp', 'udp']).default('tcp'),
    /** ffmpeg's socket timeout towards the camera. */
    timeoutMs: positiveInt.max(120_000).default(5000),
    backoffBaseMs: positiveInt.max(60_000).default(1000),
    backoffMaxMs: positiveInt.max(600_000).default(30_000),
    /** Restarts without video before a stream is `failed` (its viewers are told). */
    maxRetries: z.coerce.number().int().min(0).max(100).default(8),
    /** No video for this long restarts the stream. */
    stallMs: positiveInt.max(600_000).default(15_000),
    /** MPEG-1 needs a standard frame rate (23.976–60). */
    fps: z.coerce
      .number()
      .refine((f) => [24, 25, 30, 50, 60].includes(f), 'must be 24, 25, 30, 50 or 60')
      .default(25),
    maxHeight: positiveInt.max(2160).default(720),
    bitrateKbps: positiveInt.max(20_000).default(1500),
    maxViewerBufferBytes: positiveInt.default(8 * 1024 * 1024),
    /** Hosts detection snapshot URLs may come from besides the camera's own stream host. */
    snapshotHosts: z
      .preprocess(
        (v) =>
          typeof v === 'string'
            ? v
                .split(',')
                .map((h) => h.trim())
                .filter(Boolean)
            : v,
        z.array(z.string().min(1).max(253)),
      )
      .default([]),
    stillTimeoutMs: positiveInt.max(120_000).default(15_000),
    stillMaxBytes: positiveInt.max(64 * 1024 * 1024).default(5 * 1024 * 1024),
    /** Detections waiting for a still; beyond that a still is skipped and counted. */
    stillQueue: positiveInt.max(10_000).default(64),
    stillConcurrency: positiveInt.max(16).default(2),
  })
  .prefault({});

export type VideoConfig = z.infer<typeof videoConfigSchema>;
