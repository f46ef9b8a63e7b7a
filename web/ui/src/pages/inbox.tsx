/** The case inbox: filters (kept in the URL), sort, cursor paging; live. */

import { useEffect, useMemo, useState } from 'preact/hooks';
import { CASE_STATUSES } from '../../../../domain/index.ts';
import { api, qs } from '../api.ts';
import { categoryName, Link, navigate, useApp, useData } from '../app.tsx';
import { ErrorBox, StatusBadge, UrgencyBadge } from '../components/ui.tsx';
import { areaIndex, type CaseView, gridTree, onLive, type Page } from '../data.ts';
import { fmtTime } from '../i18n.ts';

const FILTERS = ['status', 'gridCode', 'category', 'urgency', 'overdue', 'source', 'sort', 'order'] as const;
/** Sorted on the server (GET /api/cases?sort=&order=), so paging stays correct across pages. */
const SORTS = ['opened', 'deadline', 'urgency', 'updated'] as const;
type Sort = (typeof SORTS)[number];
const PAGE = 25;

export default function Inbox(props: { params: URLSearchParams }) {
  const app = useApp();
  const { m, lang } = app;
  const f = Object.fromEntries(FILTERS.map((k) => [k, props.params.get(k) ?? ''])) as Record<
    (typeof FILTERS)[number],
    string
  >;
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const key = FILTERS.map((k) => f[k]).join('|');
  useEffect(() => setCursors([]), [key]);
  const list = useData(
    () => api.get<Page<CaseView>>(`/api/cases${qs({ ...f, limit: PAGE, cursor })}`),
    [key, cursor],
  );
  useEffect(() => onLive((e) => e.type === 'case', list.reload), [key, cursor]);
  const { data: tree } = useData(gridTree, []);
  const areas = useMemo(() => [...areaIndex(tree?.items ?? []).values()], [tree]);
  const nameOf = (code: string | null) => (code && areas.find((a) => a.code === code)?.name) || code || '—';
  useEffect(() => {
    document.title = `${m.inbox} · gridhub`;
  }, [m]);
  const set = (k: string, v: string) => {
    const p = new URLSearchParams(props.params);
    if (v) p.set(k, v);
    else p.delete(k);
    const s = p.toString();
    navigate(`/cases${s ? `?${s}` : ''}`, true);
  };
  const sel = (k: (typeof FILTERS)[number], label: string, options: [string, string][]) => (
    <label class="filter">
      <span>{label}</span>
      <select value={f[k]} onChange={(e) => set(k, (e.target as HTMLSelectElement).value)} name={k}>
        {options.map(([v, l]) => (
          <option key={v} value={v}>
            {l}
          </option>
        ))}
      </select>
    </label>
  );
  const all: [string, string] = ['', m.all];
  const sort = (f.sort || 'opened') as Sort;
  const ariaSort = (k: Sort) =>
    k === sort ? (f.order === 'asc' ? ('ascending' as const) : ('descending' as const)) : undefined;
  return (
    <div>
      <h1>{m.inbox}</h1>
      <form class="filters card" aria-label={m.filter} onSubmit={(e) => e.preventDefault()}>
        {sel('status', m.status, [all, ...CASE_STATUSES.map((s): [string, string] => [s, m.statuses[s]])])}
        {sel('gridCode', m.grid, [
          all,
          ...areas.map((a): [string, string] => [
            a.code,
            `${'  '.repeat((a.code.length - 6) / 3)}${a.name ?? a.code}`,
          ]),
        ])}
        {sel('category', m.category, [
          all,
          ...[...app.categories.values()].map((c): [string, string] => [
            c.code,
            `${c.code} ${categoryName(app, c.code)}`,
          ]),
        ])}
        {sel('urgency', m.urgency, [
          all,
          ['urgent', m.urgencies.urgent],
          ['normal', m.urgencies.normal],
          ['low', m.urgencies.low],
        ])}
        {sel('overdue', m.overdue, [all, ['true', m.yes], ['false', m.no]])}
        {sel('source', m.source, [all, ['sensor', m.sensor], ['report', m.report]])}
        {sel(
          'sort',
          m.sortBy,
          SORTS.map((k): [string, string] => [k === 'opened' ? '' : k, m.sorts[k]]),
        )}
        {sel('order', m.order, [
          ['', m.orders[sort][0]],
          ['asc', m.orders[sort][1]],
        ])}
      </form>
      <ErrorBox error={list.error} />
      <div class="card table-card">
        <table class="table" data-testid="inbox">
          <caption class="sr-only">{m.inbox}</caption>
          <thead>
            <tr>
              <th scope="col">{m.caseId}</th>
              <th scope="col">{m.category}</th>
              <th scope="col">{m.grid}</th>
              <th scope="col" aria-sort={ariaSort('urgency')}>
                {m.urgency}
              </th>
              <th scope="col">{m.status}</th>
              <th scope="col" aria-sort={ariaSort('opened')}>
                {m.openedAt}
              </th>
              <th scope="col" aria-sort={ariaSort('deadline')}>
                {m.deadline}
              </th>
              <th scope="col">{m.assignee}</th>
            </tr>
          </thead>
          <tbody>
            {(list.data?.items ?? []).map((c) => (
              <tr key={c.id} class={c.overdue ? 'overdue' : ''}>
                <td>
                  <Link href={`/cases/${c.id}`}>{c.id}</Link>
                </td>
                <td>{categoryName(app, c.category)}</td>
                <td>{nameOf(c.gridCode)}</td>
                <td>
                  <UrgencyBadge urgency={c.urgency} />
                </td>
                <td>
                  <StatusBadge status={c.status} />
                </td>
                <td>{fmtTime(lang, c.openedAt)}</td>
                <td class={c.overdue ? 'bad-text' : ''}>{fmtTime(lang, c.deadline)}</td>
                <td>{c.assignee ? (app.units.get(c.assignee)?.name ?? c.assignee) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {list.data && list.data.items.length === 0 && <p class="muted pad">{m.noCases}</p>}
        <div class="pager">
          <button
            type="button"
            disabled={cursors.length === 0}
            onClick={() => setCursors((c) => c.slice(0, -1))}
          >
            ‹ {m.prev}
          </button>
          <button
            type="button"
            disabled={!list.data?.next}
            onClick={() => list.data?.next && setCursors((c) => [...c, list.data!.next!])}
          >
            {m.next} ›
          </button>
        </div>
      </div>
    </div>
  );
}
