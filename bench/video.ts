// Video part of the benchmark (`npm run bench -- video`): CPU of one live-view transcode (MPEG-1 for
// jsmpeg, as the hub runs it) at 480p and 720p, of an H.264 pass-through to fragmented MP4 (the
// opt-in the hub could offer to MSE players; measured here, not served), the time from opening a
// camera to its first frame, and how many streams one core holds. Simulated cameras from
// simulators/rtsp-camera.py on loopback. Skipped with a message when ffmpeg or GStreamer is missing.
//
// Knobs: BENCH_VIDEO_SECONDS (10, each CPU window), BENCH_VIDEO_OPENS (5, first-frame samples).

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { createHub, loadConfig } from '../hub/index.ts';
import { silentLogger } from '../kernel/index.ts';
import { findGstPython, GST_INSTALL_HINT, startRtspCamera } from '../simulators/index.ts';
import { inputArgs, spawnGroup } from '../video/ffmpeg.ts';
import { FFMPEG_INSTALL_HINT, findExecutable, killGroup } from '../video/index.ts';
import { log, num } from './env.ts';
import { fmt, sleep, summarize } from './stats.ts';

export interface VideoResult {
  seconds: number;
  /** Share of one core per stream. */
  transcode480p: number;
  transcode720p: number;
  passthrough480p: number;
  passthrough720p: number;
  firstFrameMs: { p50: number; max: number; samples: number };
  /** Transcodes one core holds (1 / share of one core). */
  streamsPerCore480p: number;
  streamsPerCore720p: number;
  /** Measured together: N 480p transcodes, total share of a core. */
  parallel480p: { streams: number; cores: number };
}

const TICK = 100;
/** CPU seconds (user + system) of every process in a process group. */
function groupCpuSeconds(pgid: number): number {
  let sum = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) !== pgid) continue;
      sum += (Number(f[11]) + Number(f[12])) / TICK;
    } catch {}
  }
  return sum;
}

async function cpuShare(pgids: () => number[], seconds: number): Promise<number> {
  const groups = pgids();
  const a = groups.reduce((s, g) => s + groupCpuSeconds(g), 0);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const b = groups.reduce((s, g) => s + groupCpuSeconds(g), 0);
  return (b - a) / ((performance.now() - t0) / 1000);
}

