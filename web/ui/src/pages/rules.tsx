/** Rules: list, enable/disable, edit limits, and a backtest drawn on the device's trend. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type {
  BacktestView as BacktestResult,
  Condition,
  RuleView,
  SeriesView,
} from '../../../../domain/index.ts';
import { api, qs } from '../api.ts';
import { categoryName, useApp, useData } from '../app.tsx';
import { AXIS_TIME, Chart } from '../components/chart.tsx';
import { ErrorBox } from '../components/ui.tsx';
import { onLive } from '../data.ts';
import { BACKTEST_MAX_DAYS, backtestRangeProblem } from '../forms.ts';

/** `YYYY-MM-DDTHH:MM` in the browser's zone, as a datetime-local field holds it. */
const localInput = (ms: number) => {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
};

type Rule = RuleView;
type Cond = Condition;

/** The editable numeric limits of a condition tree, by path. */
function limits(c: Cond, path: string[] = []): { path: string[]; key: string; value: number }[] {
  const out: { path: string[]; key: string; value: number }[] = [];
  switch (c.kind) {
    case 'threshold':
    case 'window':
    case 'reference':
      if (typeof c.value === 'number')
        out.push({ path: [...path, 'value'], key: `${c.key} ${c.op}`, value: c.value });
      else if (typeof c.value.default === 'number')
        out.push({ path: [...path, 'value', 'default'], key: `${c.key} ${c.op}`, value: c.value.default });
      break;
    case 'all':
    case 'any':
      for (const [i, x] of c.conditions.entries()) out.push(...limits(x, [...path, 'conditions', String(i)]));
      break;
    case 'sustained':
    case 'dailyCount':
    case 'not':
      out.push(...limits(c.condition, [...path, 'condition']));
      break;
  }
  return out;
}
function setPath(obj: Cond, path: string[], v: number): Cond {
  const copy = structuredClone(obj);
  let o = copy as unknown as Record<string, unknown>;
  for (const p of path.slice(0, -1)) o = o[p] as Record<string, unknown>;
  o[path[path.length - 1]!] = v;
  return copy;
}
const body = (r: Rule) => {
  const { version: _v, builtin: _b, disabledReason: _d, ...rest } = r;
  return rest;
};

