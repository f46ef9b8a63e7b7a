/**
 * The simulators' one way to call a hub's HTTP API: JSON in and out, retried with backoff while
 * the hub is unreachable or answers 502/503/504, so the command line can say "cannot reach the
 * hub" in one line instead of a stack trace.
 */
export interface HubResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: API bodies are read field by field by the callers.
  body: any;
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

/** `HTTP 409: device 'x' already exists`. */
export function errorMessage(r: HubResponse): string {
  const m = r.body?.error?.message;
  return `HTTP ${r.status}${typeof m === 'string' ? `: ${m}` : ''}`;
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

export async function requestWithRetry(opts: {
  base: string;
  method: string;
  path: string;
  body?: unknown;
  bearer?: string | null;
  attempts: number;
  timeoutMs: number;
  onRetry?: (message: string, attempt: number, reason: string) => void;
}): Promise<HubResponse> {
  const base = opts.base.replace(/\/+$/, '');
  let reason = '';
  for (let attempt = 1; attempt <= opts.attempts; attempt++) {
    try {
      const res = await fetch(`${base}${opts.path}`, {
        method: opts.method,
        headers: {
          ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}),
          ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      const text = await res.text();
      let parsed: unknown = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = { error: { message: text.slice(0, 200) } };
      }
      if (res.status !== 502 && res.status !== 503 && res.status !== 504)
        return { status: res.status, body: parsed };
      reason = errorMessage({ status: res.status, body: parsed });
    } catch (err) {
      reason = reasonOf(err);
    }
    if (attempt < opts.attempts) {
      const wait = Math.min(5000, 500 * 2 ** (attempt - 1));
      opts.onRetry?.(
        `hub not reachable at ${base} (${reason}); retrying in ${wait / 1000} s (attempt ${attempt + 1}/${opts.attempts})`,
        attempt,
        reason,
      );
      await sleep(wait);
    }
  }
  throw new HubUnreachable(base, reason, opts.attempts);
}
