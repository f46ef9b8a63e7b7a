/**
 * The simulated cameras' video: one RTSP server on loopback (rtsp-camera.py) with a mount per
 * camera of the fleet, and each camera's `rtspUrl` server attribute pointed at it through the
 * hub's API (as an admin would), so the hub's live view and detection stills have a stream.
 * Without GStreamer the fleet runs as before and the caller is told how to install it.
 */
import { createApiClient } from './api-client.ts';
import { GST_INSTALL_HINT, type RtspCamera, startRtspCamera } from './rtsp-camera.ts';

export async function simulateCameraStreams(opts: {
  apiUrl: string;
  adminToken: string;
  cameraIds: string[];
  say: (line: string) => void;
  width?: number;
  height?: number;
}): Promise<RtspCamera | undefined> {
  if (opts.cameraIds.length === 0) return undefined;
  let server: RtspCamera;
  try {
    server = await startRtspCamera({
      mounts: opts.cameraIds.map((_id, i) => ({
        name: `m${i}`,
        width: opts.width ?? 640,
        height: opts.height ?? 360,
        fps: 25,
      })),
    });
  } catch (err) {
    opts.say(
      `cameras: no simulated video (${(err as Error).message.includes('not installed') ? `install GStreamer's RTSP server: ${GST_INSTALL_HINT}` : (err as Error).message}); detections still flow`,
    );
    return undefined;
  }
  let set = 0;
  const api = createApiClient({
    baseUrl: opts.apiUrl,
    token: opts.adminToken,
    timeoutMs: 10_000,
    retry: { attempts: 3 },
  });
  for (const [i, id] of opts.cameraIds.entries()) {
    const r = await api.call('PUT', `/api/devices/${encodeURIComponent(id)}/attributes`, {
      server: { rtspUrl: server.urls[`m${i}`] },
    });
    if (r.status === 200) set++;
  }
  opts.say(
    `cameras: ${set} simulated RTSP streams on rtsp://127.0.0.1:${server.port}/ (live view: /api/cameras/<id>/live)`,
  );
  return server;
}
