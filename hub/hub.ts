import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { type CaseService, createCaseService, createCatalogue } from '../cases/index.ts';
import { createGateway, type Gateway } from '../gateway/index.ts';
import { createIngest, type Ingest, openSpool } from '../ingest/index.ts';
import {
  type Clock,
  ConfigError,
  createEventBus,
  createLogger,
  type EventBus,
  type Logger,
  Metrics,
  manualClock,
  systemClock,
} from '../kernel/index.ts';
import { createHasher, createPeople, createRegistry, type People, type Registry } from '../registry/index.ts';
import { createRulesEngine, type Engine } from '../rules/index.ts';
import {
  createPresenceLog,
  createRetention,
  createTelemetryReader,
  openStore,
  type PgliteLike,
  type Retention,
  removeDeviceData,
  type Store,
} from '../store/index.ts';
import { createVideo, type Video } from '../video/index.ts';
import { type App, createWeb } from '../web/index.ts';
import { ensureDataDir, resolveAdminToken } from './admin-token.ts';
import type { Config } from './config.ts';

export const VERSION: string = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).version;

/** Reads the TLS files named by the configuration; a bad path stops the start naming the key. */
function readTls(config: Config): { cert: Buffer; key: Buffer } | undefined {
  if (!config.tlsCert || !config.tlsKey) return undefined;
  const read = (file: string, key: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError([
        `${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      ]);
    }
  };
  return {
    cert: read(config.tlsCert, 'tlsCert (GRIDHUB_TLS_CERT)'),
    key: read(config.tlsKey, 'tlsKey (GRIDHUB_TLS_KEY)'),
  };
}

export interface HubDeps {
  logger?: Logger;
  clock?: Clock;
  /** A PGlite instance to use as the store (tests hand in the TimescaleDB build). */
  pglite?: PgliteLike;
  /** Rule engine timers (tests shorten them). */
  rules?: Pick<
    Parameters<typeof createRulesEngine>[0],
    'tickIntervalMs' | 'persistIntervalMs' | 'evaluator' | 'backtestMaxRows'
  >;
  /** Case timers (tests shorten them). */
  cases?: Pick<Parameters<typeof createCaseService>[0], 'tickIntervalMs'>;
}

export interface Hub {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly events: EventBus;
  readonly adminToken: string;
  start(): Promise<{
    httpUrl: string;
    mqttUrl: string;
    mqttPort: number;
    httpPort: number;
    mqttsUrl?: string;
  }>;
  stop(): Promise<void>;
  /** Available after start(). */
  readonly parts: {
    store: Store;
    registry: Registry;
    people: People;
    ingest: Ingest;
    gateway: Gateway;
    web: App;
    rules: Engine;
    cases: CaseService;
    video: Video;
    retention: Retention;
  };
}

/**
 * The one composition root: the CLI, the demo and the tests all build the hub here. Parts are
 * created in flow order (store → registry → ingest → rules → gateway → web) and stopped in reverse,
 * so nothing accepted is lost at stop.
 */
export function createHub(config: Config, deps: HubDeps = {}): Hub {
  const logger = deps.logger ?? createLogger(config.logLevel);
  const clock = deps.clock ?? (config.clock === 'manual' ? manualClock() : systemClock());
  const metrics = new Metrics();
  const events = createEventBus((err) => logger.error({ err }, 'event subscriber failed'));
  // null when GRIDHUB_ADMIN_TOKEN=off: only people with the admin role administer the hub.
  const staticAdminToken = resolveAdminToken(config.adminToken, config.dataDir, logger);
  const adminToken = staticAdminToken ?? '';
  let parts: Hub['parts'] | undefined;
  let urls: Awaited<ReturnType<Hub['start']>> | undefined;
  const startedAt = Date.now();

  // Stopping the hub while it still waits for its database ends the wait.
  const starting = new AbortController();

  async function start() {
    if (urls) return urls;
    const tls = readTls(config);
    if (!config.databaseUrl) ensureDataDir(config.dataDir);
    const store = await openStore({
      signal: starting.signal,
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      pglite: deps.pglite,
      poolSize: config.store.poolSize,
      migrate: config.store,
      logger: logger.child({ module: 'store' }),
    });
    const stack: (() => Promise<void>)[] = [() => store.close()];
    try {
      // A deleted device's readings still buffered are written first, then removed with the rest.
      let flushIngest: () => Promise<void> = async () => {};
      const registry = await createRegistry({
        db: store.db,
        logger: logger.child({ module: 'registry' }),
        removeData: async (ids) => {
          await flushIngest();
          for (const id of ids) engine?.forgetDevice(id);
          for (const id of ids)
            await removeDeviceData(store.db, id, config.store.deviceDeletion, clock.now());
        },
      });
      await registry.start();
      registry.presence.onChange((deviceId, status) =>
        events.publish({ type: 'device', deviceId, status, at: new Date(clock.now()).toISOString() }),
      );
      // The device page's online history (issue 11): every connect/disconnect, kept in the store.
      const presenceLog = createPresenceLog({
        db: store.db,
        logger: logger.child({ module: 'presence' }),
        now: () => clock.now(),
      });
      await presenceLog.start();
      registry.presence.onChange((deviceId, status) => presenceLog.record(deviceId, status === 'online'));
      stack.push(() => presenceLog.flush());
      const people = await createPeople({
        db: store.db,
        now: () => clock.now(),
        sessions: {
          idleMs: config.security.sessionIdleMinutes * 60_000,
          absoluteMs: config.security.sessionMaxHours * 3_600_000,
        },
        hasher: createHasher({ concurrency: config.security.kdfConcurrency }),
      });
      await people.load();
      const catalogue = await createCatalogue({ db: store.db, timezone: config.timezone });
      await catalogue.load();
      let engine: Engine | undefined;
      const cases = createCaseService({
        db: store.db,
        registry,
        people,
        catalogue,
        clock,
        events,
        metrics,
        logger: logger.child({ module: 'cases' }),
        ...deps.cases,
      });
      await cases.start();
      stack.push(() => cases.stop());
      const rules = createRulesEngine({
        db: store.db,
        registry,
        cases,
        clock,
        events,
        metrics,
        logger: logger.child({ module: 'rules' }),
        timezone: config.timezone,
        ...deps.rules,
      });
      engine = rules;
      // The write-ahead spool (issue 8): QoS 1 stays acknowledged through a database outage.
      const spool =
        config.ingest.spoolMaxMb > 0
          ? await openSpool(join(config.dataDir, 'spool'), {
              maxBytes: config.ingest.spoolMaxMb * 1024 * 1024,
              logger: logger.child({ module: 'spool' }),
            })
          : undefined;
      const ingest = createIngest({
        spool,
        db: store.db,
        registry,
        clock,
        metrics,
        logger: logger.child({ module: 'ingest' }),
        options: config.ingest,
        sink: (batch) => rules.onReadings(batch),
      });
      flushIngest = () => ingest.flush();
      ingest.start();
      stack.push(() => ingest.stop());
      await rules.start();
      stack.push(() => rules.stop());
      const gateway = createGateway({
        registry,
        ingest,
        metrics,
        logger: logger.child({ module: 'gateway' }),
        options: {
          host: config.host,
          mqttPort: config.mqttPort,
          tls: tls && { ...tls, port: config.mqttsPort },
          edge: config.gateway,
          maxPayloadBytes: config.ingest.maxPayloadBytes,
        },
      });
      const { port: mqttPort, tlsPort } = await gateway.start();
      stack.push(() => gateway.stop());
      const reader = createTelemetryReader(store.db, store.dialect);
      const video = createVideo({
        registry,
        logger: logger.child({ module: 'video' }),
        metrics,
        events,
        clock,
        cases,
        config,
      });
      await video.start();
      const web = await createWeb({
        registry,
        people,
        events,
        cases,
        catalogue,
        rules,
        reader,
        ingest,
        metrics,
        clock,
        logger: logger.child({ module: 'web' }),
        adminToken: staticAdminToken,
        db: store.db,
        security: config.security,
        tls,
        timezone: config.timezone,
        dashboard: config.dashboard,
        version: VERSION,
        mqttStream: (s: Duplex, address?: string) => gateway.handleStream(s, address),
        video,
        dataDir: config.dataDir,
        sendToDevice: (id, topic, payload) => gateway.sendTo(id, topic, payload),
        deviceLimits: (id) => gateway.limitsOf(id),
        rpc: gateway.rpc,
        health: () => ({
          status: rules.warnings().length || ingest.health().status !== 'ok' ? 'degraded' : 'ok',
          version: VERSION,
          uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
          http: urls?.httpUrl,
          mqtt: urls?.mqttUrl,
          mqtts: urls?.mqttsUrl,
          clock: { kind: clock.kind, now: new Date(clock.now()).toISOString() },
          store: { driver: store.db.driver, dialect: store.dialect },
          ingest: ingest.stats(),
          spool: ingest.spool(),
          mqttConnections: gateway.connectedClients(),
          devices: registry.devices.count(),
          grids: registry.grids.count(),
          warnings: [
            ...rules.warnings(),
            ...(() => {
              const h = ingest.health();
              return h.status === 'ok' ? [] : [h.reason];
            })(),
          ],
          video: video.health(),
        }),
      });
      await web.listen({ host: config.host, port: config.httpPort });
      stack.push(() => web.close());
      // Viewers are told why before the server closes; no ffmpeg outlives the hub.
      stack.push(() => video.stop());
      const address = web.server.address();
      const httpPort = typeof address === 'object' && address ? address.port : config.httpPort;
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      const retention = createRetention({
        db: store.db,
        dialect: store.dialect,
        options: config.store,
        now: () => clock.now(),
        logger: logger.child({ module: 'retention' }),
        metrics,
      });
      retention.start();
      parts = { store, registry, people, ingest, gateway, web, rules, cases, video, retention };
      // Shutdown order (issue 8): stop taking connections and messages; flush ingest so the last
      // PUBACKs leave on the still-open sockets; save rule state (cases stop waiting for a store
      // that is gone); then close the sockets, the live views, the HTTP server and the store.
      stops = [
        store.close,
        () => retention.stop(),
        async () => web.close(),
        // Viewers are told why before the server closes; no ffmpeg outlives the hub.
        () => video.stop(),
        () => gateway.stop(),
        () => rules.stop(),
        () => cases.stop(),
        () => ingest.stop(),
        async () => gateway.drain(),
      ];
      const mqttsUrl = tlsPort === undefined ? undefined : `mqtts://${host}:${tlsPort}`;
      urls = {
        httpUrl: `${tls ? 'https' : 'http'}://${host}:${httpPort}`,
        // With plain MQTT off (gateway.plainMqtt false) devices connect over MQTTS only.
        mqttUrl: mqttPort === undefined ? (mqttsUrl ?? '') : `mqtt://${host}:${mqttPort}`,
        mqttsUrl,
        mqttPort: mqttPort ?? tlsPort ?? 0,
        httpPort,
      };
      return urls;
    } catch (err) {
      for (const s of stack.reverse()) await s().catch(() => {});
      throw err;
    }
  }

  let stops: (() => Promise<void>)[] = [];
  async function stop() {
    starting.abort();
    const s = stops;
    stops = [];
    for (const fn of s.reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.error({ err }, 'error while stopping');
      }
    }
    urls = undefined;
    logger.flush?.();
  }

  return {
    config,
    logger,
    clock,
    metrics,
    events,
    adminToken,
    start,
    stop,
    get parts() {
      if (!parts) throw new Error('the hub is not started');
      return parts;
    },
  };
}
