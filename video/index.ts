export { type VideoConfig, videoConfigSchema } from './config.ts';
export { FFMPEG_INSTALL_HINT, findExecutable, grabStill, killGroup } from './ffmpeg.ts';
export { jsmpegHeader, mpeg1Size, TS_PACKET, TsPacketizer } from './mpegts.ts';
export { createVideo, type Video, type VideoDeps } from './service.ts';
export { memorySlots, type StreamSlots } from './slots.ts';
export { backoffMs, type StreamState } from './stream.ts';
export { checkUrl, redact, snapshotAllowed } from './url.ts';
