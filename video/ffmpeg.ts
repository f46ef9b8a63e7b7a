/**
 * ffmpeg as a supervised child: finding it, the input options every camera gets, stopping a
 * whole process group, and one-frame stills. Thin I/O shell; the URL is always one argument.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redact } from './url.ts';

export const FFMPEG_INSTALL_HINT = 'apt-get install -y --no-install-recommends ffmpeg';
/** The launcher node-rtsp-stream's muxer runs instead of ffmpeg (see the script for why). */
export const LAUNCHER = fileURLToPath(new URL('./ffmpeg-launcher.sh', import.meta.url));
/** What an RTSP(S) camera needs, nothing more: no file:, http:, concat:, data: … */
export const PROTOCOL_WHITELIST = 'rtsp,rtsps,rtp,srtp,tcp,udp,tls';

/** The ffmpeg executable: an absolute path as given, or the first match on PATH. */
export function findExecutable(name: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates =
    isAbsolute(name) || name.includes('/') ? [name] : path.split(delimiter).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {}
  }
  return undefined;
}

export interface InputOptions {
  ffmpeg: string;
  transport: 'tcp' | 'udp';
  timeoutMs: number;
}

/** The launcher's settings as environment variables (read by video/ffmpeg-launcher.sh). */
export function launcherEnv(o: InputOptions): Record<string, string> {
  return {
    GRIDHUB_FFMPEG: o.ffmpeg,
    GRIDHUB_FFMPEG_WHITELIST: PROTOCOL_WHITELIST,
    GRIDHUB_FFMPEG_TRANSPORT: o.transport,
    GRIDHUB_FFMPEG_TIMEOUT_US: String(o.timeoutMs * 1000),
  };
}

/** Input options, for the ffmpeg runs the hub starts itself (stills, pass-through). */
export function inputArgs(o: InputOptions, url: string): string[] {
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error'];
  args.push('-protocol_whitelist', PROTOCOL_WHITELIST);
  if (url.startsWith('rtsp'))
    args.push('-rtsp_transport', o.transport, '-timeout', String(o.timeoutMs * 1000));
  else args.push('-rw_timeout', String(o.timeoutMs * 1000));
  // The URL is one argument, never split into options.
  args.push('-i', url);
  return args;
}

const alive = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Stops a process group: SIGTERM (ffmpeg ends cleanly), SIGKILL after `graceMs`. Resolves once no
 * process of the group is left, or after a bounded wait.
 */
export async function killGroup(pgid: number, graceMs = 2000): Promise<boolean> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pgid, s);
    } catch {}
  };
  if (!alive(pgid)) return true;
  signal('SIGTERM');
  for (const [limit, next] of [
    [graceMs, 'SIGKILL'],
    [2000, undefined],
  ] as const) {
    const until = Date.now() + limit;
    while (Date.now() < until) {
      if (!alive(pgid)) return true;
      await new Promise((r) => setTimeout(r, 25));
    }
    if (next) signal(next);
  }
  return !alive(pgid);
}

/** Runs ffmpeg in its own process group; `stop()` kills the group. */
export function spawnGroup(ffmpeg: string, args: string[]): ChildProcess {
  return spawn(ffmpeg, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
}

export class StillError extends Error {}

/**
 * One frame of a stream as JPEG (`-frames:v 1`), bounded in time and size. The process group is
 * killed on every way out.
 */
export async function grabStill(
  o: InputOptions,
  url: string,
  limits: { timeoutMs: number; maxBytes: number },
): Promise<Buffer> {
  const child = spawnGroup(o.ffmpeg, [
    ...inputArgs(o, url),
    '-frames:v',
    '1',
    '-an',
    '-f',
    'image2',
    '-c:v',
    'mjpeg',
    '-q:v',
    '4',
    'pipe:1',
  ]);
  const chunks: Buffer[] = [];
  let size = 0;
  let stderr = '';
  let tooBig = false;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StillError(`no frame within ${limits.timeoutMs} ms`)),
        limits.timeoutMs,
      );
      child.stdout!.on('data', (d: Buffer) => {
        size += d.length;
        if (size > limits.maxBytes) {
          tooBig = true;
          child.stdout!.destroy();
          return;
        }
        chunks.push(d);
      });
      child.stderr!.on('data', (d: Buffer) => {
        if (stderr.length < 4096) stderr += d.toString('utf8');
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new StillError(`cannot run ffmpeg: ${err.message}`));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (tooBig) return reject(new StillError(`still larger than ${limits.maxBytes} bytes`));
        if (code === 0 && size > 0) return resolve(Buffer.concat(chunks));
        const last = redact(stderr.trim().split('\n').pop() ?? '');
        reject(new StillError(`ffmpeg exited with code ${code}${last ? `: ${last}` : ''}`));
      });
    });
  } finally {
    if (child.pid && child.exitCode === null) await killGroup(child.pid, 500);
  }
}
