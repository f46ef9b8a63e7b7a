/**
 * What the gateway's concerns share: their dependencies, the per-connection records, the metrics
 * and the throttled log. Built once by createGateway (broker.ts) and handed to each concern.
 */
import type { Aedes, Client } from 'aedes';
import type { Ingest } from '../ingest/index.ts';
import type { Logger, Metrics } from '../kernel/index.ts';
import type { Device, Registry } from '../registry/index.ts';
import type { GatewayConfig } from './config.ts';
import {
  DEFAULT_DEVICE_LIMITS,
  DEFAULT_GATEWAY_LIMITS,
  type DeviceLimits,
  type PartialLimits,
} from './limits.ts';
import type { RpcTracker } from './rpc.ts';
import type { GatewayState } from './state.ts';
import { outboundTopic } from './topics.ts';

export interface GatewayOptions {
  host: string;
  mqttPort: number;
  /** MQTTS, when a certificate is configured. */
  tls?: { cert: Buffer; key: Buffer; port: number };
  /** Packet sizes, connection caps and per-device limits (config `gateway`). */
  edge: GatewayConfig;
  /** Ingest's payload limit, told to devices in `getSessionLimits`. */
  maxPayloadBytes: number;
}

/** Per connection: who it is, with which credential, and what it is doing right now. */
export interface Conn {
  device: Device;
  credential: string | null;
  v5: boolean;
  inflight: number;
  subscriptions: Set<string>;
}

/** What became of one PUBLISH, before it is answered in the client's protocol version. */
export type Outcome =
  | { ok: true }
  | { refused: string }
  | { invalid: string }
  | { quota: string }
  | { storeFailed: Error };

export type Callback = (err?: Error | null) => void;

export function createContext(deps: {
  registry: Registry;
  ingest: Ingest;
  logger: Logger;
  metrics: Metrics;
  options: GatewayOptions;
  state: GatewayState;
}) {
  const { metrics } = deps;
  const edge = deps.options.edge;
  const log = deps.logger;
  const limitsConfig: {
    defaults: DeviceLimits;
    gateway: PartialLimits;
    profiles: Record<string, PartialLimits>;
  } = {
    defaults: { ...DEFAULT_DEVICE_LIMITS, ...edge.limits },
    gateway: { ...DEFAULT_GATEWAY_LIMITS, ...edge.gatewayLimits },
    profiles: edge.profileLimits,
  };
  const m = {
    refusedConnect: metrics.counter('gridhub_mqtt_connect_refused_total', 'CONNECTs refused, by reason'),
    refusedPublish: metrics.counter(
      'gridhub_mqtt_publish_refused_total',
      'PUBLISHes refused by the topic ACL',
    ),
    refusedSubscribe: metrics.counter(
      'gridhub_mqtt_subscribe_refused_total',
      'Subscriptions refused by the topic ACL',
    ),
    breaches: metrics.counter(
      'gridhub_device_limit_breaches_total',
      'Per-device limit breaches, by reason (per device: GET /api/devices/:id/limits)',
    ),
    coolDowns: metrics.counter('gridhub_device_cooldowns_total', 'Devices disconnected for a cool-down'),
    guardClosed: metrics.counter(
      'gridhub_mqtt_guard_closed_total',
      'Connections closed by the connect guard before the broker, by rule',
    ),
  };

  // One log line per key per window, with how many were suppressed: a noisy device or a scanner
  // must not flood the log.
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  function warnThrottled(key: string, obj: Record<string, unknown>, msg: string) {
    const now = Date.now();
    const prev = lastLogged.get(key);
    if (prev && now - prev.at < 10_000) {
      prev.suppressed++;
      return;
    }
    if (lastLogged.size > 10_000) lastLogged.clear();
    lastLogged.set(key, { at: now, suppressed: 0 });
    log.warn({ ...obj, suppressed: prev?.suppressed ?? 0 }, msg);
  }

  const ctx = {
    registry: deps.registry,
    ingest: deps.ingest,
    log,
    edge,
    options: deps.options,
    state: deps.state,
    limitsConfig,
    /** What CONNACK advertises as Receive Maximum; v5 clients are held to at least this. */
    advertisedReceiveMaximum: limitsConfig.defaults.maxInflight,
    m,
    warnThrottled,
    /** The broker while started. */
    broker: undefined as Aedes | undefined,
    /** Shutting down (issue 8): no new connections, no new messages; PUBACKs of taken ones still leave. */
    draining: false,
    stopped: false,
    connOf: new WeakMap<Client, Conn>(),
    /** A device's live connections in this process (sockets cannot be shared between hubs). */
    clientsOf: new Map<string, Set<Client>>(),
    /** Children a gateway connection announced, so they go offline with it. */
    childrenOf: new WeakMap<Client, Set<string>>(),
    /** SHA-256 fingerprint (lowercase hex) of the client certificate a TLS connection presented. */
    certOf: new WeakMap<object, string>(),
    /** PUBACK message ids of RPC requests written to a connection, so delivery can be recorded. */
    rpcInFlight: new WeakMap<Client, Map<number, number>>(),
    /** Set by createGateway once the tracker (which publishes through sendTo) exists. */
    rpc: undefined as unknown as RpcTracker,
    /** Counts a refused PUBLISH or SUBSCRIBE and logs it (throttled per device). */
    refuse(kind: 'publish' | 'subscribe', client: Client, topic: string, reason: string) {
      (kind === 'publish' ? m.refusedPublish : m.refusedSubscribe).inc();
      const deviceId = ctx.connOf.get(client)?.device.id;
      warnThrottled(
        `${kind}\u0000${deviceId}`,
        { clientId: client.id, deviceId, topic, reason },
        `${kind} refused`,
      );
    },
    /** Publishes to one device on its own topic (hub → device). */
    sendTo(deviceId: string, deviceTopic: string, payload: unknown, qos: 0 | 1 = 1, expirySeconds?: number) {
      return new Promise<void>((resolve, reject) => {
        const broker = ctx.broker;
        if (!broker) return reject(new Error('broker not started'));
        broker.publish(
          {
            cmd: 'publish',
            topic: outboundTopic(deviceId, deviceTopic),
            payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
            qos,
            retain: false,
            dup: false,
            // MQTT 5 message expiry: a queued message is dropped, not delivered late ([MQTT-3.3.2-5]).
            ...(expirySeconds ? { properties: { messageExpiryInterval: expirySeconds } } : {}),
          },
          (err?: Error) => (err ? reject(err) : resolve()),
        );
      });
    },
  };
  return ctx;
}
export type GatewayContext = ReturnType<typeof createContext>;

/** `AB:CD:…` or `abcd…` → `abcd…` */
export const normaliseFingerprint = (fp: string) => fp.replace(/:/g, '').toLowerCase();

/** A JSON object payload, or undefined. */
export function parseObject(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(payload.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
