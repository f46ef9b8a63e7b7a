/** A case: timeline, evidence, the device's trend around the trigger with the limit, deadline, map, actions. */

import { useEffect, useMemo, useState } from 'preact/hooks';
import { type SeriesView, workingMsBetween } from '../../../../domain/index.ts';
import { api, qs, uploadPhoto } from '../api.ts';
import { type AppState, categoryName, Link, unitName, useApp, useData } from '../app.tsx';
import { AXIS_TIME, Chart } from '../components/chart.tsx';
import { GridMap } from '../components/grid-map.tsx';
import { LiveView } from '../components/live-view.tsx';
import { PhotoInput } from '../components/photo-input.tsx';
import { ErrorBox, Section, StatusBadge, UrgencyBadge } from '../components/ui.tsx';
import { type CaseView, gridFeatures, onLive } from '../data.ts';
import { fmtTime } from '../i18n.ts';

const HOUR = 3_600_000;
const MEDIA = /\/api\/media\/m[0-9a-f]{24}/g;

/** Time left until the deadline: working hours for `wh`/`wd` limits, wall-clock hours for `h`. */
function remaining(app: AppState, c: CaseView, now: number): { text: string; late: boolean } | null {
  if (!c.deadline || c.status === 'closed' || c.status === 'rejected') return null;
  const d = Date.parse(c.deadline);
  const unit = app.categories.get(c.category)?.limits[c.urgency]?.unit ?? 'h';
  const late = d <= now;
  const [a, b] = late ? [d, now] : [now, d];
  let ms = b - a;
  let suffix = app.lang === 'zh' ? '小时' : 'h';
  if (unit !== 'h' && app.calendar) {
    try {
      ms = workingMsBetween(app.calendar, a, b);
      suffix = app.lang === 'zh' ? '工作小时' : 'working h';
    } catch {}
  }
  const h = (ms / HOUR).toFixed(1);
  return { text: late ? `${app.m.overdueBy} ${h} ${suffix}` : `${app.m.remaining} ${h} ${suffix}`, late };
}

function Trend(props: { c: CaseView }) {
  const { m } = useApp();
  const { c } = props;
  const limit = c.evidence.limits?.[0];
  const key = limit?.key ?? c.peak?.key ?? Object.keys(c.evidence.observed ?? {})[0]?.split('_')[0];
  const win = c.evidence.trendWindow;
  const { data, error } = useData(
    () =>
      c.deviceId && key && win
        ? api.get<SeriesView>(
            `/api/devices/${encodeURIComponent(c.deviceId)}/series${qs({ key, from: win.from, to: win.to, limit: 5000 })}`,
          )
        : Promise.resolve({ points: [] }),
    [c.id],
  );
  const option = useMemo(
    () => ({
      grid: { left: 50, right: 20, top: 30, bottom: 30 },
      tooltip: { trigger: 'axis' },
      xAxis: AXIS_TIME,
      yAxis: { type: 'value', scale: true, name: key },
      series: [
        {
          type: 'line',
          name: key,
          showSymbol: false,
          data: (data?.points ?? []).map((p) => [p.ts, p.value]),
          lineStyle: { color: '#1769e0' },
          markLine: {
            symbol: 'none',
            data: [
              ...(limit
                ? [
                    {
                      yAxis: limit.value,
                      name: `${m.limit} ${limit.value}`,
                      lineStyle: { color: '#d92d20', type: 'dashed' },
                      label: { formatter: `${m.limit} ${limit.op} ${limit.value}`, position: 'insideEndTop' },
                    },
                  ]
                : []),
              ...(c.evidence.readingTs
                ? [
                    {
                      xAxis: c.evidence.readingTs,
                      lineStyle: { color: '#667085' },
                      label: { formatter: '▲' },
                    },
                  ]
                : []),
            ],
          },
        },
      ],
    }),
    [data, limit, key],
  );
  if (!c.deviceId || !key || !win) return null;
  return (
    <Section title={m.trend} id="trend">
      <ErrorBox error={error} />
      <Chart
        option={option}
        label={`${m.trend}: ${c.deviceId} ${key}${limit ? `, ${m.limit} ${limit.value}` : ''}`}
        testid="case-trend"
      />
    </Section>
  );
}

