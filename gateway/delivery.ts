/**
 * The outbound side: what a device may subscribe to (its own topics, mapped to the internal
 * per-device ones, up to its subscription limit), and each message forwarded to a connection
 * mapped back to the device's `v1/devices/me/…` topic. Server-side RPC requests are never written
 * after their expiry, and their PUBACK marks them delivered.
 */
import type { AedesPublishPacket, Client, Subscription } from 'aedes';
import type { GatewayContext } from './context.ts';
import { takeMessageId } from './mqtt5.ts';
import type { Pacing } from './pacing.ts';
import { deviceTopicFor, outboundTopic, routeSubscribe } from './topics.ts';

const RPC_REQUEST = /^v1\/devices\/me\/rpc\/request\/(\d+)$/;
/** Where refused subscriptions of a persistent session end up (no one publishes there). */
const REFUSED_TOPIC = '$gridhub/refused';

export function createDelivery(ctx: GatewayContext, pacing: Pacing) {
  const { rpcInFlight } = ctx;

  /** Aedes' authorizeSubscribe hook. */
  function authorizeSubscribe(
    client: Client,
    sub: Subscription,
    cb: (err: Error | null, sub?: Subscription | null) => void,
  ) {
    const conn = client ? ctx.connOf.get(client) : undefined;
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
      ctx.refuse('subscribe', client, sub.topic, r.refused);
      sub.topic = REFUSED_TOPIC;
      return cb(null, null); // SUBACK 0x80 (v5: 0x87) for this topic only
    }
    const max = pacing.edgeOf(device).limits.maxSubscriptions;
    if (!conn.subscriptions.has(r.internal) && conn.subscriptions.size >= max) {
      pacing.breach(device, 'subscriptions', `${max} subscriptions`);
      ctx.refuse('subscribe', client, sub.topic, `over the limit of ${max} subscriptions per connection`);
      sub.topic = REFUSED_TOPIC;
      return cb(null, null);
    }
    conn.subscriptions.add(r.internal);
    sub.topic = r.internal;
    cb(null, sub);
  }

  /** Aedes' authorizeForward hook. */
  function authorizeForward(client: Client, packet: AedesPublishPacket) {
    const conn = ctx.connOf.get(client);
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
      if (!ctx.rpc.forwarding(conn.device.id, rpcRequest[1]!)) return null;
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
  }

  /** A PUBACK for an RPC request marks it delivered (aedes' own 'ack' event has no packet for clean sessions). */
  function watchRpcAcks(client: Client, deviceId: string) {
    (client as unknown as { _parser: import('node:events').EventEmitter })._parser.on(
      'packet',
      (p: { cmd: string; messageId?: number }) => {
        if (p.cmd !== 'puback' || p.messageId === undefined) return;
        const ids = rpcInFlight.get(client);
        const requestId = ids?.get(p.messageId);
        if (requestId === undefined) return;
        ids!.delete(p.messageId);
        ctx.rpc.delivered(deviceId, requestId);
      },
    );
  }

  return { authorizeSubscribe, authorizeForward, watchRpcAcks };
}
