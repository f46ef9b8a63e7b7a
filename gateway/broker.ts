/**
 * The MQTT side of the hub: an Aedes broker on TCP, TLS and the HTTP server's /mqtt WebSocket, with
 * ThingsBoard-compatible device authentication and topic ACL. This file composes the gateway's
 * concerns and owns its lifecycle, `createGateway(deps) → { start(), stop() }`:
 *
 * - listeners.ts: the listeners and the connect guard (caps, connect rate, CONNECT checks);
 * - authenticate.ts: who a connection is (token or certificate), bound to device and credential;
 * - publish.ts: the inbound PUBLISH path (in-flight cap, rate buckets, hot telemetry path, acks);
 *   inbound.ts: what the broker itself no longer does with an inbound message (forward it);
 * - thingsboard.ts and attributes-rpc.ts: ThingsBoard's device and gateway topics;
 * - delivery.ts: subscriptions and messages to devices (server-side RPC state in rpc.ts);
 * - pacing.ts: per-device limits at run time (limits.ts has the pure rules);
 * - mqtt5.ts: reason codes and the answers the gateway writes itself;
 * - state.ts: what is held in process, behind interfaces a multi-process hub can share.
 */
import type { Duplex } from 'node:stream';
import { Aedes } from 'aedes';
import type { Ingest } from '../ingest/index.ts';
import type { Logger, Metrics } from '../kernel/index.ts';
import type { Registry } from '../registry/index.ts';
import { createAttributesRpc } from './attributes-rpc.ts';
import { createAuthentication } from './authenticate.ts';
import { createContext, type GatewayOptions } from './context.ts';
import { createDelivery } from './delivery.ts';
import { endInboundAtTheHub } from './inbound.ts';
import { createListeners } from './listeners.ts';
import { kick, RC } from './mqtt5.ts';
import { createPacing } from './pacing.ts';
import { createPublishPath } from './publish.ts';
import { createRpcTracker, type RpcRequest } from './rpc.ts';
import { type GatewayState, memoryGatewayState } from './state.ts';
import { createThingsboardApi } from './thingsboard.ts';

export type { GatewayOptions } from './context.ts';

