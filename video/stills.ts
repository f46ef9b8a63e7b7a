/**
 * Detections with their own picture: when a camera's detection opens a case (or sends a closed one
 * back to rework), the hub takes a still — from the event's snapshot URL when the hub may fetch it,
 * else one frame of the camera's stream — stores it as media and attaches it to the case's
 * evidence. Off the ingest hot path: driven by the case events, through a bounded queue with a few
 * workers; a full queue skips the still (counted, logged), never blocks anything.
 */

import { sniffImageType } from '../domain/index.ts';
import type { Clock, EventBus, Logger, Metrics } from '../kernel/index.ts';
import type { Registry } from '../registry/index.ts';
import type { MediaStore } from '../store/index.ts';
import { grabStill, type InputOptions, StillError } from './ffmpeg.ts';
import type { createMediaKeeper } from './media.ts';
import { checkUrl, redact, snapshotAllowed } from './url.ts';
import { rtspUrlOf } from './video.ts';

/** The case service's part the stills need (cases/service.ts). */
export interface CasesForStills {
  get(id: string): Promise<{
    id: string;
    deviceId: string | null;
    source: string;
    evidence: Record<string, unknown>;
  }>;
  attachMedia(id: string, item: StillEvidence): Promise<void>;
}

export type StillEvidence = {
  mediaId: string;
  url: string;
  contentType: string;
  takenAt: string;
  source: 'stream' | 'snapshot';
};

/** An expected reason not to take a still (counted by its outcome, not logged as a failure). */
class SkipStill extends StillError {
  constructor(
    readonly outcome: string,
    message: string,
  ) {
    super(message);
  }
}

/** A stream frame is evidence of the detection only while the detection is recent. */
const LIVE_WINDOW_MS = 2 * 60_000;

