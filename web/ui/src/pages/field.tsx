/** The grid worker's phone: cases in my grids, report a problem with a photo and my location. */

import { useEffect, useState } from 'preact/hooks';
import { newCaseBody, URGENCIES } from '../../../../domain/index.ts';
import { api, qs, uploadPhoto } from '../api.ts';
import { categoryName, Link, navigate, useApp, useData } from '../app.tsx';
import { PhotoInput } from '../components/photo-input.tsx';
import { ErrorBox, StatusBadge, UrgencyBadge } from '../components/ui.tsx';
import { type CaseView, onLive, type Page } from '../data.ts';
import { fmtTime } from '../i18n.ts';

function MyCases() {
  const app = useApp();
  const { m, me, lang } = app;
  const prefixes = me.gridCodes.length ? me.gridCodes.slice(0, 10) : [''];
  const list = useData(async () => {
    const pages = await Promise.all(
      prefixes.map((g) =>
        api.get<Page<CaseView>>(`/api/cases${qs({ gridCode: g || undefined, limit: 50 })}`),
      ),
    );
    const seen = new Map<string, CaseView>();
    for (const p of pages) for (const c of p.items) seen.set(c.id, c);
    // What needs the inspector first: handled cases to verify, then the rest by newest.
    return [...seen.values()].sort(
      (a, b) =>
        Number(b.status === 'handled') - Number(a.status === 'handled') ||
        b.openedAt.localeCompare(a.openedAt),
    );
  }, [me.id]);
  useEffect(() => onLive((e) => e.type === 'case', list.reload), []);
  return (
    <section aria-labelledby="my-h">
      <h2 id="my-h">{m.myCases}</h2>
      <ErrorBox error={list.error} />
      <ul class="field-list" data-testid="field-cases">
        {(list.data ?? []).map((c) => (
          <li key={c.id} class={c.status === 'handled' ? 'todo' : ''}>
            <Link href={`/cases/${c.id}`}>
              <strong>{categoryName(app, c.category)}</strong> <UrgencyBadge urgency={c.urgency} />{' '}
              <StatusBadge status={c.status} />
              <span class="feed-meta">
                {c.gridCode} · {fmtTime(lang, c.openedAt)}
                {c.status === 'handled' && ` · ${m.verifyOnSite}`}
              </span>
            </Link>
          </li>
        ))}
      </ul>
      {list.data?.length === 0 && <p class="muted">{m.noCases}</p>}
    </section>
  );
}

function Report() {
  const app = useApp();
  const { m } = app;
  const [category, setCategory] = useState('0101');
  const [description, setDescription] = useState('');
  const [urgency, setUrgency] = useState('normal');
  const [photo, setPhoto] = useState<File | null>(null);
  const [loc, setLoc] = useState<{ lng: number; lat: number } | null>(null);
  const [locState, setLocState] = useState<'idle' | 'busy' | 'error'>('idle');
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const locate = () => {
    setLocState('busy');
    navigator.geolocation.getCurrentPosition(
      (p) => {
        setLoc({ lng: p.coords.longitude, lat: p.coords.latitude });
        setLocState('idle');
      },
      () => setLocState('error'),
      { enableHighAccuracy: true, timeout: 15_000 },
    );
  };
  async function submit(e: Event) {
    e.preventDefault();
    setError(null);
    // The route's own schema, checked here first so the form says what is missing.
    const draft = {
      category,
      description,
      urgency,
      ...(loc ? { location: loc } : {}),
      photos: [] as string[],
    };
    const parsed = newCaseBody.safeParse(draft);
    const p: Record<string, string> = {};
    if (!parsed.success) for (const i of parsed.error.issues) p[String(i.path[0])] = i.message;
    if (!loc) p.location = `${m.location}: ${m.required}`;
    setProblems(p);
    if (Object.keys(p).length) return;
    setBusy(true);
    try {
      const photos = photo ? [(await uploadPhoto(photo)).id] : [];
      const c = await api.post<CaseView>('/api/cases', { ...draft, photos });
      navigate(`/cases/${c.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="card report" onSubmit={submit} noValidate aria-labelledby="report-h">
      <h2 id="report-h">{m.reportProblem}</h2>
      <label for="r-category">{m.category}</label>
      <select
        id="r-category"
        value={category}
        onChange={(e) => setCategory((e.target as HTMLSelectElement).value)}
      >
        {[...app.categories.values()].map((c) => (
          <option key={c.code} value={c.code}>
            {categoryName(app, c.code)}
          </option>
        ))}
      </select>
      <label for="r-desc">{m.description}</label>
      <textarea
        id="r-desc"
        rows={3}
        maxLength={2000}
        value={description}
        aria-invalid={!!problems.description}
        aria-describedby={problems.description ? 'r-desc-err' : undefined}
        onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)}
      />
      {problems.description && (
        <span class="field-error" id="r-desc-err">
          {m.description}: {m.required}
        </span>
      )}
      <label for="r-urgency">{m.urgency}</label>
      <select
        id="r-urgency"
        value={urgency}
        onChange={(e) => setUrgency((e.target as HTMLSelectElement).value)}
      >
        {URGENCIES.map((u) => (
          <option key={u} value={u}>
            {m.urgencies[u]}
          </option>
        ))}
      </select>
      <PhotoInput id="r-photo" onChange={setPhoto} />
      <div class="loc-row">
        {/* aria-disabled, not disabled: a disabled button would drop the keyboard focus. */}
        <button
          type="button"
          onClick={() => locState !== 'busy' && locate()}
          aria-disabled={locState === 'busy'}
        >
          ⌖ {locState === 'busy' ? m.locating : m.useLocation}
        </button>
        <span role="status" data-testid="location">
          {loc ? `${m.locationSet}: ${loc.lng.toFixed(5)}, ${loc.lat.toFixed(5)}` : ''}
        </span>
      </div>
      {problems.location && <span class="field-error">{problems.location}</span>}
      {locState === 'error' && <span class="field-error">{m.location}: ✗</span>}
      <ErrorBox error={error} />
      <button type="submit" class="primary big" disabled={busy}>
        {m.submit}
      </button>
    </form>
  );
}

export default function Field(props: { view: string }) {
  const { m } = useApp();
  useEffect(() => {
    document.title = `${m.field} · gridhub`;
  }, [m]);
  return (
    <div class="field-view">
      <h1>{m.field}</h1>
      <div class="tabs">
        <Link
          href="/field"
          class={props.view === 'list' ? 'tab active' : 'tab'}
          aria-current={props.view === 'list' ? 'page' : undefined}
        >
          {m.myCases}
        </Link>
        <Link
          href="/field/report"
          class={props.view === 'report' ? 'tab active' : 'tab'}
          aria-current={props.view === 'report' ? 'page' : undefined}
        >
          ＋ {m.reportProblem}
        </Link>
      </div>
      {props.view === 'report' ? <Report /> : <MyCases />}
    </div>
  );
}
