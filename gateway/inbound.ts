/**
 * Inbound device messages end in the hub: ingest takes telemetry, the ThingsBoard API attributes and
 * RPC answers. Their topics are renamed under `$gridhub/in/` before the broker sees them, so no
 * client ever receives one (a `$` topic matches no wildcard, and the topic ACL refuses it by name).
 * For them, Aedes' own publish — matching subscriptions, the retained store, the offline queues,
 * its `publish` event — only spends time: issue 13 measured it as a large part of the bare broker's
 * CPU per message. `endInboundAtTheHub` makes the broker skip it for those topics, finishing
 * on the next tick as its own (asynchronous) publish does; everything else it publishes as before
 * (messages to devices, `$gridhub/out/…`).
 */
import type { Aedes, PublishPacket } from 'aedes';
import { INBOUND_PREFIX } from './topics.ts';

type Done = (error?: Error) => void;

export function endInboundAtTheHub(broker: Aedes): void {
  const forward = broker.publish.bind(broker) as (
    packet: PublishPacket,
    client: unknown,
    done?: Done,
  ) => void;
  const publish = (packet: PublishPacket, client?: unknown, done?: Done) => {
    if (typeof client === 'function') {
      done = client as Done;
      client = null;
    }
    if (typeof packet?.topic === 'string' && packet.topic.startsWith(INBOUND_PREFIX)) {
      if (done) process.nextTick(done);
      return;
    }
    forward(packet, client, done);
  };
  broker.publish = publish as Aedes['publish'];
}
