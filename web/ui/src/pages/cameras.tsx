/** The camera wall: the cameras of a grid, community or street, each tile live while on screen. */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Link, navigate, useApp, useData } from '../app.tsx';
import { LiveView } from '../components/live-view.tsx';
import { ErrorBox } from '../components/ui.tsx';
import type { CameraView, Page } from '../data.ts';

export default function CamerasPage(props: { gridCode: string }) {
  const { m } = useApp();
  const [code, setCode] = useState(props.gridCode);
  const { data, error, reload } = useData(
    () =>
      api.get<Page<CameraView>>(
        `/api/cameras?limit=200${props.gridCode ? `&gridCode=${encodeURIComponent(props.gridCode)}` : ''}`,
      ),
    [props.gridCode],
  );
  useEffect(() => {
    document.title = `${m.cameraWall} · gridhub`;
    // Stream states change on their own (retrying, failed): refresh them now and then.
    const t = setInterval(reload, 10_000);
    return () => clearInterval(t);
  }, []);
  if (error) return <ErrorBox error={error} />;
  return (
    <div>
      <h1>{m.cameraWall}</h1>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(code ? `/cameras?gridCode=${encodeURIComponent(code)}` : '/cameras');
        }}
      >
        <label>
          {m.gridOrStreet}{' '}
          <input
            value={code}
            inputMode="numeric"
            pattern="[0-9]{6,15}"
            onInput={(e) => setCode(e.currentTarget.value)}
          />
        </label>{' '}
        <button type="submit">{m.filter}</button>
      </form>
      {!data ? (
        <p class="muted">{m.loading}</p>
      ) : data.items.length === 0 ? (
        <p class="muted">{m.noCameras}</p>
      ) : (
        <div class="camera-wall" data-testid="camera-wall">
          {data.items.map((c) => (
            <div key={c.id} class="camera-tile">
              <LiveView cameraId={c.id} whenVisible />
              <p>
                <Link href={`/devices/${encodeURIComponent(c.id)}`}>{c.name || c.id}</Link>{' '}
                <span class={`badge stream-${c.stream.state}`}>
                  {m.streamStates[c.stream.state] ?? c.stream.state}
                </span>
                {c.stream.lastError && c.stream.state !== 'live' && (
                  <span class="muted"> {c.stream.lastError}</span>
                )}
              </p>
            </div>
          ))}
        </div>
      )}
    </div>
  );
}
