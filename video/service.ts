/**
 * The cameras part of the hub: live view (video.ts) and detection stills (stills.ts), behind
 * `createVideo(deps) → { start(), stop() }`.
 */

import { join } from 'node:path';
import { MEDIA_MAX_BYTES_DEFAULT } from '../domain/index.ts';
import type { Clock, EventBus, Logger, Metrics } from '../kernel/index.ts';
import type { Device, Registry } from '../registry/index.ts';
import { createMediaStore } from '../store/index.ts';
import type { VideoConfig } from './config.ts';
import { createMediaKeeper } from './media.ts';
import type { StreamSlots } from './slots.ts';
import { type CasesForStills, createStills } from './stills.ts';
import { checkUrl, redact } from './url.ts';
import { createLiveView, rtspUrlOf } from './video.ts';

export interface VideoDeps {
  registry: Registry;
  logger: Logger;
  metrics: Metrics;
  events: EventBus;
  clock: Clock;
  cases: CasesForStills;
  config: { video: VideoConfig; media: { quotaMb: number; retentionDays: number }; dataDir: string };
  /** Camera stream slots shared by several hubs; in process by default (slots.ts). */
  slots?: StreamSlots;
}

export function createVideo(deps: VideoDeps) {
  const { registry, config } = deps;
  const log = deps.logger;
  const live = createLiveView({
    registry,
    logger: log,
    metrics: deps.metrics,
    options: { ...config.video, enabled: config.video.enabled },
    slots: deps.slots,
  });
  // The evidence media folder web/media.ts serves; stills are saved like report photos and linked
  // to their case, so `GET /api/media/:id` decides by the case.
  const mediaDir = join(config.dataDir, 'media');
  const media = createMediaStore({
    dir: mediaDir,
    maxBytes: Math.max(config.video.stillMaxBytes, MEDIA_MAX_BYTES_DEFAULT),
    now: () => deps.clock.now(),
  });
  const keeper = createMediaKeeper({
    dir: mediaDir,
    quotaBytes: config.media.quotaMb * 1024 * 1024,
    retentionMs: config.media.retentionDays * 86_400_000,
    logger: log,
    now: () => deps.clock.now(),
  });
  const stills = createStills({
    registry,
    cases: deps.cases,
    media,
    keeper,
    events: deps.events,
    clock: deps.clock,
    logger: log,
    metrics: deps.metrics,
    input: () => (live.off ? undefined : live.input),
    options: config.video,
  });
  let retention: NodeJS.Timeout | undefined;

  function describe(d: Device) {
    const url = rtspUrlOf(d);
    const check = url === undefined ? undefined : checkUrl(url);
    return {
      id: d.id,
      name: d.name,
      gridCode: d.gridCode,
      location: d.location,
      status: registry.presence.status(d.id),
      // Credentials in the URL are never shown (contract).
      streamUrl: url === undefined ? null : redact(url),
      streamUrlProblem: check && !check.ok ? check.problem : null,
      liveUrl: `/api/cameras/${encodeURIComponent(d.id)}/live`,
      stream: live.state(d.id),
    };
  }

  /** `status` and `reason` are public; the counts are shown to signed-in users only (web/). */
  function health() {
    return {
      status: live.off ? ('off' as const) : ('on' as const),
      ...(live.off ? { reason: live.off } : {}),
      streams: live.counts(),
      maxStreams: config.video.maxStreams,
    };
  }

  return {
    live,
    describe,
    health,
    stills,
    async start() {
      // Quota and retention are enforced at start, after each still, and every hour.
      keeper.enforce();
      retention = setInterval(() => keeper.enforce(), 3_600_000);
      retention.unref();
      if (!live.off || config.video.enabled) stills.start();
      if (live.off) log.warn({ reason: live.off }, 'camera live view is off');
      else log.info({ ffmpeg: live.ffmpeg, maxStreams: config.video.maxStreams }, 'camera live view on');
    },
    async stop() {
      clearInterval(retention);
      await stills.stop();
      await live.stop();
    },
  };
}
export type Video = ReturnType<typeof createVideo>;
