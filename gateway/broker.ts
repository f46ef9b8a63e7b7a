import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { PROFILES } from '../domain/index.ts';
import {
  type Ingest,
  parseGatewayTelemetry,
  parseJson,
  parseTelemetry,
  type RejectCode,
} from '../ingest/index.ts';
import type { Logger, Metrics } from '../kernel/index.ts';
import type { Device, Registry } from '../registry/index.ts';
import type { GatewayConfig } from './config.ts';
import { checkConnect, readConnect } from './connect-guard.ts';
import {
  BreachWindow,
  DEFAULT_DEVICE_LIMITS,
  DEFAULT_GATEWAY_LIMITS,
  type DeviceLimits,
  resolveLimits,
  sessionLimitsAnswer,
  TokenBucket,
} from './limits.ts';
import { createRpcTracker, type RpcRequest } from './rpc.ts';
import { deviceTopicFor, inboundTopic, outboundTopic, routePublish, routeSubscribe } from './topics.ts';

export type EdgeOptions = GatewayConfig;

export interface GatewayOptions {
  host: string;
  mqttPort: number;
  /** MQTTS, when a certificate is configured. */
  tls?: { cert: Buffer; key: Buffer; port: number };
  /** Packet sizes, connection caps and per-device limits (config `gateway`). */
  edge: EdgeOptions;
  /** Ingest's payload limit, told to devices in `getSessionLimits`. */
  maxPayloadBytes: number;
}

const TELEMETRY = 'v1/devices/me/telemetry';
const RPC_REQUEST = /^v1\/devices\/me\/rpc\/request\/(\d+)$/;
/** Where refused subscriptions of a persistent session end up (no one publishes there). */
const REFUSED_TOPIC = '$gridhub/refused';

// MQTT 5 reason codes used here (MQTT 5.0 section 2.4).
export const RC = {
  UNSPECIFIED: 0x80,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  PACKET_TOO_LARGE: 0x95,
  MESSAGE_RATE_TOO_HIGH: 0x96,
  QUOTA_EXCEEDED: 0x97,
  PAYLOAD_FORMAT_INVALID: 0x99,
  CONNECTION_RATE_EXCEEDED: 0x9f,
} as const;

/** Why a device's message or connection hit a limit; breaches are counted per device by these. */
export type BreachReason =
  | 'rate_messages'
  | 'rate_bytes'
  | 'inflight'
  | 'subscriptions'
  | 'attribute_size'
  | 'attribute_keys'
  | 'keys'
  | 'children';

/** What became of one PUBLISH, before it is answered in the client's protocol version. */
type Outcome =
  | { ok: true }
  | { refused: string }
  | { invalid: string }
  | { quota: string }
  | { storeFailed: Error };

/** Per connection: who it is, with which credential, and what it is doing right now. */
interface Conn {
  device: Device;
  credential: string | null;
  v5: boolean;
  inflight: number;
  subscriptions: Set<string>;
}

/** Per device, across its connections: rate buckets, breach counts, cool-down. */
interface DeviceEdge {
  messages: TokenBucket;
  bytes: TokenBucket;
  window: BreachWindow;
  breaches: Partial<Record<BreachReason, number>>;
  coolDownUntil: number;
  limits: DeviceLimits;
  limitsOf: Record<string, unknown> | undefined;
}

/** Aedes 2.0.0-beta.1 internals the gateway leans on (see the README's notes on the beta). */
interface AedesClientInternals {
  conn: Duplex;
  version?: number;
  /** Set in preConnect: makes every v5 CONNACK carry Server Keep Alive (lib/handlers/connect.js). */
  _serverKeepAlive?: number;
  /** v5 Request Problem Information: when false no reason string may be sent [MQTT-3.1.2-29]. */
  _requestProblemInformation?: boolean;
}
/** Marks a PUBLISH the gateway has answered itself: aedes' enqueuePublish then neither acks nor routes it. */
type MarkedPacket = PublishPacket & { _notAuthorized?: boolean };

/** `AB:CD:…` or `abcd…` → `abcd…` */
const normaliseFingerprint = (fp: string) => fp.replace(/:/g, '').toLowerCase();

const authError = (message: string, returnCode: 3 | 4 | 5) => {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = returnCode as AuthenticateError['returnCode'];
  return err;
};

/**
 * The MQTT side of the hub: an Aedes broker on TCP (and on the HTTP server's /mqtt WebSocket),
 * with ThingsBoard-compatible device authentication (access token as username) and topic ACL.
 * Telemetry is acknowledged when ingest says so: with durable acks, a QoS 1 PUBACK leaves only
 * once the readings are committed ([MQTT-4.3.2-2] lets the receiver choose when it takes
 * ownership).
 *
 * Every connection passes the connect guard first (connect-guard.ts: CONNECT conformance and a
 * small size cap before authentication, connection caps and a connect rate per address). A
 * connection is bound to its device *and* the credential it authenticated with: a change of
 * credentials closes it within a second. Client ids are namespaced per device, so no device can
 * take over another's session. Each device is paced by token buckets; breaches are counted per
 * device and reason and, past a threshold, the device is disconnected for a cool-down.
 */
