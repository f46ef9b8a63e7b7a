/** A small HTTP client for the hub's API: JSON in and out, retries with backoff while unreachable. */

/** A failure the user can act on (hub unreachable, clock not manual, token refused…): no stack. */
export class RunnerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunnerError';
    this.stack = `${this.name}: ${message}`;
  }
}

export interface ApiResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON from the hub, checked where used
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

export const errorMessage = (r: ApiResponse): string => {
  const m = r.body?.error?.message;
  return `HTTP ${r.status}${typeof m === 'string' ? `: ${m}` : ''}`;
};

export class Api {
  readonly base: string;
  constructor(
    apiUrl: string,
    private readonly adminToken: string,
    private readonly attempts = 5,
    private readonly onRetry?: (message: string) => void,
  ) {
    this.base = apiUrl.replace(/\/+$/, '');
  }

  /** One request; `token` null for none, undefined for the admin token. */
  async call(method: string, path: string, body?: unknown, token?: string | null): Promise<ApiResponse> {
    const bearer = token === undefined ? this.adminToken : token;
    let reason = '';
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        const res = await fetch(`${this.base}${path}`, {
          method,
          headers: {
            ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
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
      if (attempt < this.attempts) {
        const wait = Math.min(5000, 500 * 2 ** (attempt - 1));
        this.onRetry?.(`hub not reachable at ${this.base} (${reason}); retrying in ${wait / 1000} s`);
        await sleep(wait);
      }
    }
    throw new RunnerError(
      `cannot reach the hub at ${this.base} (${reason}) after ${this.attempts} attempt${this.attempts > 1 ? 's' : ''}; is it running?`,
    );
  }
}
