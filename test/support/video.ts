// Cameras in tests: whether ffmpeg and GStreamer's RTSP server are here (CI requires both), and a
// WebSocket viewer of a camera's live view that checks what it receives.
import WebSocket from 'ws';
import { findGstPython, GST_INSTALL_HINT } from '../../simulators/index.ts';
import { FFMPEG_INSTALL_HINT, findExecutable } from '../../video/index.ts';

export const hasFfmpeg = findExecutable('ffmpeg') !== undefined && findExecutable('ffprobe') !== undefined;
export const hasGst = findGstPython() !== null;
export const VIDEO_HINT = `needs ffmpeg and GStreamer's RTSP server: ${FFMPEG_INSTALL_HINT} && ${GST_INSTALL_HINT}`;
if ((!hasFfmpeg || !hasGst) && process.env.CI === 'true') throw new Error(`CI ${VIDEO_HINT}`);

export interface LiveViewer {
  ws: WebSocket;
  header: Promise<Buffer>;
  /** Bytes received after the header. */
  bytes(): number;
  data(): Buffer;
  closed: Promise<{ code: number; reason: string }>;
  /** The HTTP status when the upgrade was refused. */
  refused: Promise<number>;
  openedAt: number;
  firstDataAt(): number | undefined;
}

export function viewLive(
  httpUrl: string,
  cameraId: string,
  token?: string,
  extra: { cookie?: string; origin?: string } = {},
): LiveViewer {
  const url = `${httpUrl.replace(/^http/, 'ws')}/api/cameras/${cameraId}/live`;
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (extra.cookie) headers.cookie = extra.cookie;
  const ws = new WebSocket(url, { headers, ...(extra.origin ? { origin: extra.origin } : {}) });
  const chunks: Buffer[] = [];
  let size = 0;
  let first: number | undefined;
  let gotHeader: (b: Buffer) => void;
  const header = new Promise<Buffer>((r) => {
    gotHeader = r;
  });
  let n = 0;
  ws.on('message', (d: Buffer) => {
    if (n++ === 0) return gotHeader(d);
    first ??= Date.now();
    chunks.push(d);
    size += d.length;
  });
  const closed = new Promise<{ code: number; reason: string }>((r) =>
    ws.on('close', (code, reason) => r({ code, reason: reason.toString() })),
  );
  const refused = new Promise<number>((r) =>
    ws.on('unexpected-response', (_req, res) => r(res.statusCode ?? 0)),
  );
  ws.on('error', () => {});
  return {
    ws,
    header,
    closed,
    refused,
    openedAt: Date.now(),
    firstDataAt: () => first,
    bytes: () => size,
    data: () => Buffer.concat(chunks),
  };
}

/** Every 188th byte is the MPEG-TS sync byte and the stream is whole packets. */
export function tsProblem(data: Buffer): string | undefined {
  if (data.length === 0) return 'no data';
  if (data.length % 188 !== 0) return `${data.length} bytes is not a whole number of 188-byte packets`;
  for (let i = 0; i < data.length; i += 188) if (data[i] !== 0x47) return `no sync byte at ${i}`;
  return undefined;
}