function Actions(props: { c: CaseView; onDone: () => void }) {
  const app = useApp();
  const { m, me } = app;
  const { c } = props;
  const actions = (c.allowedActions ?? []).filter((a) => a !== 'relapse');
  const suggested = c.suggestedUnits ?? [];
  const others = [...app.units.keys()].filter((u) => !suggested.includes(u));
  const [unit, setUnit] = useState(suggested[0] ?? others[0] ?? '');
  const [note, setNote] = useState('');
  const [photo, setPhoto] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [missing, setMissing] = useState(false);
  if (actions.length === 0)
    return (
      <Section title={m.actions} id="actions">
        <p class="muted" data-testid="no-actions">
          {m.noActions}
        </p>
      </Section>
    );
  async function run(action: string) {
    if (action === 'dispatch' && !unit) {
      setMissing(true);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const photos = photo ? [(await uploadPhoto(photo)).id] : undefined;
      await api.post(`/api/cases/${c.id}/actions`, {
        action,
        ...(note.trim() ? { note: note.trim() } : {}),
        ...(action === 'dispatch' ? { assignee: unit } : {}),
        ...(photos ? { photos } : {}),
      });
      setNote('');
      setPhoto(null);
      props.onDone();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Section title={m.actions} id="actions">
      {actions.includes('dispatch') && (
        <div class="field">
          <label for="unit">{m.unit}</label>
          <select
            id="unit"
            value={unit}
            aria-invalid={missing}
            onChange={(e) => setUnit((e.target as HTMLSelectElement).value)}
          >
            {suggested.map((u) => (
              <option key={u} value={u}>
                {unitName(app, u)} ({m.suggested})
              </option>
            ))}
            {others.map((u) => (
              <option key={u} value={u}>
                {unitName(app, u)}
              </option>
            ))}
          </select>
        </div>
      )}
      <div class="field">
        <label for="note">{m.note}</label>
        <textarea
          id="note"
          rows={2}
          maxLength={2000}
          value={note}
          onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)}
        />
      </div>
      {me.role === 'inspector' && actions.includes('verify') && (
        <PhotoInput id="verify-photo" label={`${m.photo} — ${m.verifyHint}`} onChange={setPhoto} />
      )}
      <ErrorBox error={error} />
      <div class="action-row">
        {actions.map((a) => (
          <button
            type="button"
            key={a}
            class={a === 'reject' || a === 'rework' || a === 'return' ? 'danger' : 'primary'}
            disabled={busy}
            data-action={a}
            onClick={() => void run(a)}
          >
            {(m.actionNames as Record<string, string>)[a] ?? a}
          </button>
        ))}
      </div>
    </Section>
  );
}

