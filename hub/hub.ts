import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { type CaseService, createCaseService, createCatalogue } from '../cases/index.ts';
import { createGateway, type Gateway, type GatewayState } from '../gateway/index.ts';
import { createIngest, type Ingest, openSpool } from '../ingest/index.ts';
import {
  type Clock,
  ConfigError,
  createEventBus,
  createLogger,
  type EventBus,
  type Logger,
  type LoopDelayWatch,
  Metrics,
  manualClock,
  systemClock,
  watchEventLoop,
} from '../kernel/index.ts';
import {
  createHasher,
  createPeople,
  createRegistry,
  type People,
  type Registry,
  type SessionStore,
} from '../registry/index.ts';
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
import { createVideo, type StreamSlots, type Video } from '../video/index.ts';
import { type App, createWebServer } from '../web/index.ts';
import { ensureDataDir, resolveAdminToken } from './admin-token.ts';
import type { Config } from './config.ts';
import { createLifecycle } from './lifecycle.ts';

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
  /**
   * What a part holds in process, for a hub that shares it with others (issue 10, item 7): each
   * defaults to the part's in-memory implementation; the interfaces say what a shared one needs.
   */
  processState?: {
    /** The live event fan-out behind `/api/events` (kernel/events.ts). */
    events?: EventBus;
    /** Signed-in sessions (registry/sessions.ts). */
    sessions?: SessionStore;
    /** The MQTT edge: rate buckets, connection counters, persistent sessions (gateway/state.ts). */
    gateway?: GatewayState;
    /** Camera stream slots (video/slots.ts). */
    cameraSlots?: StreamSlots;
  };
  /** Rule engine timers (tests shorten them). */
  rules?: Pick<
    Parameters<typeof createRulesEngine>[0],
    'tickIntervalMs' | 'persistIntervalMs' | 'evaluator' | 'backtestMaxRows' | 'saveStatementRows'
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
 * The one composition root: the CLI, the demo and the tests all build the hub here. Each part is
 * `createX(deps) → { start(), stop() }`; they start in the order the data flow needs (store →
 * registry → cases → rules → ingest → gateway → web → video → retention: each after what it hands
 * data to) and drain, then stop, in reverse (lifecycle.ts), so nothing accepted is lost at stop.
 */
