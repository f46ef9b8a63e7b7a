/** A grid (or any area): its map, devices, cases and an aggregate trend. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, qs } from '../api.ts';
import { categoryName, Link, useApp, useData } from '../app.tsx';
import { GridMap } from '../components/grid-map.tsx';
import { TrendPanel } from '../components/trend.tsx';
import { ErrorBox, Section, StatusBadge, UrgencyBadge } from '../components/ui.tsx';
import {
  allDevices,
  areaIndex,
  type CaseView,
  gridFeatures,
  gridTree,
  onLive,
  type Page,
  type Summary,
} from '../data.ts';
import { fmtTime } from '../i18n.ts';
import { PROFILES_KEYS } from '../profiles.ts';

export default function GridPage(props: { code: string }) {
  const app = useApp();
  const { m, lang } = app;
  const { data: fc } = useData(gridFeatures, []);
  const { data: tree } = useData(gridTree, []);
  const devices = useData(() => allDevices({ gridCode: props.code }), [props.code]);
  const cases = useData(
    () => api.get<Page<CaseView>>(`/api/cases${qs({ gridCode: props.code, limit: 20 })}`),
    [props.code],
  );
  const summary = useData(() => api.get<Summary>('/api/cases/summary'), []);
  useEffect(
    () =>
      onLive(
        (e) => e.type === 'case' && (e.gridCode ?? '').startsWith(props.code),
        () => {
          cases.reload();
          summary.reload();
        },
      ),
    [props.code],
  );
  const name = useMemo(
    () => areaIndex(tree?.items ?? []).get(props.code)?.name ?? props.code,
    [tree, props.code],
  );
  useEffect(() => {
    document.title = `${name} · gridhub`;
  }, [name]);
  const profiles = [...new Set((devices.data ?? []).map((d) => d.profile))];
  const [profile, setProfile] = useState('');
  const p = profile || profiles[0] || '';
  return (
    <div>
      <h1>
        {name} <span class="muted mono">{props.code}</span>
      </h1>
      <div class="two-col">
        <Section title={m.map} id="grid-map">
          {fc && (
            <GridMap
              features={fc}
              area={props.code.length === 15 ? props.code.slice(0, 12) : props.code}
              summary={summary.data}
              devices={devices.data}
              height={340}
              label={`${m.map}: ${name}`}
            />
          )}
        </Section>
        <Section title={m.devicesInGrid} id="grid-devices">
          <ErrorBox error={devices.error} />
          <ul class="plain-list">
            {(devices.data ?? []).map((d) => (
              <li key={d.id}>
                <Link href={`/devices/${encodeURIComponent(d.id)}`}>{d.name || d.id}</Link>{' '}
                <span class={`badge dev-${d.status}`}>{d.status === 'online' ? m.online : m.offlineDev}</span>{' '}
                <span class="muted">{d.profile}</span>
              </li>
            ))}
          </ul>
        </Section>
      </div>
      <Section title={m.casesInGrid} id="grid-cases">
        <ErrorBox error={cases.error} />
        <ul class="plain-list">
          {(cases.data?.items ?? []).map((c) => (
            <li key={c.id}>
              <Link href={`/cases/${c.id}`}>{c.id}</Link> {categoryName(app, c.category)}{' '}
              <UrgencyBadge urgency={c.urgency} /> <StatusBadge status={c.status} />{' '}
              <span class="muted">{fmtTime(lang, c.openedAt)}</span>
            </li>
          ))}
        </ul>
      </Section>
      {p && (
        <Section title={m.gridSeries} id="grid-series">
          <label class="filter" for="grid-profile">
            <span>{m.profile}</span>
            <select
              id="grid-profile"
              value={p}
              onChange={(e) => setProfile((e.target as HTMLSelectElement).value)}
            >
              {profiles.map((x) => (
                <option key={x} value={x}>
                  {x}
                </option>
              ))}
            </select>
          </label>
          <TrendPanel
            key={p}
            base={`/api/grids/${props.code}/series`}
            extra={{ profile: p }}
            keys={PROFILES_KEYS[p] ?? []}
            idPrefix="grid"
          />
        </Section>
      )}
    </div>
  );
}
