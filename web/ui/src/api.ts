/**
 * The dashboard's API client. Same origin only; the session is the HttpOnly `gridhub_session`
 * cookie set at sign-in (credentials 'same-origin'; every write carries `x-gridhub-csrf: 1`, which
 * the hub requires of cookie-authenticated writes). The bearer token in the sign-in answer is for
 * scripts: the dashboard never keeps it, so page scripts cannot read the session.
 */
import type { LoginAnswer, MeView, UserView } from '../../../domain/index.ts';

/**
 * The dashboard's one notion of the caller, from `GET /api/me` (MeView: a user, or the static
 * admin token with no id or name) or a sign-in's user (UserView).
 */
export type Me = Pick<UserView, 'role' | 'unitId' | 'gridCodes'> & { id: string; name: string };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

// Whether this browser signed in (not the session itself, which JavaScript cannot read): without
// it the app goes straight to sign-in instead of asking /api/me for a 401.
const HINT_KEY = 'gridhub.signedIn';
let signedIn = localStorage.getItem(HINT_KEY) === '1';
const expiredListeners = new Set<() => void>();
export const onExpired = (fn: () => void) => {
  expiredListeners.add(fn);
  return () => expiredListeners.delete(fn);
};

function headers(write: boolean, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  if (write) h['x-gridhub-csrf'] = '1';
  return h;
}

async function toError(res: Response): Promise<ApiError> {
  let body: { error?: { code?: string; message?: string } & Record<string, unknown> } = {};
  try {
    body = await res.json();
  } catch {}
  const { code, message, ...details } = body.error ?? {};
  return new ApiError(res.status, code ?? `HTTP_${res.status}`, message ?? res.statusText, details);
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  opts: { raw?: Blob; contentType?: string; quiet401?: boolean } = {},
): Promise<T> {
  const write = method !== 'GET' && method !== 'HEAD';
  const init: RequestInit = { method, credentials: 'same-origin', headers: headers(write) };
  if (opts.raw) {
    init.body = opts.raw;
    (init.headers as Record<string, string>)['content-type'] = opts.contentType ?? 'application/octet-stream';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'NETWORK', 'the hub cannot be reached');
  }
  if (res.status === 401 && !opts.quiet401) {
    setSignedIn(false);
    for (const fn of expiredListeners) fn();
  }
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? res.json() : res.text()) as Promise<T>;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  del: <T>(path: string) => request<T>('DELETE', path),
};

function setSignedIn(v: boolean) {
  signedIn = v;
  if (v) localStorage.setItem(HINT_KEY, '1');
  else localStorage.removeItem(HINT_KEY);
}
export const authHeaders = () => headers(false);

/** The caller as the dashboard shows it; the admin token has no id or name of its own. */
function fromMe(m: MeView): Me {
  const id = m.id ?? m.kind;
  return { id, name: m.name ?? id, role: m.role, unitId: m.unitId, gridCodes: m.gridCodes };
}

const fromUser = (u: UserView): Me => ({
  id: u.id,
  name: u.name,
  role: u.role,
  unitId: u.unitId,
  gridCodes: u.gridCodes,
});

/** The signed-in user, or null. Without a session there is nothing to ask (and no 401 to log). */
export async function me(): Promise<Me | null> {
  if (!signedIn) return null;
  try {
    // A 401 here is a session that ended (expired, signed out elsewhere): the app says so.
    return fromMe(await request<MeView>('GET', '/api/me'));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      setSignedIn(false);
      return null;
    }
    throw e;
  }
}

export async function signIn(username: string, password: string): Promise<Me> {
  const r = await request<LoginAnswer>('POST', '/api/auth/login', { username, password }, { quiet401: true });
  setSignedIn(true);
  return fromUser(r.user);
}

export async function signOut() {
  await request('POST', '/api/auth/logout', {}, { quiet401: true }).catch(() => {});
  setSignedIn(false);
}

export const uploadPhoto = (file: Blob) =>
  request<{ id: string; url: string }>('POST', '/api/media', undefined, {
    raw: file,
    contentType: file.type || 'application/octet-stream',
  });

/** `?a=1&b=…` from the defined entries. */
export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}