export function createHub(config: Config, deps: HubDeps = {}): Hub {
  const logger = deps.logger ?? createLogger(config.logLevel);
  const clock = deps.clock ?? (config.clock === 'manual' ? manualClock() : systemClock());
  const metrics = new Metrics();
  const events =
    deps.processState?.events ?? createEventBus((err) => logger.error({ err }, 'event subscriber failed'));
  // null when GRIDHUB_ADMIN_TOKEN=off: only people with the admin role administer the hub.
  const staticAdminToken = resolveAdminToken(config.adminToken, config.dataDir, logger);
  const adminToken = staticAdminToken ?? '';
  let parts: Hub['parts'] | undefined;
  let loop: LoopDelayWatch | undefined;
  let urls: Awaited<ReturnType<Hub['start']>> | undefined;
  const startedAt = Date.now();

  // Stopping the hub while it still waits for its database ends the wait.
  const starting = new AbortController();

  // Parts start in flow order and stop in reverse (lifecycle.ts); a failure names the part.
  let life = createLifecycle(logger);

  async function start() {
    if (urls) return urls;
    const tls = readTls(config);
    if (!config.databaseUrl) ensureDataDir(config.dataDir);
    life = createLifecycle(logger);
    // The event loop's stalls, watched while the hub runs (/metrics).
    loop ??= watchEventLoop(metrics);
    try {
      let store: Store | undefined;
      const storeCalls = metrics.histogram(
        'gridhub_store_call_seconds',
        'Store calls: from the call to its answer as the caller waited, by lane (read, write: ingest, background: rule state saves)',
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      );
      await life.start('store', {
        start: async () => {
          store = await openStore({
            signal: starting.signal,
            databaseUrl: config.databaseUrl,
            dataDir: config.dataDir,
            pglite: deps.pglite,
            poolSize: config.store.poolSize,
            embeddedWorker: config.store.embeddedWorker,
            embeddedSharedBuffersMb: config.store.embeddedSharedBuffersMb,
            migrate: config.store,
            logger: logger.child({ module: 'store' }),
            onCall: (lane, seconds) => storeCalls.observe(seconds, { lane }),
          });
        },
        stop: () => store?.close(),
      });
      return await startParts(store!, tls);
    } catch (err) {
      await life.stop();
      loop?.stop();
      loop = undefined;
      throw err;
    }
  }

  async function startParts(store: Store, tls: ReturnType<typeof readTls>) {
    // A deleted device's readings still buffered are written first, then removed with the rest.
    let flushIngest: () => Promise<void> = async () => {};
    // A deleted device's rule state is forgotten by the engine, built after the registry.
    let engine: Engine | undefined;
    const { registry, people } = await life.build('registry', async () => ({
      registry: await createRegistry({
        db: store.db,
        logger: logger.child({ module: 'registry' }),
        removeData: async (ids) => {
          await flushIngest();
          for (const id of ids) engine?.forgetDevice(id);
          for (const id of ids)
            await removeDeviceData(store.db, id, config.store.deviceDeletion, clock.now());
        },
      }),
      people: await createPeople({
        db: store.db,
        now: () => clock.now(),
        sessions: {
          idleMs: config.security.sessionIdleMinutes * 60_000,
          absoluteMs: config.security.sessionMaxHours * 3_600_000,
        },
        hasher: createHasher({ concurrency: config.security.kdfConcurrency }),
        sessionStore: deps.processState?.sessions,
      }),
    }));
    await life.start('registry', {
      start: async () => {
        await registry.start();
        await people.load();
      },
      stop: () => {},
    });
    registry.presence.onChange((deviceId, status) =>
      events.publish({ type: 'device', deviceId, status, at: new Date(clock.now()).toISOString() }),
    );
    // The device page's online history (issue 11): every connect/disconnect, kept in the store.
    const presenceLog = createPresenceLog({
      db: store.db,
      logger: logger.child({ module: 'presence' }),
      now: () => clock.now(),
    });
    await life.start('presence', { start: () => presenceLog.start(), stop: () => presenceLog.flush() });
    registry.presence.onChange((deviceId, status) => presenceLog.record(deviceId, status === 'online'));
    const { catalogue, cases } = await life.build('cases', async () => {
      const catalogue = await createCatalogue({ db: store.db, timezone: config.timezone });
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
      return { catalogue, cases };
    });
    await life.start('cases', {
      start: async () => {
        await catalogue.load();
        await cases.start();
      },
      // Drain: a store failure is no longer waited out (the hub must exit within 10 s); this runs
      // after ingest has written its last readings and before rules save their state.
      drain: () => cases.stopRetrying(),
      stop: () => cases.stop(),
    });
    // The write-ahead spool (issue 8): QoS 1 stays acknowledged through a database outage.
    // Opened before the rules: what it holds from before a stop is not in telemetry yet, and the
    // rules read their windows back from both (replayed once ingest starts).
    const spool = await life.build('ingest', () =>
      config.ingest.spoolMaxMb > 0
        ? openSpool(join(config.dataDir, 'spool'), {
            maxBytes: config.ingest.spoolMaxMb * 1024 * 1024,
            logger: logger.child({ module: 'spool' }),
          })
        : undefined,
    );
    const rules = createRulesEngine({
      db: store.db,
      unwritten: spool ? (visit) => spool.scan((batch) => visit(batch.telemetry)) : undefined,
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
    // Saves rule state on stop, after ingest has handed over its last readings.
    await life.start('rules', rules);
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
    await life.start('ingest', {
      start: () => ingest.start(),
      // Drain (issue 8): write everything taken — the first flush writes what is buffered, the
      // second (nothing buffered) waits for every write in flight — so the gateway's last PUBACKs
      // leave on still-open sockets. stop() then closes the spool.
      drain: async () => {
        await ingest.flush();
        await ingest.flush();
      },
      stop: () => ingest.stop(),
    });
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
      state: deps.processState?.gateway,
    });
    // Drain: no new connections, no new messages; stop: the sockets close.
    const { port: mqttPort, tlsPort } = await life.start('gateway', gateway);
    const reader = createTelemetryReader(store.db, store.dialect);
    const video = createVideo({
      registry,
      logger: logger.child({ module: 'video' }),
      metrics,
      events,
      clock,
      cases,
      config,
      slots: deps.processState?.cameraSlots,
    });
    const web = await life.build('web', () =>
      createWebServer(
        {
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
            status:
              rules.warnings().length || ingest.health().status !== 'ok' || store.db.health?.().ok === false
                ? 'degraded'
                : 'ok',
            version: VERSION,
            uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
            http: urls?.httpUrl,
            mqtt: urls?.mqttUrl,
            mqtts: urls?.mqttsUrl,
            clock: { kind: clock.kind, now: new Date(clock.now()).toISOString() },
            store: { driver: store.db.driver, dialect: store.dialect, ...store.db.health?.() },
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
              ...(() => {
                const h = store.db.health?.();
                return h && !h.ok ? [h.reason] : [];
              })(),
            ],
            video: video.health(),
          }),
        },
        { host: config.host, port: config.httpPort },
      ),
    );
    const httpPort = await life.start('web', web);
    // After web, so it stops first: viewers are told why before the server closes; no ffmpeg
    // outlives the hub.
    await life.start('video', video);
    const retention = createRetention({
      db: store.db,
      dialect: store.dialect,
      options: config.store,
      now: () => clock.now(),
      logger: logger.child({ module: 'retention' }),
      metrics,
    });
    await life.start('retention', retention);
    parts = { store, registry, people, ingest, gateway, web: web.app, rules, cases, video, retention };
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
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
  }

  /**
   * Shutdown order (issue 8), the reverse of the start: first every part drains — the gateway
   * stops taking connections and messages, ingest writes what it took so the last PUBACKs leave
   * on the still-open sockets — then every part stops: retention, the live views, the HTTP
   * server, the sockets, ingest's spool, rule state, cases, the store.
   */
  async function stop() {
    starting.abort();
    await life.stop();
    loop?.stop();
    loop = undefined;
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
