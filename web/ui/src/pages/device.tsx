/** A device: latest values, trends, attributes, and for admins token rotation and revocation. */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { Link, useApp, useData } from '../app.tsx';
import { LiveView } from '../components/live-view.tsx';
import { PresenceTimeline } from '../components/presence.tsx';
import { TrendPanel } from '../components/trend.tsx';
import { ErrorBox, Section } from '../components/ui.tsx';
import { type DeviceDetail, onLive } from '../data.ts';
import { fmtTime } from '../i18n.ts';

export default function DevicePage(props: { id: string }) {
  const { m, lang, me } = useApp();
  const {
    data: d,
    error,
    reload,
  } = useData(() => api.get<DeviceDetail>(`/api/devices/${encodeURIComponent(props.id)}`), [props.id]);
  const [token, setToken] = useState<string | null>(null);
  const [tokErr, setTokErr] = useState<unknown>(null);
  const [revoked, setRevoked] = useState(false);
  useEffect(() => onLive((e) => e.type === 'device' && e.deviceId === props.id, reload, 300), [props.id]);
  useEffect(() => {
    document.title = `${props.id} · gridhub`;
  }, [props.id]);
  if (error) return <ErrorBox error={error} />;
  if (!d) return <p class="muted">{m.loading}</p>;
  const latest = d.latest;
  const numericKeys = Object.entries(latest)
    .filter(([, v]) => typeof v.value === 'number')
    .map(([k]) => k);
  return (
    <div>
      <h1>
        {d.name || d.id} <span class="muted mono">{d.id}</span>
      </h1>
      <p>
        <span class={`badge dev-${d.status}`}>{d.status === 'online' ? m.online : m.offlineDev}</span> ·{' '}
        {m.profile}: {d.profile}
        {d.gridCode && (
          <>
            {' · '}
            {m.grid}: <Link href={`/grids/${d.gridCode}`}>{d.gridCode}</Link>
          </>
        )}{' '}
        · {m.lastSeen}: {fmtTime(lang, d.lastSeen)}
      </p>
      {d.profile === 'camera' && <LiveView cameraId={d.id} />}
      <div class="two-col">
        <Section title={m.latest} id="latest">
          <dl class="kv" data-testid="latest">
            {Object.entries(latest).map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>
                  {typeof v.value === 'number' ? +v.value.toFixed(3) : JSON.stringify(v.value)}{' '}
                  <span class="muted">{fmtTime(lang, v.ts)}</span>
                </dd>
              </div>
            ))}
          </dl>
        </Section>
        <Section title={m.attributes} id="attributes">
          <dl class="kv">
            {Object.entries({ ...d.serverAttributes, ...d.sharedAttributes, ...d.clientAttributes }).map(
              ([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd class="mono">{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
                </div>
              ),
            )}
          </dl>
          {me.role === 'admin' && (
            <div class="action-row">
              <button
                type="button"
                onClick={async () => {
                  setTokErr(null);
                  try {
                    setToken(
                      (
                        await api.post<{ accessToken: string }>(
                          `/api/devices/${encodeURIComponent(d.id)}/token`,
                        )
                      ).accessToken,
                    );
                    setRevoked(false);
                  } catch (e) {
                    setTokErr(e);
                  }
                }}
              >
                {m.rotateToken}
              </button>
              <button
                type="button"
                class="danger"
                onClick={async () => {
                  if (!confirm(m.confirmRevoke)) return;
                  setTokErr(null);
                  try {
                    await api.del(`/api/devices/${encodeURIComponent(d.id)}/token`);
                    setToken(null);
                    setRevoked(true);
                  } catch (e) {
                    setTokErr(e);
                  }
                }}
              >
                {m.revokeToken}
              </button>
            </div>
          )}
          {token && (
            <p class="notice" role="status">
              {m.tokenOnce} <code class="mono">{token}</code>
            </p>
          )}
          {revoked && (
            <p class="notice" role="status">
              {m.revoked}
            </p>
          )}
          <ErrorBox error={tokErr} />
        </Section>
      </div>
      <Section title={m.onlineHistory} id="presence">
        <PresenceTimeline deviceId={d.id} />
      </Section>
      {numericKeys.length > 0 && (
        <Section title={m.trend} id="trends">
          <TrendPanel
            base={`/api/devices/${encodeURIComponent(d.id)}/series`}
            keys={numericKeys}
            idPrefix="dev"
          />
        </Section>
      )}
    </div>
  );
}