function BacktestView(props: { rule: Rule }) {
  const { m } = useApp();
  const [result, setResult] = useState<BacktestResult | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [device, setDevice] = useState('');
  // The range (local date and time in the fields), last 24 h by default, bounded as the hub
  // bounds it (BACKTEST_MAX_DAYS); a range past the edge is refused here, with the reason.
  const [range, setRange] = useState(() => ({
    from: localInput(Date.now() - 24 * 3_600_000),
    to: localInput(Date.now()),
  }));
  const [rangeError, setRangeError] = useState<string | null>(null);
  const [ran, setRan] = useState<{ from: number; to: number } | null>(null);
  const c = props.rule.condition;
  const key = limits(c)[0]?.key.split(' ')[0] ?? ('key' in c ? c.key : undefined);
  const to = ran?.to ?? Date.now();
  const from = ran?.from ?? to - 24 * 3_600_000;
  // The trend is read in buckets (the series API's raw limit is 31 days; a minute bucket over a
  // month would be 44,640 points): about 1,500 points whatever the range.
  const bucket = to - from <= 2 * 86_400_000 ? '1m' : to - from <= 8 * 86_400_000 ? '15m' : '1h';
  const dev = device || result?.cases[0]?.deviceId || '';
  const series = useData(
    () =>
      dev && key
        ? api.get<SeriesView>(
            `/api/devices/${encodeURIComponent(dev)}/series${qs({ key, from: new Date(from).toISOString(), to: new Date(to).toISOString(), bucket, agg: 'max' })}`,
          )
        : Promise.resolve({ points: [] }),
    [dev, key, result],
  );
  const option = useMemo(
    () => ({
      grid: { left: 50, right: 20, top: 20, bottom: 30 },
      tooltip: { trigger: 'axis' },
      xAxis: AXIS_TIME,
      yAxis: { type: 'value', scale: true, name: key },
      series: [
        {
          type: 'line',
          showSymbol: false,
          name: key,
          data: (series.data?.points ?? []).map((p) => [p.ts, p.value]),
          markArea: {
            itemStyle: { color: 'rgba(217,45,32,0.15)' },
            data: (result?.cases ?? [])
              .filter((c) => c.deviceId === dev)
              .map((c) => [
                { xAxis: c.openedAt, name: '●' },
                { xAxis: c.closedAt ?? new Date(to).toISOString() },
              ]),
          },
          markLine: {
            symbol: 'none',
            lineStyle: { color: '#d92d20', type: 'dashed' },
            data: limits(props.rule.condition).map((l) => ({ yAxis: l.value, name: l.key })),
          },
        },
      ],
    }),
    [series.data, result, dev],
  );
  const devices = [...new Set((result?.cases ?? []).map((c) => c.deviceId))];
  return (
    <div class="backtest">
      <p class="muted">{m.backtestHint}</p>
      <form
        class="backtest-range"
        noValidate
        aria-label={`${m.backtest} ${props.rule.id}`}
        onSubmit={async (e) => {
          e.preventDefault();
          if (busy) return;
          const f = Date.parse(range.from);
          const t = Date.parse(range.to);
          const problem = backtestRangeProblem(m, f, t, Date.now());
          setRangeError(problem);
          if (problem) return;
          setBusy(true);
          setError(null);
          try {
            setResult(
              await api.post<BacktestResult>(
                `/api/rules/${props.rule.id}/backtest${qs({ from: new Date(f).toISOString(), to: new Date(t).toISOString() })}`,
              ),
            );
            setRan({ from: f, to: t });
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label class="filter" for={`bt-from-${props.rule.id}`}>
          <span>{m.from}</span>
          <input
            id={`bt-from-${props.rule.id}`}
            type="datetime-local"
            value={range.from}
            min={
              Number.isNaN(Date.parse(range.to))
                ? undefined
                : localInput(Date.parse(range.to) - BACKTEST_MAX_DAYS * 86_400_000)
            }
            max={range.to}
            aria-invalid={!!rangeError}
            aria-describedby={`bt-err-${props.rule.id}`}
            onInput={(e) => setRange({ ...range, from: (e.target as HTMLInputElement).value })}
          />
        </label>
        <label class="filter" for={`bt-to-${props.rule.id}`}>
          <span>{m.to}</span>
          <input
            id={`bt-to-${props.rule.id}`}
            type="datetime-local"
            value={range.to}
            max={localInput(Date.now())}
            aria-invalid={!!rangeError}
            aria-describedby={`bt-err-${props.rule.id}`}
            onInput={(e) => setRange({ ...range, to: (e.target as HTMLInputElement).value })}
          />
        </label>
        {/* Not `disabled` while running: a disabled button loses the keyboard focus. */}
        <button type="submit" aria-disabled={busy}>
          ▶ {m.backtest}
        </button>
        <span class="field-error" id={`bt-err-${props.rule.id}`} role="alert">
          {rangeError ?? ''}
        </span>
      </form>
      <ErrorBox error={error} />
      {result && (
        <>
          <p data-testid="backtest-count">
            {m.wouldOpen}: <strong>{result.cases.length}</strong> ({m.devices}: {result.devices})
          </p>
          {devices.length > 0 && (
            <label class="filter" for={`bt-dev-${props.rule.id}`}>
              <span>{m.device}</span>
              <select
                id={`bt-dev-${props.rule.id}`}
                value={dev}
                onChange={(e) => setDevice((e.target as HTMLSelectElement).value)}
              >
                {devices.map((d) => (
                  <option key={d} value={d}>
                    {d}
                  </option>
                ))}
              </select>
            </label>
          )}
          {dev && <Chart option={option} label={`${m.backtest} ${props.rule.id} ${dev}`} height={260} />}
        </>
      )}
    </div>
  );
}

export default function Rules() {
  const app = useApp();
  const { m, me } = app;
  const list = useData(() => api.get<{ items: Rule[] }>('/api/rules'), []);
  const canWrite = me.role === 'admin' || me.role === 'operator';
  const [open, setOpen] = useState<string | null>(null);
  const [draft, setDraft] = useState<Cond | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => onLive((e) => e.type === 'rule', list.reload), []);
  // Escape inside an open rule's panel closes it and gives the focus back to its toggle.
  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      const body = document.getElementById(`rule-body-${open}`);
      if (e.key !== 'Escape' || !body?.contains(document.activeElement)) return;
      e.preventDefault();
      setOpen(null);
      setDraft(null);
      document.getElementById(`rule-toggle-${open}`)?.focus();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [open]);
  useEffect(() => {
    document.title = `${m.rules} · gridhub`;
  }, [m]);
  async function save(r: Rule, patch: Partial<Rule>) {
    setError(null);
    try {
      await api.put(`/api/rules/${r.id}`, { ...body(r), ...patch });
      list.reload();
      setDraft(null);
    } catch (e) {
      setError(e);
    }
  }
  return (
    <div>
      <h1>
        {m.rules} {!canWrite && <span class="muted">({m.rulesReadonly})</span>}
      </h1>
      <ErrorBox error={list.error ?? error} />
      {(list.data?.items ?? []).map((r) => (
        <section class="card rule" key={r.id} aria-labelledby={`rule-${r.id}`}>
          <div class="rule-head">
            <h2 id={`rule-${r.id}`}>
              {r.name ?? r.id} <span class="muted mono">{r.id}</span>
            </h2>
            <span class="muted">
              {categoryName(app, r.category)} · {r.appliesTo.profile} ·{' '}
              {(m.urgencies as Record<string, string>)[r.urgency]}
            </span>
            {canWrite ? (
              <label class="switch">
                <input
                  type="checkbox"
                  checked={r.enabled !== false}
                  onChange={() => void save(r, { enabled: r.enabled === false })}
                />{' '}
                {r.enabled !== false ? m.enabled : m.disabled}
              </label>
            ) : (
              <span class="badge">{r.enabled !== false ? m.enabled : m.disabled}</span>
            )}
            <button
              type="button"
              class="ghost"
              id={`rule-toggle-${r.id}`}
              aria-expanded={open === r.id}
              aria-controls={`rule-body-${r.id}`}
              onClick={() => {
                setOpen(open === r.id ? null : r.id);
                setDraft(null);
              }}
            >
              {open === r.id ? '▾' : '▸'} {m.edit} / {m.backtest}
            </button>
          </div>
          {r.disabledReason && <p class="error">{r.disabledReason}</p>}
          {open === r.id && (
            <div class="rule-body" id={`rule-body-${r.id}`}>
              <pre class="mono small">{JSON.stringify(r.condition, null, 1)}</pre>
              {canWrite && limits(r.condition).length > 0 && (
                <form
                  class="filters"
                  onSubmit={(e) => {
                    e.preventDefault();
                    if (draft) void save(r, { condition: draft });
                  }}
                >
                  {limits(draft ?? r.condition).map((l) => (
                    <label class="filter" key={l.path.join('.')} for={`lim-${r.id}-${l.path.join('-')}`}>
                      <span>
                        {m.limit} {l.key}
                      </span>
                      <input
                        id={`lim-${r.id}-${l.path.join('-')}`}
                        type="number"
                        step="any"
                        required
                        value={l.value}
                        onInput={(e) => {
                          const v = Number((e.target as HTMLInputElement).value);
                          if (Number.isFinite(v)) setDraft(setPath(draft ?? r.condition, l.path, v));
                        }}
                      />
                    </label>
                  ))}
                  <button type="submit" class="primary" disabled={!draft}>
                    {m.save}
                  </button>
                </form>
              )}
              {canWrite && <BacktestView rule={draft ? { ...r, condition: draft } : r} />}
            </div>
          )}
        </section>
      ))}
    </div>
  );
}