export function createGateway(deps: {
  registry: Registry;
  ingest: Ingest;
  logger: Logger;
  metrics: Metrics;
  options: GatewayOptions;
}) {
  const { registry, ingest, metrics } = deps;
  const edge = deps.options.edge;
  const log = deps.logger;
  const limitsConfig = {
    defaults: { ...DEFAULT_DEVICE_LIMITS, ...edge.limits },
    gateway: { ...DEFAULT_GATEWAY_LIMITS, ...edge.gatewayLimits },
    profiles: edge.profileLimits,
  };
  /** What CONNACK advertises as Receive Maximum; v5 clients are held to at least this. */
  const advertisedReceiveMaximum = limitsConfig.defaults.maxInflight;
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
  const connOf = new WeakMap<Client, Conn>();
  const clientsOf = new Map<string, Set<Client>>();
  const edges = new Map<string, DeviceEdge>();
  const telemetryTopicOf = new WeakMap<Client, string>();
  /** Children a gateway connection announced, so they go offline with it. */
  const childrenOf = new WeakMap<Client, Set<string>>();
  const connections = new Map<string, number>();
  let broker: Aedes | undefined;
  let server: Server | undefined;
  let tlsServer: Server | undefined;
  const sockets = new Set<Duplex>();
  /** Server-side RPC with expiry and state; published with an MQTT message expiry as well. */
  const rpc = createRpcTracker({
    now: () => Date.now(),
    publish: (deviceId, topic, payload, expirySeconds) => sendTo(deviceId, topic, payload, 1, expirySeconds),
  });
  /** PUBACK message ids of RPC requests written to a connection, so delivery can be recorded. */
  const rpcInFlight = new WeakMap<Client, Map<number, number>>();
  const perAddress = new Map<string, number>();
  /**
   * Telemetry keys of devices of an open profile (generic), which may otherwise create any number.
   * Counted from what arrives while the hub runs (bounded per device by the limit itself).
   */
  const keysOf = new Map<string, Set<string>>();
  /** SHA-256 fingerprint (lowercase hex) of the client certificate a TLS connection presented. */
  const certOf = new WeakMap<object, string>();
  const connectBuckets = new Map<string, TokenBucket>();
  let stopped = false;

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
  /** Shutting down (issue 8): no new connections, no new messages; PUBACKs of taken ones still leave. */
  let draining = false;

  function refuse(kind: 'publish' | 'subscribe', client: Client, topic: string, reason: string) {
    (kind === 'publish' ? m.refusedPublish : m.refusedSubscribe).inc();
    const deviceId = connOf.get(client)?.device.id;
    warnThrottled(
      `${kind}\u0000${deviceId}`,
      { clientId: client.id, deviceId, topic, reason },
      `${kind} refused`,
    );
  }

  function edgeOf(device: Device): DeviceEdge {
    const now = Date.now();
    let e = edges.get(device.id);
    const attr = device.serverAttributes.limits as Record<string, unknown> | undefined;
    if (!e) {
      const limits = resolveLimits(device, limitsConfig);
      e = {
        messages: new TokenBucket(
          limits.messagesPerSecond,
          limits.messagesPerSecond * limits.burstSeconds,
          now,
        ),
        bytes: new TokenBucket(
          limits.bytesPerSecond,
          Math.max(limits.bytesPerSecond * limits.burstSeconds, edge.maxPacketBytes),
          now,
        ),
        window: new BreachWindow(),
        breaches: {},
        coolDownUntil: 0,
        limits,
        limitsOf: attr,
      };
      edges.set(device.id, e);
    } else if (e.limitsOf !== attr) {
      // The device's `limits` attribute changed through the API: retune without losing its state.
      e.limits = resolveLimits(device, limitsConfig);
      e.limitsOf = attr;
      e.messages.retune(e.limits.messagesPerSecond, e.limits.messagesPerSecond * e.limits.burstSeconds);
      e.bytes.retune(
        e.limits.bytesPerSecond,
        Math.max(e.limits.bytesPerSecond * e.limits.burstSeconds, edge.maxPacketBytes),
      );
    }
    return e;
  }

  /** Counts a breach; past the device's threshold, disconnects it for its cool-down. */
  function breach(device: Device, reason: BreachReason, detail: string, towardsThreshold = true) {
    const e = edgeOf(device);
    e.breaches[reason] = (e.breaches[reason] ?? 0) + 1;
    m.breaches.inc({ reason });
    warnThrottled(
      `breach\u0000${device.id}\u0000${reason}`,
      { deviceId: device.id, reason, detail },
      'device limit breached',
    );
    const l = e.limits;
    if (towardsThreshold && e.window.hit(Date.now(), l.breachWindowSeconds * 1000, l.breachThreshold))
      coolDown(device, e);
  }

  function coolDown(device: Device, e: DeviceEdge) {
    e.window.reset();
    e.coolDownUntil = Date.now() + e.limits.coolDownSeconds * 1000;
    m.coolDowns.inc();
    log.warn(
      { deviceId: device.id, coolDownSeconds: e.limits.coolDownSeconds },
      'device over its limits: disconnected for a cool-down',
    );
    // MQTT 5: DISCONNECT 0x96 (message rate too high); 3.1.1 has no server DISCONNECT: close.
    for (const c of clientsOf.get(device.id) ?? []) kick(c, RC.MESSAGE_RATE_TOO_HIGH);
  }

  function kick(client: Client, reasonCode: number) {
    if (client.closed) return;
    if ((client as unknown as AedesClientInternals).version === 5)
      client.disconnect({ reasonCode }, () => {});
    else client.close();
  }

  /** The next outgoing message id, as aedes' QoSPacket would take it (lib/qos-packet.js). */
  function takeMessageId(client: Client): number {
    const c = client as unknown as { _nextId: number };
    const id = c._nextId;
    c._nextId = id >= 65535 ? 1 : id + 1;
    return id;
  }

  /** Writes an MQTT 5 PUBACK/PUBREC with a reason code; aedes then leaves the packet alone. */
  function answerV5(client: Client, packet: MarkedPacket, reasonCode: number, reason: string) {
    packet._notAuthorized = true;
    if (packet.qos === 0) return; // no acknowledgement to carry it: dropped (and counted)
    const internals = client as unknown as AedesClientInternals;
    const ack: mqttPacket.IPubackPacket | mqttPacket.IPubrecPacket = {
      cmd: packet.qos === 1 ? 'puback' : 'pubrec',
      messageId: packet.messageId,
      reasonCode,
    };
    // [MQTT-3.1.2-29] no reason string when the client asked for no problem information.
    if (internals._requestProblemInformation !== false)
      ack.properties = { reasonString: reason.slice(0, 256) };
    mqttPacket.writeToStream(ack, internals.conn as never, { protocolVersion: 5 });
  }

  /** Answers one PUBLISH in the client's protocol version and frees its in-flight slot. */
  function settle(
    client: Client,
    conn: Conn,
    packet: MarkedPacket,
    cb: (err?: Error | null) => void,
    o: Outcome,
  ) {
    if (packet.qos > 0) conn.inflight--;
    if ('ok' in o) return cb(null);
    if ('refused' in o) return cb(new Error(o.refused)); // v5: PUBACK 0x87, connection kept; 3.1.1: closed
    if ('storeFailed' in o) {
      // Never reported as 0x87 (contract): 0x80 where a reason code exists, else the connection closes.
      if (!conn.v5) return cb(o.storeFailed);
      answerV5(client, packet, RC.UNSPECIFIED, 'the hub could not store the message; send it again');
      return cb(null);
    }
    if (!conn.v5) return cb(null); // 3.1.1 has no negative PUBACK; the rejected store has the reason
    if ('invalid' in o) answerV5(client, packet, RC.PAYLOAD_FORMAT_INVALID, o.invalid);
    else answerV5(client, packet, RC.QUOTA_EXCEEDED, o.quota);
    cb(null);
  }

  function sendTo(
    deviceId: string,
    deviceTopic: string,
    payload: unknown,
    qos: 0 | 1 = 1,
    expirySeconds?: number,
  ) {
    return new Promise<void>((resolve, reject) => {
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
  }

  const telemetryDone =
    (client: Client, conn: Conn, packet: MarkedPacket, cb: (err?: Error | null) => void) =>
    (err?: Error, verdict?: { invalid: string }) =>
      settle(client, conn, packet, cb, err ? { storeFailed: err } : verdict ? verdict : { ok: true });

  async function handle(client: Client, device: Device, packet: PublishPacket): Promise<Outcome> {
    const topic = packet.topic;
    const route = routePublish(topic, device.gateway);
    if ('refused' in route) {
      refuse('publish', client, topic, route.refused);
      return { refused: route.refused };
    }
    packet.retain = false; // the retain flag is ignored (contract)
    packet.topic = inboundTopic(device.id, topic);
    const msg = {
      device,
      clientId: client.id,
      topic,
      payload: packet.payload as Buffer,
      qos: packet.qos,
      messageId: packet.messageId,
      dup: packet.dup,
    };
    const rejectWith = (code: RejectCode, reason: string): Outcome => {
      ingest.reject(device.id, client.id, topic, msg.payload, [{ code, reason }]);
      return { invalid: reason };
    };
    const limits = edgeOf(device).limits;
    switch (route.kind) {
      case 'telemetry': {
        if (!PROFILES[device.profile].strict) {
          const json = parseJson(msg.payload);
          const tooMany = json.ok ? keysProblem(device, parseTelemetry(json.value).records) : undefined;
          if (tooMany) return rejectWith('too_many_keys', tooMany);
        }
        return new Promise((resolve) =>
          ingest.telemetry(msg, (err, verdict) =>
            resolve(err ? { storeFailed: err } : (verdict ?? { ok: true })),
          ),
        );
      }
      case 'gateway_telemetry': {
        const tooMany = gatewayKeysProblem(device, msg.payload);
        if (tooMany) return rejectWith('too_many_keys', tooMany);
        return new Promise((resolve) =>
          ingest.gatewayTelemetry(msg, (err, verdict) =>
            resolve(err ? { storeFailed: err } : (verdict ?? { ok: true })),
          ),
        );
      }
      case 'attributes': {
        const checked = checkAttributes(device, msg.payload, limits, device.clientAttributes);
        if ('invalid' in checked) return rejectWith(checked.code, checked.invalid);
        await registry.devices.setClientAttributes(device.id, checked.attrs);
        return { ok: true };
      }
      case 'attributes_request':
        await answerAttributes(device, msg.payload, `v1/devices/me/attributes/response/${route.requestId}`);
        return { ok: true };
      case 'gateway_connect':
      case 'gateway_disconnect': {
        const body = parseObject(msg.payload);
        const name = body?.device;
        if (typeof name !== 'string' || !name)
          return rejectWith('bad_shape', `${topic}: expected {"device": NAME, "type": PROFILE}`);
        if (route.kind === 'gateway_disconnect') {
          // A gateway acts only for its own children.
          if (registry.devices.find(name)?.parentId !== device.id)
            return rejectWith(
              'unknown_device',
              `device '${name.slice(0, 128)}' is not registered under gateway '${device.id}'`,
            );
          registry.presence.connected(name, false);
          childrenOf.get(client)?.delete(name);
          return { ok: true };
        }
        const child = await registry.devices.ensureChild(
          device,
          name,
          typeof body?.type === 'string' ? body.type : undefined,
          limits.maxChildren,
        );
        if ('refused' in child) {
          if (child.refused.includes('children, its limit')) breach(device, 'children', child.refused);
          return rejectWith('unknown_device', child.refused);
        }
        registry.presence.connected(child.id, true);
        const set = childrenOf.get(client) ?? new Set<string>();
        childrenOf.set(client, set);
        set.add(child.id);
        return { ok: true };
      }
      case 'gateway_attributes': {
        const body = parseObject(msg.payload);
        if (!body) return rejectWith('bad_shape', 'v1/gateway/attributes: expected {"NAME": {attributes}}');
        const problems: string[] = [];
        for (const [name, attrs] of Object.entries(body)) {
          const child = await registry.devices.ensureChild(device, name, undefined, limits.maxChildren);
          if ('refused' in child) {
            problems.push(child.refused);
            continue;
          }
          const checked = checkAttributes(
            child,
            Buffer.from(JSON.stringify(attrs ?? null)),
            limits,
            child.clientAttributes,
          );
          if ('invalid' in checked) problems.push(`${name}: ${checked.invalid}`);
          else await registry.devices.setClientAttributes(child.id, checked.attrs);
        }
        if (problems.length) {
          ingest.reject(device.id, client.id, topic, msg.payload, [
            { code: 'unknown_device', reason: problems.join('; ') },
          ]);
          if (problems.length === Object.keys(body).length) return { invalid: problems.join('; ') };
        }
        return { ok: true };
      }
      case 'rpc_request':
        await answerClientRpc(device, msg.payload, route.requestId);
        return { ok: true };
      case 'rpc_response':
        rpc.answered(device.id, route.requestId, msg.payload);
        return { ok: true };
      case 'gateway_attributes_request':
      case 'gateway_rpc': {
        // {"id": 1, "device": NAME, "client": true, "key": K | "keys": [...]} / {"device": NAME, "id": N, "data": …}
        const body = parseObject(msg.payload);
        const name = body?.device;
        const child = typeof name === 'string' ? registry.devices.find(name) : undefined;
        if (!child || child.parentId !== device.id)
          return rejectWith(
            'unknown_device',
            typeof name === 'string'
              ? `device '${name.slice(0, 128)}' is not registered under gateway '${device.id}'`
              : `${topic}: expected {"device": NAME, …}`,
          );
        if (route.kind === 'gateway_rpc') {
          log.debug({ deviceId: device.id, child: child.id }, 'gateway rpc reply');
          return { ok: true };
        }
        const all = body?.client === false ? child.sharedAttributes : child.clientAttributes;
        const keys = Array.isArray(body?.keys) ? body.keys : typeof body?.key === 'string' ? [body.key] : [];
        const answer =
          typeof body?.key === 'string'
            ? { id: body?.id, device: child.id, value: all[body.key] ?? null }
            : {
                id: body?.id,
                device: child.id,
                values: Object.fromEntries(
                  keys.filter((k) => typeof k === 'string').map((k) => [k, all[k] ?? null]),
                ),
              };
        await sendTo(device.id, 'v1/gateway/attributes/response', answer).catch((err) =>
          log.warn({ err, deviceId: device.id }, 'gateway attribute response failed'),
        );
        return { ok: true };
      }
    }
  }

  /** For open profiles: the new keys a message brings must fit the device's key limit. */
  function keysProblem(device: Device, records: { values: Record<string, unknown> }[]): string | undefined {
    if (PROFILES[device.profile].strict) return undefined;
    const max = edgeOf(device).limits.maxKeysPerDevice;
    let known = keysOf.get(device.id);
    if (!known) {
      known = new Set();
      keysOf.set(device.id, known);
    }
    const fresh = new Set<string>();
    for (const r of records) for (const k of Object.keys(r.values)) if (!known.has(k)) fresh.add(k);
    if (fresh.size === 0) return undefined;
    if (known.size + fresh.size > max) {
      breach(device, 'keys', `${known.size + fresh.size} keys`);
      return `${fresh.size} new keys would take device '${device.id}' over its limit of ${max} keys`;
    }
    for (const k of fresh) known.add(k);
    return undefined;
  }

  /** Gateway telemetry: each child's new keys, for children of an open profile (or not yet created). */
  function gatewayKeysProblem(gateway: Device, payload: Buffer): string | undefined {
    const json = parseJson(payload);
    const parsed = json.ok ? parseGatewayTelemetry(json.value) : undefined;
    if (!parsed?.ok) return undefined; // ingest names that problem
    const problems: string[] = [];
    for (const [name, body] of parsed.value) {
      const child = registry.devices.find(name);
      if (child && child.parentId !== gateway.id) continue; // ingest refuses it
      const p = keysProblem(
        child ?? { ...gateway, id: name, profile: 'generic', gateway: false, serverAttributes: {} },
        parseTelemetry(body).records,
      );
      if (p) problems.push(p);
    }
    return problems.length ? problems.join('; ') : undefined;
  }

  /** Client attributes: one message's size and keys, and the keys the device holds in total. */
  function checkAttributes(
    device: Device,
    payload: Buffer,
    limits: DeviceLimits,
    current: Record<string, unknown>,
  ): { attrs: Record<string, unknown> } | { invalid: string; code: RejectCode } {
    if (payload.length > limits.maxAttributeBytes) {
      breach(device, 'attribute_size', `${payload.length} bytes`);
      return {
        code: 'too_large',
        invalid: `attributes of ${payload.length} bytes are over the limit of ${limits.maxAttributeBytes}`,
      };
    }
    const attrs = parseObject(payload);
    if (!attrs) return { code: 'bad_shape', invalid: 'attributes: expected a JSON object' };
    let total = Object.keys(current).length;
    for (const k of Object.keys(attrs)) if (!(k in current)) total++;
    if (total > limits.maxAttributeKeys) {
      breach(device, 'attribute_keys', `${total} keys`);
      return {
        code: 'too_many_keys',
        invalid: `attributes: ${total} keys would be over the limit of ${limits.maxAttributeKeys} per device`,
      };
    }
    return { attrs };
  }

  /** Client-side RPC (device → hub): `getSessionLimits` as ThingsBoard answers it; others get an error. */
  async function answerClientRpc(device: Device, payload: Buffer, requestId: string) {
    const body = parseObject(payload);
    const method = body?.method;
    const answer =
      method === 'getSessionLimits'
        ? sessionLimitsAnswer(edgeOf(device).limits, deps.options.maxPayloadBytes, device.gateway)
        : {
            error:
              typeof method === 'string'
                ? `unsupported client-side RPC method '${method.slice(0, 64)}' (supported: getSessionLimits)`
                : 'expected {"method": NAME, "params": {...}}',
          };
    await sendTo(device.id, `v1/devices/me/rpc/response/${requestId}`, answer).catch((err) =>
      log.warn({ err, deviceId: device.id }, 'rpc response failed'),
    );
  }

  function parseObject(payload: Buffer): Record<string, unknown> | undefined {
    try {
      const v = JSON.parse(payload.toString('utf8'));
      return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
    } catch {
      return undefined;
    }
  }

  async function answerAttributes(device: Device, payload: Buffer, responseTopic: string) {
    const body = parseObject(payload) ?? {};
    const pick = (all: Record<string, unknown>, keys: unknown) => {
      if (typeof keys !== 'string') return all;
      const wanted = new Set(keys.split(',').map((k) => k.trim()));
      return Object.fromEntries(Object.entries(all).filter(([k]) => wanted.has(k)));
    };
    const d = registry.devices.find(device.id) ?? device;
    await sendTo(device.id, responseTopic, {
      client: pick(d.clientAttributes, body.clientKeys),
      shared: pick(d.sharedAttributes, body.sharedKeys),
    }).catch((err) => log.warn({ err, deviceId: device.id }, 'attribute response failed'));
  }

  /** Admits an authenticated device, unless it is cooling down; namespaces its client id. */
  function admitDevice(
    client: Client,
    device: Device,
    credential: string | null,
    cb: (err: AuthenticateError | null, ok: boolean | null) => void,
  ) {
    const internals = client as unknown as AedesClientInternals;
    const e = edgeOf(device);
    if (e.coolDownUntil > Date.now()) {
      m.refusedConnect.inc({ reason: 'cool_down' });
      warnThrottled(
        `connect\u0000cool\u0000${device.id}`,
        { deviceId: device.id },
        'connect refused: device cooling down',
      );
      if (internals.version === 5) {
        // aedes maps authenticate errors to 0x86/0x87 only; 0x97 (quota exceeded) is written here
        // and the client closed before aedes answers (it then stops: client.closed).
        try {
          internals.conn.write(
            mqttPacket.generate(
              { cmd: 'connack', sessionPresent: false, reasonCode: RC.QUOTA_EXCEEDED },
              { protocolVersion: 5 },
            ),
          );
        } catch {}
        client.close();
        return cb(authError('cooling down', 3), false);
      }
      return cb(authError('device cooling down after breaching its limits', 3), false);
    }
    // Client ids are the device's own: namespaced by device id ('/' never occurs in one), so a
    // device can only take over its own sessions ([MQTT-3.1.4-2] applies within the device).
    client.id = `${device.id}/${client.id}`;
    connOf.set(client, {
      device,
      credential,
      v5: internals.version === 5,
      inflight: 0,
      subscriptions: new Set(),
    });
    cb(null, true);
  }

  function deviceByFingerprint(fp: string): Device | undefined {
    // A scan: certificate connections are few, and the attribute is set through the API.
    for (const d of registry.devices.list())
      if (
        typeof d.serverAttributes.x509Fingerprint === 'string' &&
        normaliseFingerprint(d.serverAttributes.x509Fingerprint) === fp
      )
        return d;
    return undefined;
  }

  /** The device this connection may still act as, or why not: bound to device and credential. */
  function current(conn: Conn): Device | string {
    const device = registry.devices.find(conn.device.id);
    if (!device) return `device '${conn.device.id}' was deleted`;
    const credential = conn.credential?.startsWith('x509:')
      ? typeof device.serverAttributes.x509Fingerprint === 'string'
        ? `x509:${normaliseFingerprint(device.serverAttributes.x509Fingerprint)}`
        : null
      : registry.devices.credentialOf(device.id);
    if (credential !== conn.credential) return `the credentials of device '${device.id}' changed`;
    return device;
  }

  // Children per gateway, on every path that creates one (connect, attributes, telemetry in ingest).
  registry.devices.setChildLimit((gw) => edgeOf(gw).limits.maxChildren);

  // A change of credentials (rotate, revoke, delete) closes that device's connections now.
  const offCredentials = registry.devices.onCredentialChange((deviceId, change) => {
    if (change === 'deleted') {
      edges.delete(deviceId);
      keysOf.delete(deviceId);
      rpc.deviceGone(deviceId);
    }
    for (const client of clientsOf.get(deviceId) ?? []) {
      const conn = connOf.get(client);
      if (conn && typeof current(conn) === 'string') {
        log.info({ deviceId, change }, 'credentials changed: connection closed');
        kick(client, RC.NOT_AUTHORIZED);
      }
    }
  });

  /** Refuses a connection the broker has not seen, with a CONNACK in the client's version. */
  function refuseRaw(stream: Duplex, version: number, v5Code: number, v4Code: number, reason: string) {
    m.refusedConnect.inc({ reason });
    const connack =
      version === 5
        ? { cmd: 'connack' as const, sessionPresent: false, reasonCode: v5Code }
        : { cmd: 'connack' as const, sessionPresent: false, returnCode: v4Code };
    try {
      stream.end(mqttPacket.generate(connack, { protocolVersion: version === 5 ? 5 : 4 }));
    } catch {}
    setTimeout(() => stream.destroy(), 1000).unref?.();
  }

  /** Connect guard: every connection, TCP, TLS or WebSocket, before the broker reads it. */
  async function admit(stream: Duplex, address: string) {
    const b = broker;
    if (!b || stopped || draining) return void stream.destroy();
    sockets.add(stream);
    const countAddress = address !== 'ws';
    if (countAddress) perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
    stream.once('close', () => {
      sockets.delete(stream);
      if (!countAddress) return;
      const n = (perAddress.get(address) ?? 1) - 1;
      if (n <= 0) perAddress.delete(address);
      else perAddress.set(address, n);
    });
    // Far over the cap: not even the CONNECT is read.
    if (edge.maxConnections > 0 && sockets.size > edge.maxConnections + 1000) {
      m.refusedConnect.inc({ reason: 'connection_cap' });
      return void stream.destroy();
    }
    const rate =
      countAddress && edge.connectRatePerAddress > 0 ? connectBucket(address).take(1, Date.now()) : true;
    const first = await readConnect(stream, edge.connectMaxBytes, edge.connectTimeoutMs);
    if (!first.ok) {
      m.guardClosed.inc({ rule: first.tooLarge ? 'connect_too_large' : (first.rule ?? 'no_connect') });
      warnThrottled(
        `guard\u0000${address}`,
        { address, reason: first.reason, rule: first.rule },
        'connection closed before CONNECT',
      );
      return void stream.destroy();
    }
    const verdict = checkConnect(first.packet);
    if (verdict.kind === 'close') {
      m.guardClosed.inc({ rule: verdict.rule });
      warnThrottled(
        `guard\u0000${address}`,
        { address, reason: verdict.reason, rule: verdict.rule },
        'CONNECT refused',
      );
      return void stream.destroy();
    }
    if (verdict.kind === 'connack') {
      m.guardClosed.inc({ rule: verdict.rule });
      return refuseRaw(stream, 4, RC.UNSPECIFIED, verdict.returnCode, 'protocol_level');
    }
    if (!rate) return refuseRaw(stream, verdict.version, RC.CONNECTION_RATE_EXCEEDED, 3, 'connect_rate');
    if (
      (edge.maxConnections > 0 && sockets.size > edge.maxConnections) ||
      (countAddress &&
        edge.maxConnectionsPerAddress > 0 &&
        (perAddress.get(address) ?? 0) > edge.maxConnectionsPerAddress)
    )
      return refuseRaw(stream, verdict.version, RC.QUOTA_EXCEEDED, 3, 'connection_cap');
    // Keep alive is bounded: 3.1.1 clients asking for none or more get the maximum (the broker then
    // reaps them after 1.5x it, [MQTT-3.1.2-24]); MQTT 5 clients are told by Server Keep Alive.
    if (verdict.version !== 5 && (verdict.keepalive === 0 || verdict.keepalive > edge.keepaliveMaxSeconds))
      first.packet.writeUInt16BE(edge.keepaliveMaxSeconds, verdict.keepaliveOffset);
    if ('setKeepAlive' in stream) (stream as Socket).setKeepAlive(true, 60_000);
    if (edge.x509DeviceAuth && 'getPeerCertificate' in stream) {
      const fp = (stream as TLSSocket).getPeerCertificate()?.fingerprint256;
      if (fp) certOf.set(stream, normaliseFingerprint(fp));
    }
    stream.unshift(first.rest.length ? Buffer.concat([first.packet, first.rest]) : first.packet);
    b.handle(stream as never);
  }

  function connectBucket(address: string) {
    let bucket = connectBuckets.get(address);
    if (!bucket) {
      // Bounded: a flood of distinct addresses clears the table (their buckets were full anyway).
      if (connectBuckets.size > 100_000) connectBuckets.clear();
      bucket = new TokenBucket(
        edge.connectRatePerAddress,
        Math.max(1, edge.connectBurstPerAddress),
        Date.now(),
      );
      connectBuckets.set(address, bucket);
    }
    return bucket;
  }

  async function start() {
    stopped = false;
    broker = await Aedes.createBroker({
      maxClientsIdLength: 256,
      heartbeatInterval: 60_000,
      connectTimeout: edge.connectTimeoutMs,
      // One global cap, enforced from the declared length before the body is buffered.
      maximumPacketSize: edge.maxPacketBytes,
      receiveMaximum: advertisedReceiveMaximum,
      topicAliasMaximum: edge.topicAliasMaximum,
      keepaliveLimit: edge.keepaliveMaxSeconds,
      sessionExpiryIntervalLimit: edge.sessionExpiryMaxSeconds,
      pendingSessionsLimit: edge.pendingSessionsLimit,
      drainTimeout: 30_000,
      preConnect(client, packet, cb) {
        // Every MQTT 5 CONNACK advertises Server Keep Alive (contract); aedes 2.0.0-beta.1 sends it
        // only when it lowers the client's value, so it is set here for the others.
        if (packet.protocolVersion === 5) {
          const ka = packet.keepalive ?? 0;
          (client as unknown as AedesClientInternals)._serverKeepAlive =
            ka > 0 && ka <= edge.keepaliveMaxSeconds ? ka : edge.keepaliveMaxSeconds;
        }
        cb(null, true);
      },
      authenticate(client, username, _password, cb) {
        // Draining for shutdown: CONNACK 3, server unavailable (MQTT 3.1.1 §3.2.2.3).
        if (draining) return cb(authError('the hub is shutting down', 3 as never), false);
        const fingerprint = certOf.get((client as unknown as AedesClientInternals).conn);
        if ((typeof username !== 'string' || username.length === 0) && fingerprint) {
          const byCert = deviceByFingerprint(fingerprint);
          if (!byCert) {
            m.refusedConnect.inc({ reason: 'unknown_certificate' });
            warnThrottled(
              'connect\u0000cert',
              { clientId: client.id },
              'connect refused: unknown client certificate',
            );
            return cb(authError('no device is registered with this certificate', 5), false);
          }
          return admitDevice(client, byCert, `x509:${fingerprint}`, cb);
        }
        if (typeof username !== 'string' || username.length === 0) {
          m.refusedConnect.inc({ reason: 'malformed' });
          warnThrottled(
            'connect\u0000malformed',
            { clientId: client.id },
            'connect refused: no access token in the username',
          );
          return cb(authError('the access token goes in the MQTT username', 4), false);
        }
        const device = registry.devices.byToken(username);
        if (!device) {
          m.refusedConnect.inc({ reason: 'unknown_token' });
          warnThrottled(
            'connect\u0000unknown',
            { clientId: client.id },
            'connect refused: unknown or revoked access token',
          );
          return cb(authError('unknown or revoked access token', 5), false);
        }
        admitDevice(client, device, registry.devices.credentialOf(device.id), cb);
      },
      authorizePublish(client, packet, cb) {
        // Draining for shutdown: a message not yet taken is left unacknowledged (the broker reads
        // no further from this client); the device resends it to the next hub.
        if (draining) return;
        const conn = client ? connOf.get(client) : undefined;
        if (!client || !conn) return cb(new Error('not authenticated'));
        // The registry's current view (grid, attributes); a device deleted or re-keyed is cut off.
        const device = current(conn);
        if (typeof device === 'string') {
          refuse('publish', client, packet.topic, device);
          kick(client, RC.NOT_AUTHORIZED);
          return cb(new Error(device));
        }
        conn.device = device;
        const marked = packet as MarkedPacket;
        const e = edgeOf(device);
        const now = Date.now();
        if (packet.qos > 0) {
          conn.inflight++;
          // [MQTT-3.3.4-9] more unacknowledged QoS 1/2 PUBLISHes than Receive Maximum: DISCONNECT 0x93.
          const max = conn.v5
            ? Math.max(e.limits.maxInflight, advertisedReceiveMaximum)
            : e.limits.maxInflight;
          if (conn.inflight > max) {
            conn.inflight--;
            breach(device, 'inflight', `${conn.inflight + 1} in flight`);
            kick(client, RC.RECEIVE_MAXIMUM_EXCEEDED);
            return cb(new Error('too many messages in flight'));
          }
        }
        // Token buckets: messages and bytes. MQTT 5 is told (PUBACK 0x97) and the message dropped;
        // 3.1.1 has no negative PUBACK, so its message waits for its tokens instead (the broker reads
        // no more from that client meanwhile: it is paced, and nothing it sent is lost).
        const size = (packet.payload as Buffer).length;
        if (conn.v5) {
          const okMessages = e.messages.take(1, now);
          if (!okMessages || !e.bytes.take(size, now)) {
            const reason: BreachReason = okMessages ? 'rate_bytes' : 'rate_messages';
            const limit = okMessages
              ? `${e.limits.bytesPerSecond} bytes/s`
              : `${e.limits.messagesPerSecond} messages/s`;
            breach(device, reason, limit);
            return settle(client, conn, marked, cb, { quota: `over the device's rate limit of ${limit}` });
          }
        } else {
          const waitMessages = e.messages.debit(1, now);
          const waitBytes = e.bytes.debit(size, now);
          if (waitMessages > 0 || waitBytes > 0) {
            // Counted; towards the disconnect threshold only once a whole bucket is owed: a client
            // that waits for its acks (a replay catching up) is paced, one that does not is cut off.
            const wait = Math.max(waitMessages, waitBytes);
            breach(
              device,
              waitMessages > 0 ? 'rate_messages' : 'rate_bytes',
              'paced',
              wait >= e.limits.burstSeconds * 1000 * 0.99,
            );
            setTimeout(
              () => route(client, conn, device, marked, cb),
              Math.max(waitMessages, waitBytes),
            ).unref?.();
            return;
          }
        }
        route(client, conn, device, marked, cb);
      },
      authorizeSubscribe(client, sub: Subscription, cb) {
        const conn = client ? connOf.get(client) : undefined;
        if (!client || !conn) return cb(new Error('not authenticated'), null);
        const device = conn.device;
        // A refused topic a persistent session stored (see below) stays refused, quietly.
        if (sub.topic === REFUSED_TOPIC) return cb(null, null);
        // A persistent session restores the internal topic it stored; it is this device's own.
        const r = sub.topic.startsWith(outboundTopic(device.id, 'v1/devices/me/').slice(0, -3))
          ? { internal: sub.topic }
          : routeSubscribe(sub.topic, device.id, device.gateway);
        // aedes 2.0.0-beta.1 persists the SUBSCRIBE's own list of topics (lib/handlers/subscribe.js
        // storeSubscriptions), refused ones included, not what this hook returns: the topics are
        // rewritten in place, so a persistent session stores the internal topic (its offline queue
        // then fills, finding 6) and one placeholder for everything refused.
        if ('refused' in r) {
          refuse('subscribe', client, sub.topic, r.refused);
          sub.topic = REFUSED_TOPIC;
          return cb(null, null); // SUBACK 0x80 (v5: 0x87) for this topic only
        }
        const max = edgeOf(device).limits.maxSubscriptions;
        if (!conn.subscriptions.has(r.internal) && conn.subscriptions.size >= max) {
          breach(device, 'subscriptions', `${max} subscriptions`);
          refuse('subscribe', client, sub.topic, `over the limit of ${max} subscriptions per connection`);
          sub.topic = REFUSED_TOPIC;
          return cb(null, null);
        }
        conn.subscriptions.add(r.internal);
        sub.topic = r.internal;
        cb(null, sub);
      },
      authorizeForward(client, packet) {
        const conn = connOf.get(client);
        if (!conn) return null;
        // Already mapped: only this device's internal topics reach its connections, so a device topic
        // here was mapped for this device (another of its connections, or its offline queue).
        if (packet.topic.startsWith('v1/')) return packet;
        const topic = deviceTopicFor(packet.topic, conn.device.id);
        if (!topic) return null;
        // aedes 2.0.0-beta.1 delivers a persistent session's offline queue with the packet it passed
        // in, not the one returned (lib/handlers/connect.js emptyQueueFilter): that packet (it has its
        // message id already) is mapped in place. A live delivery's packet is shared: mapped on a copy.
        let messageId = packet.messageId;
        const rpcRequest = RPC_REQUEST.exec(topic);
        if (rpcRequest) {
          // Never written after its expiry; its PUBACK's message id is remembered for the state.
          if (!rpc.forwarding(conn.device.id, rpcRequest[1]!)) return null;
          if (packet.qos > 0) {
            messageId ??= takeMessageId(client);
            let ids = rpcInFlight.get(client);
            if (!ids) {
              ids = new Map();
              rpcInFlight.set(client, ids);
            }
            if (ids.size > 1000) ids.clear(); // bounded: a device that never acknowledges
            ids.set(messageId, Number(rpcRequest[1]));
          }
        }
        if (packet.messageId !== undefined) {
          packet.topic = topic;
          return packet;
        }
        return { ...packet, topic, ...(messageId === undefined ? {} : { messageId }) } as typeof packet;
      },
    });
    broker.on('client', (client) => {
      const conn = connOf.get(client);
      if (!conn) return;
      const id = conn.device.id;
      let set = clientsOf.get(id);
      if (!set) {
        set = new Set();
        clientsOf.set(id, set);
      }
      set.add(client);
      connections.set(id, (connections.get(id) ?? 0) + 1);
      registry.presence.connected(id, true);
      // A PUBACK for an RPC request marks it delivered (aedes' own 'ack' event has no packet for
      // clean sessions).
      (client as unknown as { _parser: import('node:events').EventEmitter })._parser.on(
        'packet',
        (p: { cmd: string; messageId?: number }) => {
          if (p.cmd !== 'puback' || p.messageId === undefined) return;
          const ids = rpcInFlight.get(client);
          const requestId = ids?.get(p.messageId);
          if (requestId === undefined) return;
          ids!.delete(p.messageId);
          rpc.delivered(id, requestId);
        },
      );
      // The credentials may have changed while this CONNECT was being processed.
      if (typeof current(conn) === 'string') kick(client, RC.NOT_AUTHORIZED);
    });
    broker.on('clientDisconnect', (client) => {
      const conn = connOf.get(client);
      if (!conn) return;
      const id = conn.device.id;
      const set = clientsOf.get(id);
      set?.delete(client);
      if (set?.size === 0) clientsOf.delete(id);
      const n = (connections.get(id) ?? 1) - 1;
      if (n <= 0) {
        connections.delete(id);
        if (registry.devices.find(id)) registry.presence.connected(id, false);
      } else connections.set(id, n);
      for (const child of childrenOf.get(client) ?? []) registry.presence.connected(child, false);
    });
    broker.on('unsubscribe', (topics, client) => {
      const conn = connOf.get(client);
      if (conn) for (const t of topics) conn.subscriptions.delete(t);
    });
    broker.on('clientError', (client, err) =>
      log.debug({ clientId: client.id, err: err.message }, 'client error'),
    );
    broker.on('connectionError', (client, err) =>
      log.debug({ clientId: client.id, err: err.message }, 'connection error'),
    );
    metrics
      .gauge('gridhub_mqtt_connections', 'Connected MQTT clients')
      .collect(() => broker?.connectedClients ?? 0);

    const accept = (socket: Socket) => void admit(socket, socket.remoteAddress ?? 'unknown');
    const listen = async (srv: Server, port: number) => {
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, deps.options.host, () => resolve());
      });
      const address = srv.address();
      return typeof address === 'object' && address ? address.port : port;
    };
    let port: number | undefined;
    if (edge.plainMqtt || !deps.options.tls) {
      if (!edge.plainMqtt) log.warn('plain MQTT cannot be turned off without TLS: it stays on');
      server = createServer(accept);
      port = await listen(server, deps.options.mqttPort);
      log.info({ host: deps.options.host, port }, 'MQTT broker listening');
    } else log.info('plain MQTT is off (gateway.plainMqtt false): MQTTS only');
    let tlsPort: number | undefined;
    const tls = deps.options.tls;
    if (tls) {
      // A client certificate is asked for, not required: token devices connect over MQTTS as before.
      tlsServer = createTlsServer(
        { cert: tls.cert, key: tls.key, requestCert: edge.x509DeviceAuth, rejectUnauthorized: false },
        (s: TLSSocket) => accept(s as unknown as Socket),
      );
      tlsServer.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));
      tlsPort = await listen(tlsServer, tls.port);
      log.info({ host: deps.options.host, port: tlsPort }, 'MQTTS listening');
    }
    return { port, tlsPort };
  }

  /** ACL, then the publish's route; answered through settle() in the client's protocol version. */
  function route(
    client: Client,
    conn: Conn,
    device: Device,
    packet: MarkedPacket,
    cb: (err?: Error | null) => void,
  ) {
    // A QoS 2 retransmission of a message already received is not ingested twice.
    if (packet.qos === 2 && packet.dup) {
      (
        broker as unknown as {
          persistence: { incomingGetPacket(c: Client, p: PublishPacket): Promise<unknown> };
        }
      ).persistence
        .incomingGetPacket(client, packet)
        .then(
          () => {
            packet.topic = inboundTopic(device.id, packet.topic);
            settle(client, conn, packet, cb, { ok: true });
          },
          () => routeFresh(client, conn, device, packet, cb),
        );
      return;
    }
    routeFresh(client, conn, device, packet, cb);
  }

  function routeFresh(
    client: Client,
    conn: Conn,
    device: Device,
    packet: MarkedPacket,
    cb: (err?: Error | null) => void,
  ) {
    // Hot path: plain telemetry skips the general router (and its promise).
    if (packet.topic === TELEMETRY && packet.qos !== 2 && PROFILES[device.profile].strict) {
      packet.retain = false;
      let inbound = telemetryTopicOf.get(client);
      if (!inbound) {
        inbound = inboundTopic(device.id, TELEMETRY);
        telemetryTopicOf.set(client, inbound);
      }
      packet.topic = inbound;
      const msg = {
        device,
        clientId: client.id,
        topic: TELEMETRY,
        payload: packet.payload as Buffer,
        qos: packet.qos,
        messageId: packet.messageId,
        dup: packet.dup,
      };
      ingest.telemetry(msg, telemetryDone(client, conn, packet, cb));
      return;
    }
    handle(client, device, packet).then(
      (o) => settle(client, conn, packet, cb, o),
      (err) => {
        log.error({ err, deviceId: device.id, topic: packet.topic }, 'publish handling failed');
        settle(client, conn, packet, cb, { storeFailed: err as Error });
      },
    );
  }

  /**
   * Shutdown, first step (issue 8): no new connections and no new messages, while the messages
   * already taken are flushed and their PUBACKs still leave on the open sockets.
   */
  function drain() {
    draining = true;
    server?.close();
    tlsServer?.close();
  }

  async function stop() {
    stopped = true;
    draining = true;
    const close = (srv: Server | undefined) =>
      new Promise<void>((resolve) => (srv?.listening ? srv.close(() => resolve()) : resolve()));
    const closing = Promise.all([close(server), close(tlsServer)]);
    // end() sends what is queued (the last PUBACKs) before the FIN; whatever is still open after
    // a short bound is cut.
    const ended = [...sockets].map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.destroyed) return resolve();
          s.once('close', () => resolve());
          s.end();
        }),
    );
    await Promise.race([Promise.all(ended), new Promise((r) => setTimeout(r, 1000).unref())]);
    for (const s of sockets) s.destroy();
    await closing;
    tlsServer = undefined;
    await new Promise<void>((resolve) => (broker ? broker.close(() => resolve()) : resolve()));
    server = undefined;
    broker = undefined;
    offCredentials();
    rpc.stop();
  }

  return {
    start,
    drain,
    stop,
    /** MQTT over WebSocket: the HTTP server hands each upgraded /mqtt connection here. */
    handleStream(stream: Duplex, remoteAddress?: string) {
      if (!broker || draining) {
        stream.destroy();
        return;
      }
      void admit(stream, remoteAddress ?? 'ws');
    },
    sendTo,
    /** Server-side RPC: send with an expiry, read its state. */
    rpc: {
      send: (deviceId: string, req: RpcRequest) => rpc.send(deviceId, req),
      get: (deviceId: string, id: string) => {
        const r = rpc.get(id);
        return r?.deviceId === deviceId ? r : undefined;
      },
      list: (deviceId: string) => rpc.list(deviceId),
    },
    connectedClients: () => broker?.connectedClients ?? 0,
    /** A device's limits, breach counts and cool-down, for the API (never in /metrics). */
    limitsOf(deviceId: string) {
      const device = registry.devices.find(deviceId);
      if (!device) return undefined;
      const e = edgeOf(device);
      return {
        limits: e.limits,
        breaches: { ...e.breaches },
        coolDownUntil: e.coolDownUntil > Date.now() ? new Date(e.coolDownUntil).toISOString() : null,
        connections: clientsOf.get(deviceId)?.size ?? 0,
      };
    },
  };
}
export type Gateway = ReturnType<typeof createGateway>;
