import './app.css';
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { type ReferenceView, RULE_READER_ROLES } from '../../../domain/index.ts';
import { api, me as fetchMe, type Me, onExpired, signIn, signOut } from './api.ts';
import {
  AppContext,
  type AppState,
  type Category,
  Lazy,
  Link,
  navigate,
  type Unit,
  usePath,
} from './app.tsx';
import { ErrorBox } from './components/ui.tsx';
import { initialLang, type Lang, MESSAGES, saveLang } from './i18n.ts';
import { type LiveState, liveState, onLiveState, startLive, stopLive } from './live.ts';

const pages = {
  overview: () => import('./pages/overview.tsx'),
  inbox: () => import('./pages/inbox.tsx'),
  case: () => import('./pages/case.tsx'),
  device: () => import('./pages/device.tsx'),
  grid: () => import('./pages/grid.tsx'),
  kpis: () => import('./pages/kpis.tsx'),
  rules: () => import('./pages/rules.tsx'),
  admin: () => import('./pages/admin.tsx'),
  field: () => import('./pages/field.tsx'),
  cameras: () => import('./pages/cameras.tsx'),
};

const home = (me: Me) => (me.role === 'inspector' ? '/field' : me.role === 'unit' ? '/cases' : '/overview');

function SignIn(props: {
  lang: Lang;
  setLang: (l: Lang) => void;
  onSignedIn: (me: Me) => void;
  reason: string | null;
}) {
  const m = MESSAGES[props.lang];
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [invalid, setInvalid] = useState<string | null>(null);
  useEffect(() => {
    document.title = `${m.signIn} · gridhub`;
  }, [m]);
  async function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const username = String(f.get('username') ?? '').trim();
    const password = String(f.get('password') ?? '');
    if (!username || !password) {
      setInvalid(!username ? 'username' : 'password');
      return;
    }
    setInvalid(null);
    setBusy(true);
    setError(null);
    try {
      props.onSignedIn(await signIn(username, password));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const errText =
    error && (error as { status?: number }).status === 401 ? m.err.login : error ? undefined : undefined;
  return (
    <main class="signin" id="main">
      <form class="signin-card" onSubmit={submit} noValidate aria-labelledby="signin-h">
        <div class="brand-lg" aria-hidden="true">
          ▦ gridhub
        </div>
        <h1 id="signin-h">{m.signInTitle}</h1>
        <p class="muted">{m.signInHint}</p>
        {props.reason && (
          <p class="notice" role="status">
            {props.reason === 'expired' ? m.expired : m.signedOut}
          </p>
        )}
        <label for="username">{m.username}</label>
        <input
          id="username"
          name="username"
          autocomplete="username"
          aria-invalid={invalid === 'username'}
          aria-describedby={invalid === 'username' ? 'username-err' : undefined}
        />
        {invalid === 'username' && (
          <span class="field-error" id="username-err">
            {m.username}: {m.required}
          </span>
        )}
        <label for="password">{m.password}</label>
        <input
          id="password"
          name="password"
          type="password"
          autocomplete="current-password"
          aria-invalid={invalid === 'password'}
          aria-describedby={invalid === 'password' ? 'password-err' : undefined}
        />
        {invalid === 'password' && (
          <span class="field-error" id="password-err">
            {m.password}: {m.required}
          </span>
        )}
        {errText ? (
          <p class="error" role="alert">
            {errText}
          </p>
        ) : (
          <ErrorBoxStandalone error={error} lang={props.lang} />
        )}
        <button type="submit" class="primary" disabled={busy}>
          {m.signIn}
        </button>
        <button type="button" class="link" onClick={() => props.setLang(props.lang === 'zh' ? 'en' : 'zh')}>
          {m.language}
        </button>
      </form>
    </main>
  );
}

function ErrorBoxStandalone(props: { error: unknown; lang: Lang }) {
  const ctx = { m: MESSAGES[props.lang] } as AppState;
  return (
    <AppContext.Provider value={ctx}>
      <ErrorBox error={props.error} />
    </AppContext.Provider>
  );
}

function Shell(props: { app: AppState; path: string }) {
  const { app, path } = props;
  const { m, me } = app;
  const [live, setLive] = useState<LiveState>(liveState());
  useEffect(() => onLiveState(setLive), []);
  const wall = path.startsWith('/overview/wall');
  const [pathname, search] = path.split('?') as [string, string | undefined];
  const seg = pathname.split('/').filter(Boolean);
  const nav: [string, string, boolean][] = [
    ['/overview', m.overview, me.role !== 'inspector'],
    ['/cases', m.inbox, true],
    ['/field', m.field, me.role === 'inspector' || me.role === 'admin'],
    ['/kpis', m.kpis, me.role !== 'unit' && me.role !== 'inspector'],
    ['/cameras', m.cameras, true],
    ['/rules', m.rules, RULE_READER_ROLES.includes(me.role)],
    ['/admin', m.admin, me.role === 'admin'],
  ];
  let page: preact.JSX.Element;
  const params = new URLSearchParams(search ?? '');
  switch (seg[0]) {
    case 'cameras':
      page = <Lazy load={pages.cameras} props={{ gridCode: params.get('gridCode') ?? '' }} />;
      break;
    case 'overview':
      page = <Lazy load={pages.overview} props={{ wall }} />;
      break;
    case 'cases':
      page = seg[1] ? (
        <Lazy load={pages.case} props={{ id: decodeURIComponent(seg[1]) }} />
      ) : (
        <Lazy load={pages.inbox} props={{ params }} />
      );
      break;
    case 'devices':
      page = <Lazy load={pages.device} props={{ id: decodeURIComponent(seg[1] ?? '') }} />;
      break;
    case 'grids':
      page = <Lazy load={pages.grid} props={{ code: seg[1] ?? '' }} />;
      break;
    case 'kpis':
      page = <Lazy load={pages.kpis} props={{}} />;
      break;
    case 'rules':
      page = <Lazy load={pages.rules} props={{}} />;
      break;
    case 'admin':
      page = <Lazy load={pages.admin} props={{}} />;
      break;
    case 'field':
      page = <Lazy load={pages.field} props={{ view: seg[1] ?? 'list', id: seg[2] }} />;
      break;
    default:
      page = (
        <div class="card">
          <h1>{m.notFound}</h1>
          <Link href={home(me)}>{m.back}</Link>
        </div>
      );
  }
  return (
    <div class={wall ? 'layout wall' : 'layout'}>
      <a class="skip" href="#main">
        {m.skip}
      </a>
      {!wall && (
        <header class="topbar">
          <span class="brand">
            <span aria-hidden="true">▦</span> gridhub <span class="brand-sub">{m.appName}</span>
          </span>
          <nav aria-label={m.appShort}>
            <ul>
              {nav
                .filter((n) => n[2])
                .map(([href, label]) => (
                  <li key={href}>
                    <Link href={href} aria-current={pathname.startsWith(href) ? 'page' : undefined}>
                      {label}
                    </Link>
                  </li>
                ))}
            </ul>
          </nav>
          <div class="topbar-right">
            <span class={`live live-${live}`} role="status" data-testid="live">
              ● {live === 'live' ? m.live : live === 'connecting' ? m.connecting : m.offline}
            </span>
            <button type="button" class="ghost" onClick={() => app.setLang(app.lang === 'zh' ? 'en' : 'zh')}>
              {m.language}
            </button>
            <span class="who" data-testid="who">
              {me.name} · {m.roles[me.role]}
            </span>
            <button type="button" class="ghost" onClick={app.signOut}>
              {m.signOut}
            </button>
          </div>
        </header>
      )}
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </div>
  );
}

function App() {
  const [lang, setLangState] = useState<Lang>(initialLang());
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [reason, setReason] = useState<string | null>(null);
  const [catalogue, setCatalogue] =
    useState<Pick<AppState, 'categories' | 'units' | 'zone' | 'calendar' | 'map'>>();
  const path = usePath();
  const m = MESSAGES[lang];
  const setLang = (l: Lang) => {
    saveLang(l);
    setLangState(l);
  };
  useEffect(() => {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  }, [lang]);
  useEffect(() => {
    void fetchMe().then(setMe, () => setMe(null));
    return onExpired(() => {
      stopLive();
      setReason('expired');
      setMe(null);
    });
  }, []);
  useEffect(() => {
    if (!me) return;
    startLive();
    void api
      .get<ReferenceView>('/api/reference')
      .catch(() => ({ categories: [] as Category[], units: [] as Unit[], calendar: null, map: undefined }))
      .then(({ categories, units, calendar, map }) =>
        setCatalogue({
          categories: new Map(categories.map((x) => [x.code, x])),
          units: new Map(units.map((x) => [x.id, x])),
          zone: calendar?.timezone ?? 'Asia/Shanghai',
          calendar,
          map: map ?? { tiles: null, attribution: null },
        }),
      );
  }, [me]);
  useEffect(() => {
    if (me === null && !path.startsWith('/sign-in'))
      navigate(`/sign-in${reason ? `?reason=${reason}` : ''}`, true);
    if (me && (path.startsWith('/sign-in') || path === '/')) navigate(home(me), true);
  }, [me, path, reason]);
  const app = useMemo<AppState | null>(
    () =>
      me && catalogue
        ? {
            me,
            lang,
            m,
            setLang,
            ...catalogue,
            navigate,
            signOut: () => {
              stopLive();
              void signOut().then(() => {
                setReason('signedOut');
                setMe(null);
              });
            },
          }
        : null,
    [me, lang, catalogue],
  );
  if (me === undefined) return <p class="muted center">…</p>;
  if (me === null || path.startsWith('/sign-in'))
    return (
      <SignIn
        lang={lang}
        setLang={setLang}
        reason={reason ?? new URLSearchParams(location.search).get('reason')}
        onSignedIn={(u) => {
          setReason(null);
          setMe(u);
        }}
      />
    );
  if (!app) return <p class="muted center">{m.loading}</p>;
  return (
    <AppContext.Provider value={app}>
      <Shell app={app} path={path} />
    </AppContext.Provider>
  );
}

render(<App />, document.getElementById('app')!);