/** Fetches an http(s) snapshot: no redirects (they could lead anywhere), bounded time and size. */
export async function fetchSnapshot(
  url: URL,
  limits: { timeoutMs: number; maxBytes: number },
): Promise<Buffer> {
  const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(limits.timeoutMs) });
  if (!res.ok || !res.body) throw new StillError(`snapshot answered HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > limits.maxBytes) {
    await res.body.cancel();
    throw new StillError(`snapshot of ${declared} bytes is larger than ${limits.maxBytes}`);
  }
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.length;
    if (size > limits.maxBytes) throw new StillError(`snapshot larger than ${limits.maxBytes} bytes`);
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}

export function createStills(deps: {
  registry: Registry;
  cases: CasesForStills;
  media: MediaStore;
  keeper: ReturnType<typeof createMediaKeeper>;
  events: EventBus;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  input: () => InputOptions | undefined;
  options: {
    snapshotHosts: readonly string[];
    stillTimeoutMs: number;
    stillMaxBytes: number;
    stillQueue: number;
    stillConcurrency: number;
  };
}) {
  const { options: o } = deps;
  const log = deps.logger;
  const taken = deps.metrics.counter('gridhub_video_stills_total', 'Detection stills, by outcome');
  const queue: string[] = [];
  let running = 0;
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  let lastSkipLog = 0;
  let lastFailLog = 0;
  let failsSinceLog = 0;

  function onEvent(e: { type: string; action?: string; caseId?: string }) {
    if (stopped || e.type !== 'case' || (e.action !== 'open' && e.action !== 'relapse') || !e.caseId) return;
    if (queue.length >= o.stillQueue) {
      taken.inc({ outcome: 'queue_full' });
      if (Date.now() - lastSkipLog > 10_000) {
        lastSkipLog = Date.now();
        log.warn({ caseId: e.caseId, queue: queue.length }, 'still skipped: the still queue is full');
      }
      return;
    }
    queue.push(e.caseId);
    pump();
  }

  function pump() {
    while (!stopped && running < o.stillConcurrency && queue.length) {
      const id = queue.shift()!;
      running++;
      const p = work(id)
        .catch((err) => {
          const message = redact((err as Error).message);
          if (err instanceof SkipStill) {
            taken.inc({ outcome: err.outcome });
            log.debug({ caseId: id, reason: message }, 'no still for this case');
            return;
          }
          taken.inc({ outcome: 'failed' });
          // At most one line per 10 s: a camera that is down fails every detection.
          if (Date.now() - lastFailLog > 10_000) {
            log.warn({ caseId: id, err: message, suppressed: failsSinceLog }, 'still not taken');
            lastFailLog = Date.now();
            failsSinceLog = 0;
          } else failsSinceLog++;
        })
        .finally(() => {
          running--;
          inFlight.delete(p);
          pump();
        });
      inFlight.add(p);
    }
  }

  async function picture(c: Awaited<ReturnType<CasesForStills['get']>>) {
    const device = c.deviceId ? deps.registry.devices.find(c.deviceId) : undefined;
    if (device?.profile !== 'camera') return undefined;
    const limits = { timeoutMs: o.stillTimeoutMs, maxBytes: o.stillMaxBytes };
    const rtsp = rtspUrlOf(device);
    const input = deps.input();
    const problems: string[] = [];
    const snapshot = typeof c.evidence.snapshot === 'string' ? c.evidence.snapshot : undefined;
    if (snapshot) {
      const ok = snapshotAllowed(snapshot, rtsp, o.snapshotHosts);
      if (!ok.ok) problems.push(`snapshot URL not fetched: ${ok.problem}`);
      else {
        try {
          const isRtsp = ok.url.protocol.startsWith('rtsp');
          if (isRtsp && !input) throw new StillError('ffmpeg is not available');
          const data = isRtsp
            ? await grabStill(input!, ok.url.href, limits)
            : await fetchSnapshot(ok.url, limits);
          if (!sniffImageType(data)) throw new StillError('the snapshot is not a JPEG or PNG image');
          return { data, source: 'snapshot' as const };
        } catch (err) {
          problems.push(`snapshot: ${(err as Error).message}`);
        }
      }
    }
    const readingTs = Date.parse(String(c.evidence.readingTs ?? ''));
    if (!(deps.clock.now() - readingTs <= LIVE_WINDOW_MS))
      throw new SkipStill(
        'too_old',
        `${problems.join('; ')}${problems.length ? '; ' : ''}the detection is too old for a frame of the live stream`,
      );
    if (!input) throw new SkipStill('video_off', 'live view is off (no ffmpeg): no frame to take');
    const check = checkUrl(rtsp);
    if (!check.ok)
      throw new SkipStill('no_stream', `no stream to take a still from (rtspUrl ${check.problem})`);
    if (problems.length) log.info({ caseId: c.id, problems }, 'still taken from the stream instead');
    return { data: await grabStill(input, check.url.href, limits), source: 'stream' as const };
  }

  async function work(caseId: string) {
    const c = await deps.cases.get(caseId);
    const got = await picture(c);
    if (!got) return;
    let rec: Awaited<ReturnType<MediaStore['save']>>;
    try {
      // Stored like a report photo, "uploaded" by the camera, then linked to its case.
      rec = await deps.media.save(got.data, undefined, `camera:${c.deviceId}`);
      await deps.media.link(rec.id, caseId);
    } catch (err) {
      throw new StillError(`cannot store the still: ${(err as Error).message}`);
    }
    deps.keeper.enforce();
    await deps.cases.attachMedia(caseId, {
      mediaId: rec.id,
      url: `/api/media/${rec.id}`,
      contentType: rec.type,
      takenAt: rec.uploadedAt,
      source: got.source,
    });
    taken.inc({ outcome: got.source });
  }

  let unsubscribe: (() => void) | undefined;
  return {
    start() {
      unsubscribe = deps.events.subscribe(onEvent);
    },
    /** Resolves when the queue is empty and no still is being taken (tests). */
    async idle() {
      while (queue.length || inFlight.size) await Promise.allSettled([...inFlight]);
    },
    async stop() {
      stopped = true;
      unsubscribe?.();
      queue.length = 0;
      // Each still is bounded by its timeout and kills its ffmpeg on the way out.
      await Promise.allSettled([...inFlight]);
    },
  };
}
