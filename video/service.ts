/**
 * The cameras part of the hub: live view (video.ts) and detection stills (stills.ts), behind
 * `createVideo(deps) → { start(), stop() }`.
 */
import type { Config } from '../hub/config.ts';
import type { Logger } from '../hub/logger.ts';
import type { Metrics } from '../hub/metrics.ts';
import type { Device, Registry } from '../registry/index.ts';
import type { Db } from '../store/db.ts';
import { checkUrl, redact } from './url.ts';
import { createLiveView, rtspUrlOf } from './video.ts';

export interface VideoDeps {
  registry: Registry;
  db: Db;
  logger: Logger;
  metrics: Metrics;
  config: Pick<Config, 'video' | 'media' | 'dataDir'>;
}

export function createVideo(deps: VideoDeps) {
  const { registry, db, config } = deps;
  const log = deps.logger;
  const live = createLiveView({
    registry,
    logger: log,
    metrics: deps.metrics,
    options: { ...config.video, enabled: config.video.enabled },
  });

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
    async start() {
      if (live.off) log.warn({ reason: live.off }, 'camera live view is off');
      else log.info({ ffmpeg: live.ffmpeg, maxStreams: config.video.maxStreams }, 'camera live view on');
    },
    async stop() {
      await live.stop();
    },
  };
}
export type Video = ReturnType<typeof createVideo>;
