/**
 * A camera's live view (issue 12): jsmpeg (bundled, no CDN) on the WebSocket
 * `/api/cameras/:id/live` — the 8-byte `jsmp` header, then MPEG-1 video in MPEG-TS — drawing into a
 * canvas. The browser sends the session cookie with the upgrade; the hub checks it and the page's
 * Origin. It starts on a click (case and device pages) or while on screen (the camera wall), and
 * stops when it leaves, so the hub's transcode stops a few seconds later.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { useApp } from '../app.tsx';

export interface LiveViewProps {
  cameraId: string;
  /** A still to show before playing (e.g. `/api/media/:id` of the detection's picture). */
  still?: string | null;
  /** Play while the view is on screen (camera wall) instead of on a click. */
  whenVisible?: boolean;
}

type Player = { destroy(): void };

export function LiveView(props: LiveViewProps) {
  const { m } = useApp();
  const [playing, setPlaying] = useState(false);
  const [visible, setVisible] = useState(false);
  const [frames, setFrames] = useState(0);
  const box = useRef<HTMLElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const on = props.whenVisible ? visible : playing;

  useEffect(() => {
    if (!props.whenVisible || !box.current) return;
    const io = new IntersectionObserver((entries) => setVisible(entries.some((e) => e.isIntersecting)));
    io.observe(box.current);
    return () => io.disconnect();
  }, [props.whenVisible]);

  useEffect(() => {
    if (!on || !canvas.current) return;
    let alive = true;
    let player: Player | undefined;
    let count = 0;
    void import('@cycjimmy/jsmpeg-player').then(({ default: JSMpeg }) => {
      if (!alive || !canvas.current) return;
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      player = new JSMpeg.Player(
        `${scheme}://${location.host}/api/cameras/${encodeURIComponent(props.cameraId)}/live`,
        {
          canvas: canvas.current,
          audio: false,
          autoplay: true,
          // The JavaScript decoder: the page's CSP allows no WebAssembly compilation.
          disableWebAssembly: true,
          videoBufferSize: 2 * 1024 * 1024,
          onVideoDecode: () => {
            count++;
            // Re-render rarely: the first frame and then once a second at 25 fps.
            if (count === 1 || count % 25 === 0) setFrames(count);
          },
        },
      ) as Player;
    });
    return () => {
      alive = false;
      player?.destroy();
      setFrames(0);
    };
  }, [on, props.cameraId]);

  return (
    <figure class="live-view" data-camera={props.cameraId} data-frames={frames} ref={box}>
      {on ? (
        <canvas ref={canvas} aria-label={`${m.cameraLive} ${props.cameraId}`} />
      ) : props.still ? (
        <img src={props.still} alt={`${m.snapshot} ${props.cameraId}`} />
      ) : (
        <div class="live-placeholder" role="img" aria-label={m.cameraLive}>
          ▶
        </div>
      )}
      <figcaption class="muted">
        {m.cameraLive}: {props.cameraId}
        {on && frames === 0 ? ` — ${m.cameraConnecting}` : ''}
        {!props.whenVisible && (
          <>
            {' '}
            <button type="button" class="linkish" onClick={() => setPlaying(!playing)}>
              {playing ? m.cameraStop : m.cameraPlay}
            </button>
          </>
        )}
      </figcaption>
    </figure>
  );
}
