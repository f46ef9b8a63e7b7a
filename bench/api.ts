// HTTP helpers against a running hub (on the simulators' API client): device registration,
// /metrics, /api/health.

import { performance } from 'node:perf_hooks';
import {
  type ApiClient,
  createApiClient,
  errorMessage,
  type HubResponse,
  parseMetrics,
} from '../simulators/index.ts';

export const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';

/** The simulators' API client for a hub, with the benchmark's admin token and a patient timeout. */
export function client(httpUrl: string): ApiClient {
  return createApiClient({ baseUrl: httpUrl, token: ADMIN_TOKEN, timeoutMs: 300_000 });
}

export function api(httpUrl: string, method: string, path: string, body?: unknown): Promise<HubResponse> {
  return client(httpUrl).call(method, path, body);
}

/** Like `api`, but throws on a non-2xx answer and returns the body. */
export function request(httpUrl: string, method: string, path: string, body?: unknown): Promise<any> {
  return client(httpUrl).request(method, path, body);
}

/**
 * Registers devices through `POST /api/devices` with `concurrency` requests in flight; returns their
 * access tokens in the order of `ids`.
 */
export async function registerDevices(
  httpUrl: string,
  ids: string[],
  opts: { profile: string; concurrency: number; onProgress?: (done: number) => void; every?: number },
): Promise<{ tokens: string[]; ms: number }> {
  const t0 = performance.now();
  const tokens = new Array<string>(ids.length);
  let next = 0;
  let done = 0;
  const every = opts.every ?? 1000;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      const r = await api(httpUrl, 'POST', '/api/devices', { id: ids[i], profile: opts.profile });
      if (r.status !== 201)
        throw new Error(`POST /api/devices ${ids[i]}: ${r.status} ${JSON.stringify(r.body)}`);
      tokens[i] = r.body.accessToken;
      if (++done % every === 0) opts.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(ids.length, opts.concurrency) }, worker));
  return { tokens, ms: performance.now() - t0 };
}

/** Every sample of the hub's Prometheus text at /metrics, keyed by `name{labels}` as rendered. */
export async function scrape(httpUrl: string): Promise<Map<string, number>> {
  const r = await client(httpUrl).call<string>('GET', '/metrics', undefined, null);
  return parseMetrics(typeof r.body === 'string' ? r.body : '');
}

/** The ingest figures the benchmark follows, from one scrape. */
export interface IngestMetrics {
  rows: number;
  flushSeconds: number;
  flushes: number;
  pushback: number;
  /** Batches written twice because they held a reading already stored. */
  redelivered: number;
  queueDepth: number;
  /** The hub's event-loop delay over its last 10 s window, in ms: median, p99, longest stall. */
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
}
export async function ingestMetrics(httpUrl: string): Promise<IngestMetrics> {
  const m = await scrape(httpUrl);
  return {
    rows: m.get('gridhub_rows_written_total{table="telemetry"}') ?? 0,
    flushSeconds: m.get('gridhub_flush_seconds_sum') ?? 0,
    flushes: m.get('gridhub_flush_seconds_count') ?? 0,
    pushback: m.get('gridhub_ingest_pushback_total') ?? 0,
    redelivered: m.get('gridhub_redelivered_batches_total') ?? 0,
    queueDepth: m.get('gridhub_write_queue_depth') ?? 0,
    loopP50Ms: (m.get('gridhub_event_loop_delay_seconds{quantile="0.5"}') ?? 0) * 1000,
    loopP99Ms: (m.get('gridhub_event_loop_delay_seconds{quantile="0.99"}') ?? 0) * 1000,
    loopMaxMs: (m.get('gridhub_event_loop_delay_seconds{quantile="1"}') ?? 0) * 1000,
  };
}

/** The hub's rules (an empty list when the hub has no rules API). */
export async function listRules(
  httpUrl: string,
): Promise<{ id: string; enabled?: boolean; appliesTo?: { profile?: string } }[]> {
  const r = await api(httpUrl, 'GET', '/api/rules');
  return r.status === 200 && Array.isArray(r.body?.items) ? r.body.items : [];
}

export async function deleteRule(httpUrl: string, id: string): Promise<void> {
  const r = await api(httpUrl, 'DELETE', `/api/rules/${encodeURIComponent(id)}`);
  if (r.status >= 300) throw new Error(`DELETE /api/rules/${id}: ${r.status} ${JSON.stringify(r.body)}`);
}

export async function health(httpUrl: string): Promise<any> {
  return (await api(httpUrl, 'GET', '/api/health')).body;
}

/** One timed GET (headers + full body), in ms; throws on a non-2xx answer. */
export async function timedGet(httpUrl: string, path: string): Promise<{ ms: number; body: any }> {
  const api = client(httpUrl);
  const t0 = performance.now();
  const r = await api.call('GET', path);
  const ms = performance.now() - t0; // includes JSON.parse, as a browser's fetch().json() would
  if (r.status < 200 || r.status > 299) throw new Error(`GET ${path}: ${r.status} ${errorMessage(r)}`);
  return { ms, body: r.body };
}
