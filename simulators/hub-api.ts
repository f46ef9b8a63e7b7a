/**
 * Provisioning devices on a hub through its HTTP API (the simulators' client with retries): create, or
 * rotate the token of an existing device; refusals as FleetError, a failure the user can act on.
 */
import { type Logger, pino } from 'pino';
import { createApiClient, HubUnreachable } from './api-client.ts';
import type { LngLat } from './district.ts';

/** A user-facing failure (hub unreachable, token refused…): the message says it all, no stack. */
export class FleetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FleetError';
    this.stack = `${this.name}: ${message}`;
  }
}

// ---- HTTP --------------------------------------------------------------------------------------

function errorMessageOf(body: unknown): string | undefined {
  if (typeof body === 'string') return body.slice(0, 200) || undefined;
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return e && typeof e.message === 'string' ? e.message : undefined;
}

export interface HubApi {
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** Creates a device (or rotates the token of an existing one); returns its access token. */
  provisionDevice(spec: {
    id: string;
    name?: string;
    profile: string;
    location?: LngLat;
    gateway?: boolean;
  }): Promise<string>;
  /** A FleetError for a refusal (says so when the admin token is refused). */
  refused(what: string, res: { status: number; body: unknown }): FleetError;
}

/** The hub's HTTP API with retries while it is unreachable (502/503/504 or no answer). */
export function createHubApi(opts: {
  apiUrl: string;
  adminToken: string;
  attempts?: number;
  onRetry?: (message: string) => void;
  logger?: Logger;
  onError?: () => void;
}): HubApi {
  const apiUrl = opts.apiUrl.replace(/\/+$/, '');
  const attempts = Math.max(1, opts.attempts ?? 5);
  const log = opts.logger ?? pino({ level: 'silent' });
  const onError = opts.onError ?? (() => {});

  const client = createApiClient({
    baseUrl: apiUrl,
    token: opts.adminToken,
    timeoutMs: 10_000,
    retry: {
      attempts,
      onRetry: (message, attempt, reason) => {
        log.info({ attempt, reason }, message);
        opts.onRetry?.(message);
      },
    },
  });

  async function call(method: string, path: string, body?: unknown) {
    try {
      return await client.call(method, path, body);
    } catch (err) {
      onError();
      if (err instanceof HubUnreachable) throw new FleetError(err.message);
      throw err;
    }
  }

  function refused(what: string, res: { status: number; body: unknown }): FleetError {
    onError();
    const detail = errorMessageOf(res.body);
    if (res.status === 401 || res.status === 403) {
      return new FleetError(
        `${what}: the hub refused the admin token (HTTP ${res.status}${detail ? `: ${detail}` : ''})`,
      );
    }
    return new FleetError(`${what}: HTTP ${res.status}${detail ? `: ${detail}` : ''}`);
  }

  const tokenOf = (body: unknown): string | undefined => {
    const b = body as { accessToken?: unknown; device?: { accessToken?: unknown } } | null;
    const t = b?.accessToken ?? b?.device?.accessToken;
    return typeof t === 'string' && t.length > 0 ? t : undefined;
  };

  async function provisionDevice(spec: Parameters<HubApi['provisionDevice']>[0]): Promise<string> {
    const { id, name, profile, location, gateway } = spec;
    const res = await call('POST', '/api/devices', {
      id,
      ...(name !== undefined ? { name } : {}),
      profile,
      ...(location ? { location: { lng: location.lng, lat: location.lat } } : {}),
      ...(gateway ? { gateway: true } : {}),
    });
    let token: string | undefined;
    if (res.status === 200 || res.status === 201) {
      token = tokenOf(res.body);
    } else if (res.status === 409) {
      const rotated = await call('POST', `/api/devices/${encodeURIComponent(id)}/token`);
      if (rotated.status !== 200 && rotated.status !== 201)
        throw refused(`rotating the token of ${id}`, rotated);
      token = tokenOf(rotated.body);
    } else {
      throw refused(`creating device ${id}`, res);
    }
    if (!token) {
      onError();
      throw new FleetError(`the hub's answer for device ${id} carries no accessToken`);
    }
    return token;
  }

  return { call, provisionDevice, refused };
}
