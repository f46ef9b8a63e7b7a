/**
 * Simulated IP cameras: starts rtsp-camera.py (GStreamer's RTSP server, loopback, a free port) and
 * hands back its stream URLs. Used by `gridhub simulate`, the demo, the tests and the benchmark.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const GST_PACKAGES =
  'python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-rtsp';
export const GST_INSTALL_HINT = `apt-get install -y --no-install-recommends ${GST_PACKAGES}`;
const SCRIPT = fileURLToPath(new URL('./rtsp-camera.py', import.meta.url));

const PROBE = [
  'import gi',
  "gi.require_version('Gst', '1.0')",
  "gi.require_version('GstRtspServer', '1.0')",
  'from gi.repository import Gst, GstRtspServer',
  'Gst.init(None)',
  "missing = [e for e in ('videotestsrc', 'x264enc', 'rtph264pay') if Gst.ElementFactory.find(e) is None]",
  'assert not missing, missing',
].join('\n');

let found: string | null | undefined;
/**
 * A Python with GStreamer's RTSP server bindings, or null. Debian's python3-gi belongs to the
 * system Python (/usr/bin/python3), which a pyenv or venv `python3` on PATH would hide.
 */
export function findGstPython(): string | null {
  if (found !== undefined) return found;
  found = null;
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', PROBE], { stdio: 'ignore', timeout: 15_000 });
    if (r.status === 0) {
      found = py;
      break;
    }
  }
  return found;
}

export interface MountSpec {
  name: string;
  width?: number;
  height?: number;
  fps?: number;
}

export interface RtspCamera {
  port: number;
  /** rtsp://127.0.0.1:PORT/NAME per mount. */
  urls: Record<string, string>;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the simulated camera server; rejects with the reason when GStreamer is missing. */
export async function startRtspCamera(opts: { mounts: MountSpec[]; port?: number }): Promise<RtspCamera> {
  const py = findGstPython();
  if (!py) throw new Error(`GStreamer's RTSP server is not installed: ${GST_INSTALL_HINT}`);
  const args = [SCRIPT, '--port', String(opts.port ?? 0)];
  for (const m of opts.mounts) {
    const size = m.width && m.height ? `:${m.width}x${m.height}` : '';
    args.push('--mount', `${m.name}${size}${size && m.fps ? `:${m.fps}` : ''}`);
  }
  // stdin stays a pipe: the server exits when it closes (when this process goes away).
  const child: ChildProcess = spawn(py, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => {
    if (stderr.length < 4000) stderr += d;
  });
  const ready = await new Promise<{ port: number; mounts: string[] }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`camera simulator not ready within 20 s: ${stderr}`)),
      20_000,
    );
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(line);
        if (r.ready) resolve(r);
        else reject(new Error(`camera simulator: ${r.error}`));
      } catch {
        reject(new Error(`camera simulator: unexpected output ${line.slice(0, 200)} ${stderr}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`camera simulator exited with code ${code}: ${stderr.trim()}`));
    });
  });
  const exited = new Promise<void>((r) => {
    if (child.exitCode !== null) r();
    else child.once('exit', () => r());
  });
  return {
    port: ready.port,
    pid: child.pid!,
    urls: Object.fromEntries(ready.mounts.map((m) => [m.slice(1), `rtsp://127.0.0.1:${ready.port}${m}`])),
    async stop() {
      if (child.exitCode !== null) return;
      child.stdin!.end();
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
