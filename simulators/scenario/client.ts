/** A small HTTP client for the hub's API: JSON in and out, retries with backoff while unreachable. */
import { errorMessage, type HubResponse, HubUnreachable, requestWithRetry } from '../http.ts';

/** A failure the user can act on (hub unreachable, clock not manual, token refused…): no stack. */
export class RunnerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunnerError';
    this.stack = `${this.name}: ${message}`;
  }
}

export type ApiResponse = HubResponse;
export { errorMessage };

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
    try {
      return await requestWithRetry({
        base: this.base,
        method,
        path,
        body,
        bearer,
        attempts: this.attempts,
        timeoutMs: 30_000,
        onRetry: (message) => this.onRetry?.(message),
      });
    } catch (err) {
      if (err instanceof HubUnreachable) throw new RunnerError(err.message);
      throw err;
    }
  }
}