export async function benchVideo(): Promise<VideoResult | undefined> {
  if (!findExecutable('ffmpeg')) {
    log(`video: ffmpeg not found; skipped (${FFMPEG_INSTALL_HINT})`);
    return undefined;
  }
  if (!findGstPython()) {
    log(`video: GStreamer's RTSP server not found; skipped (${GST_INSTALL_HINT})`);
    return undefined;
  }
  const seconds = num('BENCH_VIDEO_SECONDS', 10);
  const opens = Math.max(1, num('BENCH_VIDEO_OPENS', 5));
  const parallel = 4;
  const mounts = [
    { name: 'p480', width: 854, height: 480, fps: 25 },
    { name: 'p720', width: 1280, height: 720, fps: 25 },
    ...Array.from({ length: parallel }, (_, i) => ({ name: `q${i}`, width: 854, height: 480, fps: 25 })),
  ];
  const cam = await startRtspCamera({ mounts });
  const dataDir = mkdtempSync(join(tmpdir(), 'gridhub-bench-video-'));
  const hub = createHub(
    loadConfig({
      overrides: {
        dataDir,
        httpPort: 0,
        mqttPort: 0,
        logLevel: 'silent',
        adminToken: 'bench-admin-token-0123456789',
        video: { maxStreams: 16, idleStopMs: 0 },
      } as never,
    }),
    { logger: silentLogger() },
  );
  const viewers: WebSocket[] = [];
  try {
    const urls = await hub.start();
    const auth = { authorization: 'Bearer bench-admin-token-0123456789' };
    for (const m of mounts) {
      const call = (method: string, path: string, body: unknown) =>
        fetch(`${urls.httpUrl}${path}`, {
          method,
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      await call('POST', '/api/devices', { id: m.name, profile: 'camera' });
      await call('PUT', `/api/devices/${m.name}/attributes`, { server: { rtspUrl: cam.urls[m.name] } });
    }
    const open = (id: string) =>
      new Promise<{ ws: WebSocket; firstMs: number }>((resolve, reject) => {
        const t0 = performance.now();
        const ws = new WebSocket(`${urls.httpUrl.replace(/^http/, 'ws')}/api/cameras/${id}/live`, {
          headers: auth,
        });
        let n = 0;
        ws.on('message', () => {
          if (++n === 2) resolve({ ws, firstMs: performance.now() - t0 });
        });
        ws.on('close', (code, reason) => reject(new Error(`closed ${code} ${reason}`)));
        ws.on('error', reject);
        setTimeout(() => reject(new Error(`no frame from ${id} within 30 s`)), 30_000).unref();
      });
    const live = hub.parts.video.live;
    const closeAll = async () => {
      for (const w of viewers.splice(0)) w.close();
      const until = Date.now() + 10_000;
      while (live.pids().length && Date.now() < until) await sleep(50);
    };

    // Time to first frame: each open starts ffmpeg from nothing (idleStopMs 0 stops it after).
    const firsts: number[] = [];
    for (let i = 0; i < opens; i++) {
      const v = await open('p480');
      firsts.push(v.firstMs);
      viewers.push(v.ws);
      await closeAll();
    }
    const ff = summarize(firsts);
    log(`video: first frame after opening a camera p50 ${fmt(ff.p50)} ms (${opens} opens)`);

    const transcode = async (id: string) => {
      viewers.push((await open(id)).ws);
      await sleep(2000);
      const share = await cpuShare(() => live.pids(), seconds);
      await closeAll();
      return share;
    };
    const t480 = await transcode('p480');
    const t720 = await transcode('p720');
    log(
      `video: transcode to MPEG-1, share of one core per stream: 480p ${fmt(t480 * 100, 1)} %, 720p ${fmt(t720 * 100, 1)} %`,
    );

    for (let i = 0; i < parallel; i++) viewers.push((await open(`q${i}`)).ws);
    await sleep(2000);
    const par = await cpuShare(() => live.pids(), seconds);
    await closeAll();
    log(`video: ${parallel} 480p transcodes at once: ${fmt(par * 100, 1)} % of one core`);

    // H.264 pass-through to fragmented MP4 (what an MSE player takes): no decoding, no encoding.
    const passthrough = async (id: string) => {
      const ffmpeg = findExecutable('ffmpeg')!;
      const child = spawnGroup(ffmpeg, [
        ...inputArgs({ ffmpeg, transport: 'tcp', timeoutMs: 5000 }, cam.urls[id]!),
        '-an',
        '-c:v',
        'copy',
        '-f',
        'mp4',
        '-movflags',
        'frag_keyframe+empty_moov+default_base_moof',
        'pipe:1',
      ]);
      let bytes = 0;
      child.stdout!.on('data', (d: Buffer) => {
        bytes += d.length;
      });
      child.stderr!.resume();
      await sleep(2000);
      const share = await cpuShare(() => [child.pid!], seconds);
      await killGroup(child.pid!);
      if (bytes === 0) throw new Error(`pass-through of ${id} produced nothing`);
      return share;
    };
    const p480 = await passthrough('p480');
    const p720 = await passthrough('p720');
    log(
      `video: H.264 pass-through (fMP4), share of one core: 480p ${fmt(p480 * 100, 1)} %, 720p ${fmt(p720 * 100, 1)} %`,
    );
    return {
      seconds,
      transcode480p: t480,
      transcode720p: t720,
      passthrough480p: p480,
      passthrough720p: p720,
      firstFrameMs: { p50: ff.p50, max: Math.max(...firsts), samples: firsts.length },
      streamsPerCore480p: t480 > 0 ? 1 / t480 : 0,
      streamsPerCore720p: t720 > 0 ? 1 / t720 : 0,
      parallel480p: { streams: parallel, cores: par },
    };
  } finally {
    for (const w of viewers) w.terminate();
    await hub.stop();
    await cam.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Rows for the summary table. */
export function videoRows(v: VideoResult): [string, string, string, string][] {
  const pct = (x: number) => `${fmt(x * 100, 1)} %`;
  return [
    [
      '5 video: transcode (MPEG-1) per stream, 480p / 720p',
      `${pct(v.transcode480p)} / ${pct(v.transcode720p)} of a core`,
      '',
      '',
    ],
    [
      '    pass-through (H.264 → fMP4), 480p / 720p',
      `${pct(v.passthrough480p)} / ${pct(v.passthrough720p)} of a core`,
      '',
      '',
    ],
    [
      '    streams one core holds, 480p / 720p',
      `${fmt(v.streamsPerCore480p, 1)} / ${fmt(v.streamsPerCore720p, 1)}`,
      '',
      '',
    ],
    [`    ${v.parallel480p.streams} × 480p at once`, `${pct(v.parallel480p.cores)} of a core`, '', ''],
    [
      '    opening a camera → first frame, p50 / max',
      `${fmt(v.firstFrameMs.p50)} / ${fmt(v.firstFrameMs.max)} ms`,
      '',
      '',
    ],
  ];
}