export function createGateway(deps: {
  registry: Registry;
  ingest: Ingest;
  logger: Logger;
  metrics: Metrics;
  options: GatewayOptions;
  /** Process-local state (state.ts); one hub keeps it in memory. */
  state?: GatewayState;
}) {
  const { registry, metrics } = deps;
  const ctx = createContext({ ...deps, state: deps.state ?? memoryGatewayState() });
  const { edge, log } = ctx;
  /** Server-side RPC with expiry and state; published with an MQTT message expiry as well. */
  const rpc = createRpcTracker({
    now: () => Date.now(),
    publish: (deviceId, topic, payload, expirySeconds) =>
      ctx.sendTo(deviceId, topic, payload, 1, expirySeconds),
  });
  ctx.rpc = rpc;
  const pacing = createPacing(ctx);
  const auth = createAuthentication(ctx, pacing);
  const handle = createThingsboardApi(ctx, pacing, createAttributesRpc(ctx, pacing));
  const publish = createPublishPath({ ctx, pacing, current: auth.current, handle });
  const delivery = createDelivery(ctx, pacing);
  const listeners = createListeners(ctx);
  const { deviceConnections } = ctx.state;

  // Children per gateway, on every path that creates one (connect, attributes, telemetry in ingest).
  registry.devices.setChildLimit((gw) => pacing.edgeOf(gw).limits.maxChildren);

  // A change of credentials (rotate, revoke, delete) closes that device's connections now.
  const offCredentials = auth.watchCredentials((deviceId) => {
    pacing.forget(deviceId);
    rpc.deviceGone(deviceId);
  });

  async function start() {
    ctx.stopped = false;
    const broker = await Aedes.createBroker({
      ...ctx.state.sessions.aedesOptions(),
      maxClientsIdLength: 256,
      heartbeatInterval: 60_000,
      connectTimeout: edge.connectTimeoutMs,
      // One global cap, enforced from the declared length before the body is buffered.
      maximumPacketSize: edge.maxPacketBytes,
      receiveMaximum: ctx.advertisedReceiveMaximum,
      topicAliasMaximum: edge.topicAliasMaximum,
      keepaliveLimit: edge.keepaliveMaxSeconds,
      sessionExpiryIntervalLimit: edge.sessionExpiryMaxSeconds,
      pendingSessionsLimit: edge.pendingSessionsLimit,
      drainTimeout: 30_000,
      preConnect: auth.preConnect,
      authenticate: auth.authenticate,
      authorizePublish: publish.authorizePublish,
      authorizeSubscribe: delivery.authorizeSubscribe,
      authorizeForward: delivery.authorizeForward,
    });
    // Inbound messages end in the hub: the broker's own publish is skipped for them (inbound.ts).
    endInboundAtTheHub(broker);
    ctx.broker = broker;
    broker.on('client', (client) => {
      const conn = ctx.connOf.get(client);
      if (!conn) return;
      const id = conn.device.id;
      let set = ctx.clientsOf.get(id);
      if (!set) {
        set = new Set();
        ctx.clientsOf.set(id, set);
      }
      set.add(client);
      deviceConnections.add(id, 1);
      registry.presence.connected(id, true);
      delivery.watchRpcAcks(client, id);
      // The credentials may have changed while this CONNECT was being processed.
      if (typeof auth.current(conn) === 'string') kick(client, RC.NOT_AUTHORIZED);
    });
    broker.on('clientDisconnect', (client) => {
      const conn = ctx.connOf.get(client);
      if (!conn) return;
      const id = conn.device.id;
      const set = ctx.clientsOf.get(id);
      set?.delete(client);
      if (set?.size === 0) ctx.clientsOf.delete(id);
      if (deviceConnections.add(id, -1) === 0 && registry.devices.find(id))
        registry.presence.connected(id, false);
      for (const child of ctx.childrenOf.get(client) ?? []) registry.presence.connected(child, false);
    });
    broker.on('unsubscribe', (topics, client) => {
      const conn = ctx.connOf.get(client);
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
      .collect(() => ctx.broker?.connectedClients ?? 0);
    return listeners.listen();
  }

  /**
   * Shutdown, first step (issue 8): no new connections and no new messages, while the messages
   * already taken are flushed and their PUBACKs still leave on the open sockets.
   */
  function drain() {
    ctx.draining = true;
    listeners.stopAccepting();
  }

  async function stop() {
    ctx.stopped = true;
    ctx.draining = true;
    await listeners.close();
    const broker = ctx.broker;
    await new Promise<void>((resolve) => (broker ? broker.close(() => resolve()) : resolve()));
    ctx.broker = undefined;
    offCredentials();
    rpc.stop();
  }

  return {
    start,
    drain,
    stop,
    /** MQTT over WebSocket: the HTTP server hands each upgraded /mqtt connection here. */
    handleStream(stream: Duplex, remoteAddress?: string) {
      if (!ctx.broker || ctx.draining) {
        stream.destroy();
        return;
      }
      void listeners.admit(stream, remoteAddress ?? 'ws');
    },
    sendTo: ctx.sendTo,
    /** Server-side RPC: send with an expiry, read its state. */
    rpc: {
      send: (deviceId: string, req: RpcRequest) => rpc.send(deviceId, req),
      get: (deviceId: string, id: string) => {
        const r = rpc.get(id);
        return r?.deviceId === deviceId ? r : undefined;
      },
      list: (deviceId: string) => rpc.list(deviceId),
    },
    connectedClients: () => ctx.broker?.connectedClients ?? 0,
    /** A device's limits, breach counts and cool-down, for the API (never in /metrics). */
    limitsOf(deviceId: string) {
      const device = registry.devices.find(deviceId);
      if (!device) return undefined;
      const e = pacing.edgeOf(device);
      return {
        limits: e.limits,
        breaches: { ...e.breaches },
        coolDownUntil: e.coolDownUntil > Date.now() ? new Date(e.coolDownUntil).toISOString() : null,
        connections: ctx.clientsOf.get(deviceId)?.size ?? 0,
      };
    },
  };
}
export type Gateway = ReturnType<typeof createGateway>;
