/** 一张图: the district map, KPI tiles and the live case feed; `/overview/wall` is the 大屏 mode. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, qs } from '../api.ts';
import { categoryName, Link, navigate, useApp, useData } from '../app.tsx';
import { GridMap } from '../components/grid-map.tsx';
import { ErrorBox, pct, StatusBadge, Tile, UrgencyBadge } from '../components/ui.tsx';
import {
  allDevices,
  areaIndex,
  type CaseView,
  type DeviceView,
  gridFeatures,
  gridTree,
  monthStart,
  onLive,
  type Page,
  type Summary,
} from '../data.ts';
import { fmtTime } from '../i18n.ts';
import { subscribe } from '../live.ts';

export default function Overview(props: { wall: boolean }) {
  const app = useApp();
  const { m, lang } = app;
  const { data: fc, error: fcErr } = useData(gridFeatures, []);
  const { data: tree } = useData(gridTree, []);
  const summary = useData(() => api.get<Summary>('/api/cases/summary'), []);
  const feed = useData(() => api.get<Page<CaseView>>(`/api/cases${qs({ limit: 12 })}`), []);
  const kpi = useData(
    () =>
      api.get<{ total: { closedRate: number | null; onTimeRate: number | null } }>(
        `/api/kpis${qs({ from: new Date(monthStart()).toISOString(), to: new Date(Date.now() + 86_400_000).toISOString(), level: 'district' })}`,
      ),
    [],
  );
  const [devices, setDevices] = useState<DeviceView[]>([]);
  useEffect(() => {
    void allDevices().then(setDevices, () => {});
    return subscribe((e) => {
      if (e.type === 'device')
        setDevices((ds) => ds.map((d) => (d.id === e.deviceId ? { ...d, status: e.status } : d)));
    });
  }, []);
  useEffect(
    () =>
      onLive(
        (e) => e.type === 'case',
        () => {
          summary.reload();
          feed.reload();
          kpi.reload();
        },
      ),
    [],
  );
  // The wall runs unattended: refresh everything now and then even without events.
  useEffect(() => {
    if (!props.wall) return;
    const t = setInterval(() => {
      summary.reload();
      kpi.reload();
      void allDevices().then(setDevices, () => {});
    }, 60_000);
    return () => clearInterval(t);
  }, [props.wall]);
  useEffect(() => {
    document.title = `${m.overview} · gridhub`;
  }, [m]);

  const index = useMemo(() => areaIndex(tree?.items ?? []), [tree]);
  const district = tree?.items[0]?.code ?? '';
  const [area, setArea] = useState<string>('');
  const current = area || district;
  const crumbs: string[] = [];
  for (const len of [6, 9, 12, 15]) if (current.length >= len && current) crumbs.push(current.slice(0, len));
  const node = index.get(current);
  const nameOf = (code: string) => index.get(code)?.name ?? code;
  const drill = (grid: string) => {
    if (current.length >= 12) navigate(`/grids/${grid}`);
    else setArea(grid.slice(0, current.length + 3));
  };
  const s = summary.data;
  // Wall mode: Escape leaves it. In full screen the browser takes that Escape itself (the page
  // never sees the key) and ends full screen, which then leaves wall mode too.
  useEffect(() => {
    if (!props.wall) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      if (document.fullscreenElement) void document.exitFullscreen().catch(() => {});
      navigate('/overview');
    };
    let wasFull = !!document.fullscreenElement;
    const onFull = () => {
      if (wasFull && !document.fullscreenElement) navigate('/overview');
      wasFull = !!document.fullscreenElement;
    };
    window.addEventListener('keydown', onKey);
    document.addEventListener('fullscreenchange', onFull);
    return () => {
      window.removeEventListener('keydown', onKey);
      document.removeEventListener('fullscreenchange', onFull);
    };
  }, [props.wall]);
  return (
    <div class={props.wall ? 'overview wall-grid' : 'overview'}>
      <div class="overview-head">
        <h1>
          {m.overview} · {nameOf(district) || m.allDistrict}
        </h1>
        {props.wall ? (
          <div class="wall-tools">
            <span class="clock">{fmtTime(lang, Date.now())}</span>
            <button
              type="button"
              class="ghost"
              onClick={() => {
                if (document.fullscreenElement) void document.exitFullscreen();
                navigate('/overview');
              }}
            >
              {m.exitWall}
            </button>
          </div>
        ) : (
          <button
            type="button"
            onClick={() => {
              navigate('/overview/wall');
              void document.documentElement.requestFullscreen?.().catch(() => {});
            }}
          >
            {m.wall}
          </button>
        )}
      </div>
      <div class="tiles" aria-live="polite">
        <Tile label={m.open} value={s?.open ?? '—'} testid="kpi-open" />
        <Tile
          label={m.overdue}
          value={s?.overdue ?? '—'}
          tone={s?.overdue ? 'bad' : undefined}
          testid="kpi-overdue"
        />
        <Tile label={m.closed} value={s?.byStatus.closed ?? (s ? 0 : '—')} tone="ok" testid="kpi-closed" />
        <Tile
          label={`${m.closedRate} (${m.thisMonth})`}
          value={pct(kpi.data?.total.closedRate)}
          testid="kpi-closed-rate"
        />
        <Tile
          label={`${m.onTimeRate} (${m.thisMonth})`}
          value={pct(kpi.data?.total.onTimeRate)}
          testid="kpi-ontime-rate"
        />
      </div>
      <div class="overview-body">
        <section class="card map-card" aria-labelledby="map-h">
          <div class="map-head">
            <h2 id="map-h" class="sr-only">
              {m.map}
            </h2>
            <nav aria-label={m.map} class="crumbs">
              {crumbs.map((c, i) => (
                <span key={c}>
                  {i > 0 && ' › '}
                  {c === current ? (
                    <strong>{nameOf(c)}</strong>
                  ) : (
                    <button type="button" class="link" onClick={() => setArea(c)}>
                      {nameOf(c)}
                    </button>
                  )}
                </span>
              ))}
            </nav>
          </div>
          <ErrorBox error={fcErr} />
          {fc && district && (
            <GridMap
              features={fc}
              area={current}
              summary={s}
              devices={devices}
              dark={props.wall}
              height={props.wall ? 'calc(100vh - 260px)' : 520}
              label={`${m.map}: ${nameOf(current)}`}
              onGrid={drill}
              onDevice={(id) => navigate(`/devices/${encodeURIComponent(id)}`)}
              testid="overview-map"
            />
          )}
          {node && node.children.length > 0 && (
            <ul class="area-list" aria-label={nameOf(current)}>
              {node.children.map((c) => {
                const open = Object.entries(s?.byGrid ?? {})
                  .filter(([g]) => g.startsWith(c.code))
                  .reduce((n, [, v]) => n + v.open, 0);
                return (
                  <li key={c.code}>
                    {c.level === 'grid' ? (
                      <Link href={`/grids/${c.code}`}>
                        {c.name ?? c.code} <span class="count">{open}</span>
                      </Link>
                    ) : (
                      <button type="button" class="chip" onClick={() => setArea(c.code)}>
                        {c.name ?? c.code} <span class="count">{open}</span>
                      </button>
                    )}
                  </li>
                );
              })}
            </ul>
          )}
        </section>
        <section class="card feed" aria-labelledby="feed-h">
          <h2 id="feed-h">{m.liveFeed}</h2>
          <ErrorBox error={feed.error} />
          <ol class="feed-list" data-testid="case-feed">
            {(feed.data?.items ?? []).map((c) => (
              <li key={c.id} class={c.overdue ? 'overdue' : ''}>
                <Link href={`/cases/${c.id}`}>
                  <span class="feed-top">
                    <UrgencyBadge urgency={c.urgency} /> <strong>{categoryName(app, c.category)}</strong>
                  </span>
                  <span class="feed-meta">
                    {nameOf(c.gridCode ?? '')} · {fmtTime(lang, c.openedAt)} ·{' '}
                    <StatusBadge status={c.status} />
                  </span>
                </Link>
              </li>
            ))}
          </ol>
        </section>
      </div>
    </div>
  );
}
