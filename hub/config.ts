import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_TIMEZONE, timeZoneSchema } from '../domain/index.ts';
import { gatewayConfigSchema } from '../gateway/index.ts';
import { ingestConfigSchema } from '../ingest/index.ts';
import { ConfigError, duration, port, positiveInt } from '../kernel/index.ts';
import { videoConfigSchema } from '../video/index.ts';
import { dashboardConfigSchema } from '../web/index.ts';

/** The configuration, the single source of truth for its keys, defaults and types. */
export const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./data'),
    databaseUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    host: z.string().min(1).default('127.0.0.1'),
    mqttPort: port.default(1883),
    httpPort: port.default(8080),
    mqttsPort: port.default(8883),
    // `off` turns the static admin token off (people with the admin role remain).
    adminToken: z
      .union([z.literal('off'), z.string().min(16, 'must be at least 16 characters (or off)')])
      .optional(),
    timezone: timeZoneSchema.default(DEFAULT_TIMEZONE),
    tlsCert: z.string().optional(),
    tlsKey: z.string().optional(),
    clock: z.enum(['system', 'manual']).default('system'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    ingest: ingestConfigSchema,
    /** The MQTT device edge (gateway/): packet sizes, connection caps, per-device limits. */
    gateway: gatewayConfigSchema,
    store: z
      .object({
        /** `auto` uses TimescaleDB when the extension is available. */
        timescale: z.enum(['auto', 'on', 'off']).default('auto'),
        retentionDays: positiveInt.default(400),
        compressAfterDays: positiveInt.default(7),
        poolSize: positiveInt.default(8),
        /** Embedded store: PGlite in its own worker thread, off the broker's thread (issue 13). */
        embeddedWorker: z
          .preprocess(
            (v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v),
            z.boolean(),
          )
          .default(true),
        /** Embedded store: PostgreSQL's buffer cache in MiB; resident from the start (issue 13, memory). */
        embeddedSharedBuffersMb: z.coerce.number().int().min(1).max(16_384).default(32),
        /** Retention per table (days; 0 keeps forever), enforced in bounded chunks. */
        rejectedRetentionDays: z.coerce.number().int().min(0).default(30),
        eventsRetentionDays: z.coerce.number().int().min(0).default(400),
        valuesRetentionDays: z.coerce.number().int().min(0).default(400),
        /** How often the retention pass runs. */
        retentionInterval: duration.default(3_600_000),
        /** Deleting a device: `purge` deletes its readings, `tombstone` keeps them under a renamed id. */
        deviceDeletion: z.enum(['purge', 'tombstone']).default('purge'),
      })
      .prefault({}),
    /** Cameras: live view through the hub and stills for detections (contract, Cameras). */
    video: videoConfigSchema,
    /** Evidence media (camera stills) kept in `<dataDir>/media` within a quota and a retention. */
    media: z
      .object({
        quotaMb: positiveInt.default(1024),
        retentionDays: positiveInt.default(180),
      })
      .prefault({}),
    security: z
      .object({
        /** A session unused this long ends. */
        sessionIdleMinutes: positiveInt.default(30),
        /** A session ends this long after sign-in. */
        sessionMaxHours: positiveInt.default(12),
        /**
         * Behind a TLS-terminating proxy: which forwarded addresses count (Fastify's trustProxy:
         * `true`, a hop count, or comma-separated addresses/CIDRs). Off by default.
         */
        trustProxy: z
          .union([z.boolean(), z.string()])
          .transform((v) => (v === 'true' ? true : v === 'false' || v === '' ? false : v))
          .default(false),
        /** Origins allowed to call the API from a browser (comma-separated); none by default. */
        corsOrigins: z
          .union([z.string(), z.array(z.string().url())])
          .transform((v) =>
            typeof v === 'string'
              ? v
                  .split(',')
                  .map((o) => o.trim())
                  .filter(Boolean)
              : v,
          )
          .default([]),
        /** When set, /metrics needs `Authorization: Bearer <token>`. */
        metricsToken: z.string().min(16, 'must be at least 16 characters').optional(),
        /** Audit log entries are kept this long. */
        auditRetentionDays: positiveInt.default(365),
        /** Concurrent `/api/events` streams. */
        maxEventClients: positiveInt.default(200),
        /** Password hashes computed at once (scrypt N=2^17 takes 128 MiB and ~0.4 s each). */
        kdfConcurrency: positiveInt.max(16).default(2),
      })
      .prefault({}),
    /** The dashboard (web/ui): an optional basemap (web/config.ts). */
    dashboard: dashboardConfigSchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (Boolean(c.tlsCert) !== Boolean(c.tlsKey)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tlsCert'],
        message: 'GRIDHUB_TLS_CERT and GRIDHUB_TLS_KEY go together',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Environment variables and the config keys they set (env wins over the file). */
export const ENV_KEYS: Record<string, { path: string[]; doc: string }> = {
  DATABASE_URL: {
    path: ['databaseUrl'],
    doc: 'postgres://… switches from the embedded store to PostgreSQL/TimescaleDB',
  },
  GRIDHUB_DATA_DIR: { path: ['dataDir'], doc: 'embedded store, admin token file (default ./data)' },
  GRIDHUB_HOST: { path: ['host'], doc: 'bind address (default 127.0.0.1)' },
  GRIDHUB_MQTT_PORT: { path: ['mqttPort'], doc: 'MQTT over TCP (default 1883; 0 = pick a free port)' },
  GRIDHUB_HTTP_PORT: {
    path: ['httpPort'],
    doc: 'HTTP API, dashboard, MQTT over WebSocket at /mqtt (default 8080)',
  },
  GRIDHUB_MQTTS_PORT: { path: ['mqttsPort'], doc: 'MQTT over TLS (default 8883, only with a certificate)' },
  GRIDHUB_ADMIN_TOKEN: {
    path: ['adminToken'],
    doc: 'admin bearer token; generated into <dataDir>/admin-token when unset; `off` disables it',
  },
  GRIDHUB_TIMEZONE: {
    path: ['timezone'],
    doc: 'IANA zone for day/night limits and calendars (default Asia/Shanghai)',
  },
  GRIDHUB_TLS_CERT: {
    path: ['tlsCert'],
    doc: 'PEM certificate file; with GRIDHUB_TLS_KEY turns on HTTPS and MQTTS',
  },
  GRIDHUB_TLS_KEY: { path: ['tlsKey'], doc: 'PEM private key file' },
  GRIDHUB_MAP_TILES: {
    path: ['dashboard', 'mapTiles'],
    doc: 'optional basemap under the dashboard map: an XYZ tile URL with {z}/{x}/{y} (unset: no basemap, no request leaves the hub)',
  },
  GRIDHUB_MAP_ATTRIBUTION: { path: ['dashboard', 'mapAttribution'], doc: "the basemap's attribution text" },
  GRIDHUB_CLOCK: { path: ['clock'], doc: '`system` (default) or `manual` for rehearsals and tests' },
  GRIDHUB_LOG_LEVEL: { path: ['logLevel'], doc: 'pino level (default info)' },
  GRIDHUB_INGEST_BATCH_SIZE: {
    path: ['ingest', 'batchSize'],
    doc: 'readings per database write (default 5000)',
  },
  GRIDHUB_INGEST_FLUSH_MS: {
    path: ['ingest', 'flushIntervalMs'],
    doc: 'longest wait before a partial batch is written (default 100)',
  },
  GRIDHUB_INGEST_EMBEDDED_TX_ROWS: {
    path: ['ingest', 'embeddedTransactionRows'],
    doc: 'embedded store: most rows per write transaction, so API reads wait little (default 500)',
  },
  GRIDHUB_INGEST_MAX_BUFFERED: {
    path: ['ingest', 'maxBuffered'],
    doc: 'readings held before the broker is pushed back (default 100000)',
  },
  GRIDHUB_INGEST_MAX_PAYLOAD: {
    path: ['ingest', 'maxPayloadBytes'],
    doc: 'largest accepted MQTT payload in bytes (default 65536)',
  },
  GRIDHUB_INGEST_ACK: {
    path: ['ingest', 'ackMode'],
    doc: '`durable` (default): PUBACK after commit; `received`: on arrival',
  },
  GRIDHUB_INGEST_SLICE_MS: {
    path: ['ingest', 'sliceMs'],
    doc: 'most ms of device work per event-loop turn, so the API is served in between under full load (default 2; 0: no limit)',
  },
  GRIDHUB_INGEST_GATHER_MS: {
    path: ['ingest', 'gatherMs'],
    doc: 'group commit: when the last write held several messages and few readings wait, the next write waits up to this long for more (default 2; 0: never)',
  },
  GRIDHUB_MQTT_MAX_PACKET: {
    path: ['gateway', 'maxPacketBytes'],
    doc: 'largest MQTT packet in bytes after CONNECT (default 2097152)',
  },
  GRIDHUB_MQTT_MAX_CONNECTIONS: {
    path: ['gateway', 'maxConnections'],
    doc: 'open MQTT connections in total (default 50000; 0 = no cap)',
  },
  GRIDHUB_MQTT_MAX_CONNECTIONS_PER_ADDRESS: {
    path: ['gateway', 'maxConnectionsPerAddress'],
    doc: 'open MQTT connections from one address (default 2000; 0 = no cap)',
  },
  GRIDHUB_MQTT_CONNECT_RATE_PER_ADDRESS: {
    path: ['gateway', 'connectRatePerAddress'],
    doc: 'new MQTT connections per second from one address (default 100, burst 1000; 0 = no limit)',
  },
  GRIDHUB_MQTT_KEEPALIVE_MAX: {
    path: ['gateway', 'keepaliveMaxSeconds'],
    doc: 'longest keep alive in seconds; 0 or longer is replaced by it (default 600)',
  },
  GRIDHUB_MQTT_PLAIN: {
    path: ['gateway', 'plainMqtt'],
    doc: '`false` turns plain MQTT (TCP) off, leaving MQTTS and MQTT over WSS (default true)',
  },
  GRIDHUB_EMBEDDED_WORKER: {
    path: ['store', 'embeddedWorker'],
    doc: 'embedded store: `true` runs PGlite in a worker thread, `false` on the main thread (default true)',
  },
  GRIDHUB_EMBEDDED_SHARED_BUFFERS_MB: {
    path: ['store', 'embeddedSharedBuffersMb'],
    doc: "embedded store: PostgreSQL's shared_buffers in MiB, resident from the start (default 32; PGlite's own 128)",
  },
  GRIDHUB_TIMESCALE: {
    path: ['store', 'timescale'],
    doc: '`auto` (default), `on` (fail without TimescaleDB) or `off`',
  },
  GRIDHUB_RETENTION_DAYS: {
    path: ['store', 'retentionDays'],
    doc: 'raw telemetry kept this long, on every store (default 400)',
  },
  GRIDHUB_REJECTED_RETENTION_DAYS: {
    path: ['store', 'rejectedRetentionDays'],
    doc: 'rejected messages kept this long (default 30; 0 = forever)',
  },
  GRIDHUB_EVENTS_RETENTION_DAYS: {
    path: ['store', 'eventsRetentionDays'],
    doc: 'camera detection events kept this long (default 400; 0 = forever)',
  },
  GRIDHUB_VALUES_RETENTION_DAYS: {
    path: ['store', 'valuesRetentionDays'],
    doc: 'non-numeric values of generic devices kept this long (default 400; 0 = forever)',
  },
  GRIDHUB_RETENTION_INTERVAL: {
    path: ['store', 'retentionInterval'],
    doc: 'how often old rows are deleted, in bounded chunks (default 1h)',
  },
  GRIDHUB_DEVICE_DELETION: {
    path: ['store', 'deviceDeletion'],
    doc: '`purge` (default): deleting a device deletes its readings; `tombstone`: keeps them under `ID~deleted~TIME`',
  },
  GRIDHUB_MAX_CLOCK_SKEW: {
    path: ['ingest', 'maxClockSkew'],
    doc: 'readings further ahead of the hub clock are rejected (default 10m)',
  },
  GRIDHUB_SPOOL_MAX_MB: {
    path: ['ingest', 'spoolMaxMb'],
    doc: 'write-ahead spool in <dataDir>/spool while the store is down, quota in MiB (default 256; 0 = off)',
  },
  GRIDHUB_REJECTED_SAMPLE: {
    path: ['ingest', 'rejectedSamplePerMinute'],
    doc: 'rejected messages kept per device and reason per minute, the rest counted (default 20)',
  },
  GRIDHUB_COMPRESS_AFTER_DAYS: {
    path: ['store', 'compressAfterDays'],
    doc: 'TimescaleDB compresses chunks older than this (default 7)',
  },
  GRIDHUB_VIDEO: {
    path: ['video', 'enabled'],
    doc: '`on` (default; needs ffmpeg) or `off`: camera live view and stills',
  },
  GRIDHUB_FFMPEG: { path: ['video', 'ffmpegPath'], doc: 'ffmpeg executable (default ffmpeg on PATH)' },
  GRIDHUB_VIDEO_MAX_STREAMS: {
    path: ['video', 'maxStreams'],
    doc: 'live view transcodes at once; more viewers of other cameras are refused (default 4)',
  },
  GRIDHUB_VIDEO_IDLE_STOP_MS: {
    path: ['video', 'idleStopMs'],
    doc: 'a stream stops this long after its last viewer leaves (default 5000)',
  },
  GRIDHUB_VIDEO_RTSP_TRANSPORT: { path: ['video', 'rtspTransport'], doc: '`tcp` (default) or `udp`' },
  GRIDHUB_VIDEO_MAX_RETRIES: {
    path: ['video', 'maxRetries'],
    doc: 'restarts without video before a stream is failed (default 8)',
  },
  GRIDHUB_VIDEO_SNAPSHOT_HOSTS: {
    path: ['video', 'snapshotHosts'],
    doc: 'comma-separated hosts detection snapshot URLs may come from besides the camera (default none)',
  },
  GRIDHUB_MEDIA_QUOTA_MB: { path: ['media', 'quotaMb'], doc: 'disk quota of evidence media (default 1024)' },
  GRIDHUB_MEDIA_RETENTION_DAYS: {
    path: ['media', 'retentionDays'],
    doc: 'evidence media kept this long (default 180)',
  },
  GRIDHUB_SESSION_IDLE_MINUTES: {
    path: ['security', 'sessionIdleMinutes'],
    doc: 'a session unused this long ends (default 30)',
  },
  GRIDHUB_SESSION_MAX_HOURS: {
    path: ['security', 'sessionMaxHours'],
    doc: 'a session ends this long after sign-in (default 12)',
  },
  GRIDHUB_TRUST_PROXY: {
    path: ['security', 'trustProxy'],
    doc: 'behind a proxy: true, a hop count or addresses whose X-Forwarded-For counts (default off)',
  },
  GRIDHUB_CORS_ORIGINS: {
    path: ['security', 'corsOrigins'],
    doc: 'comma-separated browser origins allowed to call the API (default none)',
  },
  GRIDHUB_METRICS_TOKEN: {
    path: ['security', 'metricsToken'],
    doc: 'when set, GET /metrics needs this bearer token',
  },
  GRIDHUB_AUDIT_RETENTION_DAYS: {
    path: ['security', 'auditRetentionDays'],
    doc: 'audit log entries kept this long (default 365)',
  },
  GRIDHUB_EVENTS_MAX_CLIENTS: {
    path: ['security', 'maxEventClients'],
    doc: 'concurrent /api/events streams (default 200)',
  },
};

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function envNameFor(path: PropertyKey[]): string | undefined {
  const joined = path.join('.');
  return Object.entries(ENV_KEYS).find(([, v]) => v.path.join('.') === joined)?.[0];
}

/**
 * Validates a configuration made of a JSON file (optional), the environment and overrides
 * (tests, CLI flags). Env wins over the file; overrides win over both. Throws ConfigError naming
 * every bad key.
 */
export function loadConfig(
  opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: ConfigInput } = {},
): Config {
  const merged: Record<string, unknown> = {};
  const problems: string[] = [];
  if (opts.file) {
    try {
      const parsed = JSON.parse(readFileSync(opts.file, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        problems.push(`${opts.file}: must hold a JSON object`);
      } else Object.assign(merged, parsed);
    } catch (err) {
      problems.push(`${opts.file}: ${(err as Error).message}`);
    }
  }
  const env = opts.env ?? {};
  for (const [name, { path }] of Object.entries(ENV_KEYS)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(merged, path, v);
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    if (v && typeof v === 'object' && !Array.isArray(v) && typeof merged[k] === 'object') {
      merged[k] = { ...(merged[k] as object), ...v };
    } else merged[k] = v;
  }
  if (problems.length) throw new ConfigError(problems);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((i) => {
        const key = i.path.join('.') || '(root)';
        const env = envNameFor(i.path);
        const got = i.path.reduce<unknown>((node, k) => (node as Record<PropertyKey, unknown>)?.[k], merged);
        const shown = got === undefined || typeof got === 'object' ? '' : ` (got ${JSON.stringify(got)})`;
        return `${key}${env ? ` (${env})` : ''}: ${i.message}${shown}`;
      }),
    );
  }
  return result.data;
}
