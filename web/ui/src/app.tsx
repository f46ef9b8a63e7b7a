/** App-wide state (the signed-in user, language, catalogue) and the small router. */
import { createContext, type FunctionComponent } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import type { ReferenceView } from '../../../domain/index.ts';
import type { Me } from './api.ts';
import type { Lang, Messages } from './i18n.ts';

/** A category and a unit as `GET /api/reference` names them. */
export type Category = ReferenceView['categories'][number];
export type Unit = ReferenceView['units'][number];

export interface AppState {
  me: Me;
  lang: Lang;
  m: Messages;
  setLang: (l: Lang) => void;
  categories: Map<string, Category>;
  units: Map<string, Unit>;
  zone: string;
  calendar: import('../../../domain/index.ts').WorkingCalendar | null;
  /** The optional basemap (GRIDHUB_MAP_TILES): an XYZ tile URL, or null for the polygons alone. */
  map: { tiles: string | null; attribution: string | null };
  navigate: (to: string, replace?: boolean) => void;
  signOut: () => void;
}

export const AppContext = createContext<AppState>(null as unknown as AppState);
export const useApp = () => useContext(AppContext);

export function categoryName(app: AppState, code: string): string {
  const c = app.categories.get(code);
  return c ? (app.lang === 'zh' ? c.nameZh : c.nameEn) : code;
}
export function unitName(app: AppState, id: string | null | undefined): string {
  if (!id) return '—';
  return app.units.get(id)?.name ?? id;
}

/** The current path, following pushState and back/forward. */
export function usePath(): string {
  const [path, setPath] = useState(location.pathname + location.search);
  useEffect(() => {
    const on = () => setPath(location.pathname + location.search);
    addEventListener('popstate', on);
    addEventListener('gridhub:navigate', on);
    return () => {
      removeEventListener('popstate', on);
      removeEventListener('gridhub:navigate', on);
    };
  }, []);
  return path;
}

export function navigate(to: string, replace = false) {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  dispatchEvent(new Event('gridhub:navigate'));
  scrollTo(0, 0);
}

/** An in-app link: a real <a href> (keyboard, new tab) that navigates without a reload. */
export const Link: FunctionComponent<{
  href: string;
  class?: string;
  'aria-current'?: 'page' | undefined;
}> = (props) => (
  <a
    href={props.href}
    class={props.class}
    aria-current={props['aria-current']}
    onClick={(e) => {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      navigate(props.href);
    }}
  >
    {props.children}
  </a>
);

/** Loads a page module on demand (the charts library comes with the pages that draw). */
export function Lazy<P extends object>(props: {
  load: () => Promise<{ default: FunctionComponent<P> }>;
  props: P;
}) {
  // The component is kept with the loader it came from: on a switch of page, the old component
  // never renders with the new page's props.
  const [loaded, setLoaded] = useState<{ load: unknown; C: FunctionComponent<P> } | null>(null);
  useEffect(() => {
    let alive = true;
    void props.load().then((mod) => alive && setLoaded({ load: props.load, C: mod.default }));
    return () => {
      alive = false;
    };
  }, [props.load]);
  const m = useApp()?.m;
  if (!loaded || loaded.load !== props.load) return <p class="muted">{m?.loading ?? '…'}</p>;
  const C = loaded.C;
  return <C {...props.props} />;
}

/** Fetches on mount and whenever `deps` change; `reload` refetches (live updates). */
export function useData<T>(fetcher: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    fetcher().then(
      (d) => {
        if (alive) {
          setData(d);
          setError(null);
        }
      },
      (e) => alive && setError(e),
    );
    return () => {
      alive = false;
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}
