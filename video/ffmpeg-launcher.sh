#!/bin/sh
# ffmpeg launcher for node-rtsp-stream's Mpeg1Muxer (video/stream.ts), which runs
#   <ffmpegPath> -i URL -f mpegts -codec:v mpeg1video <output options> -
# Input options must come before -i, so they are added here, from GRIDHUB_FFMPEG_* variables the
# hub sets for each spawn:
#   -protocol_whitelist  only the protocols an RTSP(S) camera needs (never file:, http: …)
#   -rtsp_transport      tcp by default (interleaved; works through NAT and firewalls)
#   -timeout             socket I/O timeout, so a silent camera ends ffmpeg instead of hanging it
# It also makes ffmpeg the child of a new session and process group (setsid), so the hub can stop
# the whole group, and maps ffmpeg's exit code 1 to 3: the muxer writes to console.error on code 1,
# and the hub logs exits itself (structured, credentials redacted).
if [ -z "$GRIDHUB_FFMPEG_GROUP" ] && command -v setsid >/dev/null 2>&1; then
  GRIDHUB_FFMPEG_GROUP=1 exec setsid "$0" "$@"
fi
"${GRIDHUB_FFMPEG:-ffmpeg}" -hide_banner -nostdin -nostats -loglevel "${GRIDHUB_FFMPEG_LOGLEVEL:-warning}" \
  -protocol_whitelist "${GRIDHUB_FFMPEG_WHITELIST:-rtsp,rtsps,rtp,srtp,tcp,udp,tls}" \
  -rtsp_transport "${GRIDHUB_FFMPEG_TRANSPORT:-tcp}" -timeout "${GRIDHUB_FFMPEG_TIMEOUT_US:-5000000}" \
  -allowed_media_types video "$@"
code=$?
if [ "$code" -eq 1 ]; then exit 3; fi
exit "$code"
