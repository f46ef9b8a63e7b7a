/** The scenario runner's view of the hub's API: the simulators' client, failures as {@link RunnerError}. */
import {
  type ApiClient,
  createApiClient,
  errorMessage,
  type HubResponse,
  HubUnreachable,
} from '../api-client.ts';

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
  private readonly client: ApiClient;
  constructor(apiUrl: string, adminToken: string, attempts = 5, onRetry?: (message: string) => void) {
    this.client = createApiClient({
      baseUrl: apiUrl,
      token: adminToken,
      timeoutMs: 30_000,
      retry: { attempts, onRetry: (message) => onRetry?.(message) },
    });
    this.base = this.client.baseUrl;
  }

  /** One request; `token` null for none, undefined for the admin token. */
  async call(method: string, path: string, body?: unknown, token?: string | null): Promise<ApiResponse> {
    try {
      return await this.client.call(method, path, body, token);
    } catch (err) {
      if (err instanceof HubUnreachable) throw new RunnerError(err.message);
      throw err;
    }
  }
}