export default function CasePage(props: { id: string }) {
  const app = useApp();
  const { m, lang } = app;
  const {
    data: c,
    error,
    reload,
  } = useData(() => api.get<CaseView>(`/api/cases/${encodeURIComponent(props.id)}`), [props.id]);
  const { data: fc } = useData(gridFeatures, []);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(t);
  }, []);
  useEffect(() => onLive((e) => e.type === 'case' && e.caseId === props.id, reload, 300), [props.id]);
  useEffect(() => {
    document.title = `${props.id} · gridhub`;
  }, [props.id]);
  if (error) return <ErrorBox error={error} />;
  if (!c) return <p class="muted">{m.loading}</p>;
  const left = remaining(app, c, now);
  // Camera stills the hub took for a detection (evidence.stills, issue 12) are photos too.
  const stills = (c.evidence.stills ?? []).map((s) => s.url);
  const photos = [...c.photos, ...stills, ...(c.evidence.snapshot ? [c.evidence.snapshot] : [])].filter(
    (p) => p.startsWith('/api/media/') || /^m[0-9a-f]{24}$/.test(p),
  );
  const src = (p: string) => (p.startsWith('/') ? p : `/api/media/${p}`);
  return (
    <div class="case-page">
      <div class="case-head">
        <div>
          <p class="muted">
            <Link href="/cases">‹ {m.inbox}</Link>
          </p>
          <h1>
            {categoryName(app, c.category)} <span class="muted mono">{c.id}</span>
          </h1>
          <p class="case-badges">
            <StatusBadge status={c.status} /> <UrgencyBadge urgency={c.urgency} />{' '}
            <span class="badge">{c.source === 'sensor' ? m.sensor : m.report}</span>{' '}
            {c.gridCode && <Link href={`/grids/${c.gridCode}`}>{c.gridCode}</Link>}
            {c.deviceId && (
              <>
                {' · '}
                <Link href={`/devices/${encodeURIComponent(c.deviceId)}`}>{c.deviceId}</Link>
              </>
            )}
          </p>
        </div>
        <div class={`countdown ${left?.late ? 'late' : ''}`} data-testid="countdown">
          <div class="tile-label">{m.deadline}</div>
          <div class="countdown-value">{fmtTime(lang, c.deadline)}</div>
          {left && <div>{left.text}</div>}
          <div class="muted">
            {m.assignee}: {unitName(app, c.assignee)}
          </div>
        </div>
      </div>
      <div class="case-grid">
        <div class="case-main">
          <Actions c={c} onDone={reload} />
          <Section title={m.evidence} id="evidence">
            {c.description !== c.evidence.explanation && <p>{c.description}</p>}
            {c.evidence.explanation && (
              <p>
                <strong>{m.explanation}:</strong> {c.evidence.explanation}
              </p>
            )}
            {c.evidence.observed && (
              <dl class="kv">
                {Object.entries(c.evidence.observed).map(([k, v]) => (
                  <div key={k}>
                    <dt>{k}</dt>
                    <dd>{typeof v === 'number' && Number.isFinite(v) ? +v.toFixed(3) : String(v)}</dd>
                  </div>
                ))}
                {c.evidence.limits?.map((l) => (
                  <div key={`l-${l.key}`}>
                    <dt>
                      {m.limit} {l.key}
                    </dt>
                    <dd>
                      {l.op} {l.value}
                    </dd>
                  </div>
                ))}
                <div>
                  <dt>{m.occurrences}</dt>
                  <dd>{c.occurrences}</dd>
                </div>
              </dl>
            )}
            {photos.length > 0 && (
              <div class="photos">
                {photos.map((p) => (
                  <a key={p} href={src(p)} target="_blank" rel="noreferrer">
                    <img src={src(p)} alt={m.photo} class="thumb" />
                  </a>
                ))}
              </div>
            )}
            {c.deviceId && (c.evidence.snapshot !== undefined || stills.length > 0) && (
              <LiveView cameraId={c.deviceId} still={stills[0] ?? null} />
            )}
          </Section>
          <Trend c={c} />
        </div>
        <div class="case-side">
          <Section title={m.timeline} id="timeline">
            <ol class="timeline" data-testid="timeline">
              {(c.timeline ?? []).map((e, i) => (
                <li key={i}>
                  <span class="tl-action">
                    {(m.actionNames as Record<string, string>)[e.action] ?? e.action}
                  </span>
                  <span class="muted">
                    {' '}
                    {fmtTime(lang, e.at)} · {e.actor} ({(m.roles as Record<string, string>)[e.role] ?? e.role}
                    )
                  </span>
                  {e.assignee && <div>→ {unitName(app, e.assignee)}</div>}
                  {e.note && <div class="tl-note">{e.note.replace(MEDIA, '').trim()}</div>}
                  {(e.note?.match(MEDIA) ?? []).map((p) => (
                    <img key={p} src={p} alt={m.photo} class="thumb" />
                  ))}
                </li>
              ))}
            </ol>
          </Section>
          {fc && c.location && c.gridCode && (
            <Section title={m.location} id="location">
              <GridMap
                features={fc}
                area={c.gridCode.slice(0, 12)}
                marker={c.location}
                labels={false}
                height={260}
                label={`${m.location}: ${c.location.lng.toFixed(5)}, ${c.location.lat.toFixed(5)}`}
              />
            </Section>
          )}
        </div>
      </div>
    </div>
  );
}
