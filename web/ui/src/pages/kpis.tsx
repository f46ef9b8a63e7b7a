/** KPIs (绩效评价) by level and period: table, chart, CSV export. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { KpiItem } from '../../../../domain/index.ts';
import { api, qs } from '../api.ts';
import { useApp, useData } from '../app.tsx';
import { Chart } from '../components/chart.tsx';
import { ErrorBox, pct, Section } from '../components/ui.tsx';
import { areaIndex, gridTree, monthStart } from '../data.ts';

type Row = KpiItem;

const DAY = 86_400_000;

export default function Kpis() {
  const app = useApp();
  const { m } = app;
  const [level, setLevel] = useState('street');
  const [period, setPeriod] = useState('month');
  const { from, to } = useMemo(() => {
    const now = Date.now();
    if (period === 'day') return { from: now - DAY, to: now + DAY };
    if (period === 'week') return { from: now - 7 * DAY, to: now + DAY };
    return { from: monthStart(now), to: now + DAY };
  }, [period]);
  const { data, error } = useData(
    () =>
      api.get<{ items: Row[]; total: Row }>(
        `/api/kpis${qs({ level, from: new Date(from).toISOString(), to: new Date(to).toISOString() })}`,
      ),
    [level, from, to],
  );
  const { data: tree } = useData(gridTree, []);
  const index = useMemo(() => areaIndex(tree?.items ?? []), [tree]);
  const label = (k: string | null) =>
    k === null ? '—' : level === 'unit' ? (app.units.get(k)?.name ?? k) : (index.get(k)?.name ?? k);
  useEffect(() => {
    document.title = `${m.kpis} · gridhub`;
  }, [m]);
  const rows = data?.items ?? [];
  const option = useMemo(
    () => ({
      grid: { left: 50, right: 20, top: 40, bottom: 70 },
      tooltip: { trigger: 'axis' },
      legend: { top: 0 },
      xAxis: { type: 'category', data: rows.map((r) => label(r.key)), axisLabel: { rotate: 30 } },
      yAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } },
      series: [
        {
          type: 'bar',
          name: m.closedRate,
          data: rows.map((r) => (r.closedRate ?? 0) * 100),
          itemStyle: { color: '#1769e0' },
        },
        {
          type: 'bar',
          name: m.onTimeRate,
          data: rows.map((r) => (r.onTimeRate ?? 0) * 100),
          itemStyle: { color: '#12b76a' },
        },
      ],
    }),
    [rows, m],
  );
  const cols: [keyof Row, string, (v: unknown) => string][] = [
    ['registered', m.registered, String],
    ['due', m.due, String],
    ['closed', m.closed, String],
    ['onTime', m.onTime, String],
    ['closedRate', m.closedRate, (v) => pct(v as number | null)],
    ['onTimeRate', m.onTimeRate, (v) => pct(v as number | null)],
    ['rework', m.rework, String],
    ['disposalRate', m.disposalRate, (v) => pct(v as number | null)],
  ];
  function csv() {
    const head = [m.name, ...cols.map((c) => c[1])];
    const lines = [head, ...rows.map((r) => [label(r.key), ...cols.map(([k]) => String(r[k] ?? ''))])];
    const text = `\ufeff${lines.map((l) => l.map((x) => `"${x.replace(/"/g, '""')}"`).join(',')).join('\r\n')}\r\n`;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
    a.download = `gridhub-kpis-${level}-${period}.csv`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }
  return (
    <div>
      <h1>{m.kpis}</h1>
      <div class="filters card">
        <label class="filter" for="kpi-level">
          <span>{m.level}</span>
          <select
            id="kpi-level"
            value={level}
            onChange={(e) => setLevel((e.target as HTMLSelectElement).value)}
          >
            <option value="district">{m.district}</option>
            <option value="street">{m.street}</option>
            <option value="community">{m.community}</option>
            <option value="grid">{m.grid}</option>
            <option value="unit">{m.unitLevel}</option>
          </select>
        </label>
        <label class="filter" for="kpi-period">
          <span>{m.period}</span>
          <select
            id="kpi-period"
            value={period}
            onChange={(e) => setPeriod((e.target as HTMLSelectElement).value)}
          >
            <option value="day">24h</option>
            <option value="week">7d</option>
            <option value="month">{m.thisMonth}</option>
          </select>
        </label>
        <button type="button" onClick={csv} disabled={!rows.length}>
          ⤓ {m.exportCsv}
        </button>
      </div>
      <ErrorBox error={error} />
      <Section title={`${m.closedRate} · ${m.onTimeRate}`} id="kpi-chart">
        <Chart option={option} label={`${m.kpis} ${level}`} height={300} />
      </Section>
      <div class="card table-card">
        <table class="table" data-testid="kpi-table">
          <caption class="sr-only">{m.kpis}</caption>
          <thead>
            <tr>
              <th scope="col">{m.name}</th>
              {cols.map((c) => (
                <th scope="col" key={c[0]}>
                  {c[1]}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.key ?? '-'}>
                <th scope="row">{label(r.key)}</th>
                {cols.map(([k, , f]) => (
                  <td key={k}>{f(r[k])}</td>
                ))}
              </tr>
            ))}
            {data && (
              <tr class="total">
                <th scope="row">{m.total}</th>
                {cols.map(([k, , f]) => (
                  <td key={k}>{f(data.total[k])}</td>
                ))}
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
