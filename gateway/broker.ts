import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import type { Logger } from '../hub/logger.ts';
import type { Metrics } from '../hub/metrics.ts';
import type { Ingest } from '../ingest/index.ts';
import type { Device, Registry } from '../registry/index.ts';
import { deviceTopicFor, inboundTopic, outboundTopic, routePublish, routeSubscribe } from './topics.ts';

export interface GatewayOptions {
  host: string;
  mqttPort: number;
  /** MQTTS, when a certificate is configured. */
  tls?: { cert: Buffer; key: Buffer; port: number };
}

const TELEMETRY = 'v1/devices/me/telemetry';

const authError = (message: string, returnCode: 4 | 5) => {
  const err = new Error(message) as AuthenticateError;
  err.returnCode = returnCode;
  return err;
};

/**
 * The MQTT side of the hub: an Aedes broker on TCP (and on the HTTP server's /mqtt WebSocket),
 * with ThingsBoard-compatible device authentication (access token as username) and topic ACL.
 * Telemetry is acknowledged when ingest says so: with durable acks, a QoS 1 PUBACK leaves only
 * once the readings are committed ([MQTT-4.3.2-2] lets the receiver choose when it takes
 * ownership).
 */
export function createGateway(deps: {
  registry: Registry;
  ingest: Ingest;
  logger: Logger;
  metrics: Metrics;
  options: GatewayOptions;
}) {
  const { registry, ingest, metrics } = deps;
  const log = deps.logger;
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
  };
  const deviceOf = new WeakMap<Client, Device>();
  const telemetryTopicOf = new WeakMap<Client, string>();
  /** Children a gateway connection announced, so they go offline with it. */
  const childrenOf = new WeakMap<Client, Set<string>>();
  const connections = new Map<string, number>();
  let broker: Aedes | undefined;
  let server: Server | undefined;
  let tlsServer: Server | undefined;
  const sockets = new Set<Socket | Duplex>();
  let draining = false;

  function refuse(kind: 'publish' | 'subscribe', client: Client, topic: string, reason: string) {
    (kind === 'publish' ? m.refusedPublish : m.refusedSubscribe).inc();
    log.warn({ clientId: client.id, deviceId: deviceOf.get(client)?.id, topic, reason }, `${kind} refused`);
  }

  function sendTo(deviceId: string, deviceTopic: string, payload: unknown, qos: 0 | 1 = 1) {
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
        },
        (err?: Error) => (err ? reject(err) : resolve()),
      );
    });
  }

  async function handle(
    client: Client,
    device: Device,
    packet: PublishPacket,
    done: (err?: Error | null) => void,
  ) {
    const topic = packet.topic;
    const route = routePublish(topic, device.gateway);
    if ('refused' in route) {
      refuse('publish', client, topic, route.refused);
      // MQTT 3.1.1 has no negative PUBACK: closing the connection is the refusal (contract).
      return done(new Error(route.refused));
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
    switch (route.kind) {
      case 'telemetry':
        return ingest.telemetry(msg, (err) => done(err ?? null));
      case 'gateway_telemetry':
        return ingest.gatewayTelemetry(msg, (err) => done(err ?? null));
      case 'attributes':
        await clientAttributes(device, msg);
        return done(null);
      case 'attributes_request':
        await answerAttributes(device, msg.payload, `v1/devices/me/attributes/response/${route.requestId}`);
        return done(null);
      case 'gateway_connect':
      case 'gateway_disconnect': {
        const body = parseObject(msg.payload);
        const name = body?.device;
        if (typeof name !== 'string' || !name) {
          ingest.reject(device.id, client.id, topic, msg.payload, [
            { code: 'bad_shape', reason: `${topic}: expected {"device": NAME, "type": PROFILE}` },
          ]);
          return done(null);
        }
        if (route.kind === 'gateway_disconnect') {
          registry.presence.connected(name, false);
          childrenOf.get(client)?.delete(name);
          return done(null);
        }
        const child = await registry.devices.ensureChild(
          device,
          name,
          typeof body?.type === 'string' ? body.type : undefined,
        );
        if ('refused' in child) {
          ingest.reject(device.id, client.id, topic, msg.payload, [
            { code: 'unknown_device', reason: child.refused },
          ]);
        } else {
          registry.presence.connected(child.id, true);
          const set = childrenOf.get(client) ?? new Set<string>();
          childrenOf.set(client, set);
          set.add(child.id);
        }
        return done(null);
      }
      case 'gateway_attributes': {
        const body = parseObject(msg.payload);
        for (const [name, attrs] of Object.entries(body ?? {})) {
          const child = await registry.devices.ensureChild(device, name);
          if (!('refused' in child) && attrs && typeof attrs === 'object')
            await registry.devices.setClientAttributes(child.id, attrs as Record<string, unknown>);
        }
        return done(null);
      }
      case 'rpc_response':
      case 'rpc_request':
      case 'gateway_attributes_request':
      case 'gateway_rpc':
        // Accepted; server-side RPC bookkeeping arrives with the device-command feature.
        log.debug({ deviceId: device.id, topic }, 'rpc message');
        return done(null);
    }
  }

  function parseObject(payload: Buffer): Record<string, unknown> | undefined {
    try {
      const v = JSON.parse(payload.toString('utf8'));
      return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
    } catch {
      return undefined;
    }
  }

  async function clientAttributes(device: Device, msg: { clientId: string; topic: string; payload: Buffer }) {
    const body = parseObject(msg.payload);
    if (!body) {
      ingest.reject(device.id, msg.clientId, msg.topic, msg.payload, [
        { code: 'bad_shape', reason: 'attributes: expected a JSON object' },
      ]);
      return;
    }
    await registry.devices.setClientAttributes(device.id, body);
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

  async function start() {
    broker = await Aedes.createBroker({
      maxClientsIdLength: 256,
      heartbeatInterval: 60_000,
      authenticate(client, username, _password, cb) {
        // Draining for shutdown: CONNACK 3, server unavailable (MQTT 3.1.1 §3.2.2.3).
        if (draining) return cb(authError('the hub is shutting down', 3 as never), false);
        if (typeof username !== 'string' || username.length === 0) {
          m.refusedConnect.inc({ reason: 'malformed' });
          log.warn({ clientId: client.id }, 'connect refused: no access token in the username');
          return cb(authError('the access token goes in the MQTT username', 4), false);
        }
        const device = registry.devices.byToken(username);
        if (!device) {
          m.refusedConnect.inc({ reason: 'unknown_token' });
          log.warn({ clientId: client.id }, 'connect refused: unknown or revoked access token');
          return cb(authError('unknown or revoked access token', 5), false);
        }
        deviceOf.set(client, device);
        cb(null, true);
      },
      authorizePublish(client, packet, cb) {
        // Draining for shutdown: a message not yet taken is left unacknowledged (the broker reads
        // no further from this client); the device resends it to the next hub.
        if (draining) return;
        const authenticated = client ? deviceOf.get(client) : undefined;
        if (!client || !authenticated) return cb(new Error('not authenticated'));
        // The registry's current view (grid, attributes); a device deleted meanwhile is cut off.
        const device = registry.devices.find(authenticated.id);
        if (!device) {
          refuse('publish', client, packet.topic, `device '${authenticated.id}' was deleted`);
          return cb(new Error('device deleted'));
        }
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
                cb(null);
              },
              () => void handle(client, device, packet, cb).catch((err) => cb(err)),
            );
          return;
        }
        // Hot path: plain telemetry skips the general router (and its promise).
        if (packet.topic === TELEMETRY && packet.qos !== 2) {
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
          ingest.telemetry(msg, (err) => cb(err ?? null));
          return;
        }
        handle(client, device, packet, cb).catch((err) => {
          log.error({ err, deviceId: device.id, topic: packet.topic }, 'publish handling failed');
          cb(null);
        });
      },
      authorizeSubscribe(client, sub: Subscription, cb) {
        const device = client ? deviceOf.get(client) : undefined;
        if (!client || !device) return cb(new Error('not authenticated'), null);
        const r = routeSubscribe(sub.topic, device.id, device.gateway);
        if ('refused' in r) {
          refuse('subscribe', client, sub.topic, r.refused);
          return cb(null, null); // SUBACK 0x80 for this topic only
        }
        cb(null, { ...sub, topic: r.internal });
      },
      authorizeForward(client, packet) {
        const device = deviceOf.get(client);
        if (!device) return null;
        const topic = deviceTopicFor(packet.topic, device.id);
        if (!topic) return null;
        return { ...packet, topic } as typeof packet;
      },
    });
    broker.on('client', (client) => {
      const device = deviceOf.get(client);
      if (!device) return;
      connections.set(device.id, (connections.get(device.id) ?? 0) + 1);
      registry.presence.connected(device.id, true);
    });
    broker.on('clientDisconnect', (client) => {
      const device = deviceOf.get(client);
      if (!device) return;
      const n = (connections.get(device.id) ?? 1) - 1;
      if (n <= 0) {
        connections.delete(device.id);
        registry.presence.connected(device.id, false);
      } else connections.set(device.id, n);
      for (const child of childrenOf.get(client) ?? []) registry.presence.connected(child, false);
    });
    broker.on('clientError', (client, err) =>
      log.debug({ clientId: client.id, err: err.message }, 'client error'),
    );
    metrics
      .gauge('gridhub_mqtt_connections', 'Connected MQTT clients')
      .collect(() => broker?.connectedClients ?? 0);

    const b = broker;
    const accept = (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      b.handle(socket);
    };
    const listen = async (srv: Server, port: number) => {
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, deps.options.host, () => resolve());
      });
      const address = srv.address();
      return typeof address === 'object' && address ? address.port : port;
    };
    server = createServer(accept);
    const port = await listen(server, deps.options.mqttPort);
    log.info({ host: deps.options.host, port }, 'MQTT broker listening');
    let tlsPort: number | undefined;
    const tls = deps.options.tls;
    if (tls) {
      tlsServer = createTlsServer({ cert: tls.cert, key: tls.key }, accept);
      tlsServer.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));
      tlsPort = await listen(tlsServer, tls.port);
      log.info({ host: deps.options.host, port: tlsPort }, 'MQTTS listening');
    }
    return { port, tlsPort };
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
  }

  return {
    start,
    drain,
    stop,
    /** MQTT over WebSocket: the HTTP server hands each upgraded /mqtt connection here. */
    handleStream(stream: Duplex) {
      if (!broker || draining) {
        stream.destroy();
        return;
      }
      sockets.add(stream);
      stream.on('close', () => sockets.delete(stream));
      broker.handle(stream as never);
    },
    sendTo,
    connectedClients: () => broker?.connectedClients ?? 0,
  };
}
export type Gateway = ReturnType<typeof createGateway>;
