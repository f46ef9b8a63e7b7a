#!/usr/bin/env python3
"""A simulated IP camera: GStreamer's RTSP server (Debian python3-gi + gir1.2-gst-rtsp-server-1.0)
serving a moving test pattern as H.264 over RTSP on loopback.

    rtsp-camera.py [--port 0] [--mount NAME[:WIDTHxHEIGHT[:FPS]]]...

Binds 127.0.0.1 only. Port 0 picks a free port. When ready it prints one JSON line on stdout:
{"ready": true, "port": N, "mounts": ["/NAME", ...]}. It exits when stdin closes (its parent is
gone), on SIGTERM or SIGINT, so it never outlives whoever started it.

Packages: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly (x264enc) gstreamer1.0-rtsp.
"""
import argparse
import json
import re
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PATTERNS = ["ball", "smpte", "snow", "pinwheel", "spokes", "gamut", "zone-plate", "bar"]


def mount_spec(text):
    m = re.fullmatch(r"([A-Za-z0-9_.-]{1,64})(?::(\d{2,4})x(\d{2,4}))?(?::(\d{1,2}))?", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected NAME[:WIDTHxHEIGHT[:FPS]], got {text!r}")
    name, w, h, fps = m.groups()
    return {"name": name, "width": int(w or 640), "height": int(h or 480), "fps": int(fps or 25)}


def launch_line(spec, index):
    # A moving pattern (the ball moves; others animate with horizontal-speed) so every frame differs.
    pattern = PATTERNS[index % len(PATTERNS)]
    caps = f"video/x-raw,width={spec['width']},height={spec['height']},framerate={spec['fps']}/1"
    return (
        f"( videotestsrc is-live=true pattern={pattern} horizontal-speed=2 ! {caps} ! "
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={spec['fps'] * 2} "
        f"bitrate={max(200, spec['width'] * spec['height'] // 600)} ! "
        "rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def main():
    ap = argparse.ArgumentParser(description="simulated RTSP camera (loopback only)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mount", type=mount_spec, action="append", default=[])
    args = ap.parse_args()
    mounts = args.mount or [mount_spec("cam")]

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    table = server.get_mount_points()
    for i, spec in enumerate(mounts):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(spec, i))
        factory.set_shared(True)  # several viewers of one camera share its encoder, like a real one
        table.add_factory(f"/{spec['name']}", factory)
    if server.attach(None) == 0:
        print(json.dumps({"ready": False, "error": f"cannot listen on 127.0.0.1:{args.port}"}), flush=True)
        return 1

    loop = GLib.MainLoop()

    def quit_loop(*_):
        loop.quit()
        return False

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, quit_loop)
    # stdin closing means the parent went away: stop with it.
    GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_HUP | GLib.IO_ERR | GLib.IO_IN, lambda *_: quit_loop())
    print(
        json.dumps({"ready": True, "port": server.get_bound_port(), "mounts": [f"/{m['name']}" for m in mounts]}),
        flush=True,
    )
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
