/**
 * The place for a camera's live view (issue 12): a jsmpeg player on the WebSocket
 * `/api/cameras/:id/live` (MPEG-1 in MPEG-TS, authenticated by the session cookie) drawing into
 * this canvas. Until the camera module is there it shows the still (snapshot) if there is one.
 */
import { useApp } from '../app.tsx';

export interface LiveViewProps {
  cameraId: string;
  /** A still to show (e.g. `/api/media/:id` of the detection snapshot). */
  still?: string | null;
}

export function LiveView(props: LiveViewProps) {
  const { m } = useApp();
  return (
    <figure class="live-view" data-camera={props.cameraId}>
      {props.still ? (
        <img src={props.still} alt={`${m.snapshot} ${props.cameraId}`} />
      ) : (
        <div class="live-placeholder" role="img" aria-label={m.cameraLive}>
          ▶
        </div>
      )}
      <figcaption class="muted">
        {m.cameraLive}: {props.cameraId} — {m.cameraPending}
      </figcaption>
    </figure>
  );
}
