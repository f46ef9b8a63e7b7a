/**
 * The inbound PUBLISH path: the connection's current device, the in-flight cap (Receive Maximum),
 * the rate buckets (MQTT 5 told with PUBACK 0x97, 3.1.1 paced), then the route — plain telemetry
 * straight to ingest (the hot path), everything else through the ThingsBoard API (thingsboard.ts) —
 * and the answer in the client's protocol version. Telemetry is acknowledged when ingest says so
 * ([MQTT-4.3.2-2] lets the receiver choose when it takes ownership).
 */
import type { Client, PublishPacket } from 'aedes';
import { PROFILES } from '../domain/index.ts';
import type { Device } from '../registry/index.ts';
import type { Callback, Conn, GatewayContext, Outcome } from './context.ts';
import { answerV5, kick, type MarkedPacket, RC } from './mqtt5.ts';
import type { Pacing } from './pacing.ts';
import type { BreachReason } from './state.ts';
import { inboundTopic } from './topics.ts';

const TELEMETRY = 'v1/devices/me/telemetry';

export function createPublishPath(deps: {
  ctx: GatewayContext;
  pacing: Pacing;
  /** The device a connection may still act as, or why not (authenticate.ts). */
  current: (conn: Conn) => Device | string;
  handle: (client: Client, device: Device, packet: PublishPacket) => Promise<Outcome>;
}) {
  const { ctx, pacing, current, handle } = deps;
  const { ingest, log } = ctx;
  const telemetryTopicOf = new WeakMap<Client, string>();

  /** Answers one PUBLISH in the client's protocol version and frees its in-flight slot. */
  function settle(client: Client, conn: Conn, packet: MarkedPacket, cb: Callback, o: Outcome) {
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

  const telemetryDone =
    (client: Client, conn: Conn, packet: MarkedPacket, cb: Callback) =>
    (err?: Error, verdict?: { invalid: string }) =>
      settle(client, conn, packet, cb, err ? { storeFailed: err } : verdict ? verdict : { ok: true });

  /** Aedes' authorizePublish hook. */
  function authorizePublish(client: Client | null, packet: PublishPacket, cb: Callback) {
    // Draining for shutdown: a message not yet taken is left unacknowledged (the broker reads
    // no further from this client); the device resends it to the next hub.
    if (ctx.draining) return;
    const conn = client ? ctx.connOf.get(client) : undefined;
    if (!client || !conn) return cb(new Error('not authenticated'));
    // The registry's current view (grid, attributes); a device deleted or re-keyed is cut off.
    const device = current(conn);
    if (typeof device === 'string') {
      ctx.refuse('publish', client, packet.topic, device);
      kick(client, RC.NOT_AUTHORIZED);
      return cb(new Error(device));
    }
    conn.device = device;
    const marked = packet as MarkedPacket;
    const e = pacing.edgeOf(device);
    const now = Date.now();
    if (packet.qos > 0) {
      conn.inflight++;
      // [MQTT-3.3.4-9] more unacknowledged QoS 1/2 PUBLISHes than Receive Maximum: DISCONNECT 0x93.
      const max = conn.v5
        ? Math.max(e.limits.maxInflight, ctx.advertisedReceiveMaximum)
        : e.limits.maxInflight;
      if (conn.inflight > max) {
        conn.inflight--;
        pacing.breach(device, 'inflight', `${conn.inflight + 1} in flight`);
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
        pacing.breach(device, reason, limit);
        return settle(client, conn, marked, cb, { quota: `over the device's rate limit of ${limit}` });
      }
    } else {
      const waitMessages = e.messages.debit(1, now);
      const waitBytes = e.bytes.debit(size, now);
      if (waitMessages > 0 || waitBytes > 0) {
        // Counted; towards the disconnect threshold only once a whole bucket is owed: a client
        // that waits for its acks (a replay catching up) is paced, one that does not is cut off.
        const wait = Math.max(waitMessages, waitBytes);
        pacing.breach(
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
  }

  /** ACL, then the publish's route; answered through settle() in the client's protocol version. */
  function route(client: Client, conn: Conn, device: Device, packet: MarkedPacket, cb: Callback) {
    // A QoS 2 retransmission of a message already received is not ingested twice.
    if (packet.qos === 2 && packet.dup) {
      (
        ctx.broker as unknown as {
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

  function routeFresh(client: Client, conn: Conn, device: Device, packet: MarkedPacket, cb: Callback) {
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

  return { authorizePublish };
}
