/**
 * The one client of the hub's HTTP API, for the simulators, the tests and the benchmarks: JSON in
 * and out with a bearer token. A body given as a string goes on the wire as it is (tests send
 * malformed JSON that way); an answer that is not JSON comes back as its text (`/metrics`).
 *
 * With `retry` it retries with backoff while the hub is unreachable or answers 502/503/504, and
 * then throws {@link HubUnreachable}, so a command line can say "cannot reach the hub" in one line
 * instead of a stack trace. Without (tests, benchmarks) every answer is returned as it is, 503
 * included: tests assert on those.
 */

// biome-ignore lint/suspicious/noExplicitAny: API bodies are read field by field by the callers.
export interface HubResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface ApiClientOptions {
  /** `http://127.0.0.1:8080` (a trailing slash is dropped). */
  baseUrl: string;
  /** Bearer token sent when a call names none; null for none. */
  token?: string | null;
  /** Per request (default 30 s). */
  timeoutMs?: number;
  /** Treat 502/503/504 and no answer as "unreachable": try `attempts` times in all, then throw. */
  retry?: {
    attempts: number;
    /** Before each retry: a sentence for the user, the attempt that failed and why. */
    onRetry?: (message: string, attempt: number, reason: string) => void;
  };
}

export interface ApiClient {
  readonly baseUrl: string;
  /**
   * One request; `token` undefined for the client's token, null for none. Resolves with any
   * status; rejects with {@link HubUnreachable} when no answer came (after the retries).
   */
  // biome-ignore lint/suspicious/noExplicitAny: see HubResponse.
  call<T = any>(method: string, path: string, body?: unknown, token?: string | null): Promise<HubResponse<T>>;
  /** Like `call`, but a non-2xx answer throws an Error naming the request and the answer. */
  // biome-ignore lint/suspicious/noExplicitAny: see HubResponse.
  request<T = any>(method: string, path: string, body?: unknown, token?: string | null): Promise<T>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The most useful words of a fetch failure: `connect ECONNREFUSED 127.0.0.1:8080`, `timeout`… */
export function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'request timed out';
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof AggregateError && cause.errors.length > 0) return reasonOf(cause.errors[0]);
  if (cause instanceof Error) return cause.message || (cause as { code?: string }).code || err.message;
  return err.message;
}

/** `HTTP 409: device 'x' already exists` (the hub's error message, or the start of a text answer). */
export function errorMessage(r: { status: number; body: unknown }): string {
  const b = r.body as { error?: { message?: unknown } } | string | null | undefined;
  const m = typeof b === 'string' ? b.slice(0, 200) : b?.error?.message;
  return `HTTP ${r.status}${typeof m === 'string' && m ? `: ${m}` : ''}`;
}

export class HubUnreachable extends Error {
  constructor(
    readonly base: string,
    readonly reason: string,
    readonly attempts: number,
  ) {
    super(
      `cannot reach the hub at ${base} (${reason}) after ${attempts} attempt${attempts > 1 ? 's' : ''}; is it running?`,
    );
    this.name = 'HubUnreachable';
  }
}

const UNAVAILABLE = new Set([502, 503, 504]);

export function createApiClient(opts: ApiClientOptions): ApiClient {
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  const retry = opts.retry;
  const attempts = retry ? Math.max(1, Math.floor(retry.attempts)) : 1;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const defaultToken = opts.token ?? null;

  async function once(method: string, path: string, body: unknown, bearer: string | null) {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers };
  }

  const client: ApiClient = {
    baseUrl,
    async call(method, path, body, token) {
      const bearer = token === undefined ? defaultToken : token;
      let reason = '';
      for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
          const r = await once(method, path, body, bearer);
          if (!retry || !UNAVAILABLE.has(r.status)) return r as HubResponse;
          reason = errorMessage(r);
        } catch (err) {
          reason = reasonOf(err);
        }
        if (attempt < attempts) {
          const wait = Math.min(5000, 500 * 2 ** (attempt - 1));
          retry?.onRetry?.(
            `hub not reachable at ${baseUrl} (${reason}); retrying in ${wait / 1000} s (attempt ${attempt + 1}/${attempts})`,
            attempt,
            reason,
          );
          await sleep(wait);
        }
      }
      throw new HubUnreachable(baseUrl, reason, attempts);
    },
    async request(method, path, body, token) {
      const r = await client.call(method, path, body, token);
      if (r.status < 200 || r.status > 299)
        throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      return r.body;
    },
  };
  return client;
}

/** Every sample of Prometheus text keyed by `name{labels}` as rendered. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Sum of a metric's samples (every label set) in Prometheus text. */
export function metricTotal(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}
