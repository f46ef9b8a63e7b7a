/**
 * A device's online history: the connected and disconnected periods the hub recorded
 * (GET /api/devices/:id/presence), drawn as one bar per period on a time axis (an ECharts custom
 * series), with the share of time online and the latest changes as text for screen readers.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { PresenceView } from '../../../../domain/index.ts';
import { api, qs } from '../api.ts';
import { useApp, useData } from '../app.tsx';
import { onLive } from '../data.ts';
import { fmtTime } from '../i18n.ts';
import { AXIS_TIME, Chart } from './chart.tsx';
import { ErrorBox } from './ui.tsx';

const HOURS = [24, 24 * 7, 24 * 30] as const;
const ONLINE = '#12b76a';
const OFFLINE = '#98a2b3';

export function PresenceTimeline(props: { deviceId: string }) {
  const { m, lang } = useApp();
  const [hours, setHours] = useState<number>(24);
  // Recomputed on each load so the window ends now (a live change reloads it).
  const [tick, setTick] = useState(0);
  const to = useMemo(() => Date.now(), [hours, tick]);
  const from = to - hours * 3_600_000;
  const hist = useData(
    () =>
      api.get<PresenceView>(
        `/api/devices/${encodeURIComponent(props.deviceId)}/presence${qs({
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
        })}`,
      ),
    [props.deviceId, from, to],
  );
  useEffect(
    () =>
      onLive(
        (e) => e.type === 'device' && e.deviceId === props.deviceId,
        () => setTick((t) => t + 1),
        500,
      ),
    [props.deviceId],
  );
  const items = hist.data?.items ?? [];
  const onlineMs = items
    .filter((p) => p.online)
    .reduce((s, p) => s + Date.parse(p.to) - Date.parse(p.from), 0);
  const knownMs = items.reduce((s, p) => s + Date.parse(p.to) - Date.parse(p.from), 0);
  const option = useMemo(
    () => ({
      grid: { left: 16, right: 16, top: 10, bottom: 30, containLabel: false },
      tooltip: {
        trigger: 'item',
        formatter: (p: { value: [number, number, number] }) =>
          `${p.value[2] ? m.online : m.offlineDev}<br/>${fmtTime(lang, p.value[0])} – ${fmtTime(lang, p.value[1])}`,
      },
      xAxis: { ...AXIS_TIME, min: from, max: to },
      yAxis: { type: 'category', data: [''], show: false },
      series: [
        {
          type: 'custom',
          encode: { x: [0, 1] },
          data: items.map((p) => [Date.parse(p.from), Date.parse(p.to), p.online ? 1 : 0]),
          renderItem: (
            _params: unknown,
            api: {
              value(i: number): number;
              coord(v: [number, number]): [number, number];
              size(v: [number, number]): [number, number];
            },
          ) => {
            const start = api.coord([api.value(0), 0]);
            const end = api.coord([api.value(1), 0]);
            const h = api.size([0, 1])[1] * 0.6;
            return {
              type: 'rect',
              shape: { x: start[0], y: start[1] - h / 2, width: Math.max(1, end[0] - start[0]), height: h },
              style: { fill: api.value(2) ? ONLINE : OFFLINE },
            };
          },
        },
      ],
    }),
    [hist.data, lang],
  );
  return (
    <div data-testid="presence">
      <div class="filters">
        <label class="filter" for="presence-range">
          <span>{m.range}</span>
          <select
            id="presence-range"
            value={String(hours)}
            onChange={(e) => setHours(Number((e.target as HTMLSelectElement).value))}
          >
            {HOURS.map((h) => (
              <option key={h} value={String(h)}>
                {m.lastHours(h)}
              </option>
            ))}
          </select>
        </label>
        {knownMs > 0 && (
          <p class="muted" data-testid="presence-share">
            {m.onlineShare}: {((onlineMs / knownMs) * 100).toFixed(1)}%
          </p>
        )}
      </div>
      <ErrorBox error={hist.error} />
      {hist.data && items.length === 0 && <p class="muted">{m.noHistory}</p>}
      {items.length > 0 && (
        <>
          <Chart option={option} label={`${m.onlineHistory} ${props.deviceId}`} height={90} />
          <p class="legend-inline" aria-hidden="true">
            <span class="swatch" style={{ background: ONLINE }} /> {m.online}{' '}
            <span class="swatch" style={{ background: OFFLINE }} /> {m.offlineDev}
          </p>
          <ul class="presence-list">
            {items
              .slice(-6)
              .reverse()
              .map((p) => (
                <li key={p.from}>
                  <span class={`badge dev-${p.online ? 'online' : 'offline'}`}>
                    {p.online ? m.online : m.offlineDev}
                  </span>{' '}
                  {fmtTime(lang, p.from)} – {fmtTime(lang, p.to)}
                </li>
              ))}
          </ul>
        </>
      )}
    </div>
  );
}
