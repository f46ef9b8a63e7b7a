// endInboundAtTheHub against a real Aedes broker on a free loopback port, with mqtt clients over TCP:
// inbound messages (renamed under $gridhub/in/ as the gateway does) are acknowledged and go nowhere
// — no subscriber, no retained copy, no `publish` event — and everything else is published as before.
import mqtt from 'mqtt';
import { expect, it } from 'vitest';
import { bareBrokers } from '../test/support/aedes.ts';
import { endInboundAtTheHub } from './inbound.ts';
import { inboundTopic } from './topics.ts';

const startBroker = bareBrokers();

/** A broker that renames what clients publish on `in/…` as the gateway does, with or without the skip. */
async function start(skip: boolean) {
  const { broker: b, url } = await startBroker(
    {
      authorizePublish: (client, packet, cb) => {
        if (packet.topic.startsWith('in/'))
          packet.topic = inboundTopic(client?.id ?? '?', packet.topic.slice(3));
        cb(null);
      },
    },
    (b) => {
      if (skip) endInboundAtTheHub(b);
    },
  );
  const seen: string[] = [];
  b.on('publish', (packet, client) => {
    if (client) seen.push(packet.topic);
  });
  const internal: string[] = [];
  await new Promise<void>((r) =>
    b.subscribe(
      '$gridhub/#',
      (packet: { topic: string }, cb: () => void) => {
        internal.push(packet.topic);
        cb();
      },
      () => r(),
    ),
  );
  return { url, seen, internal, b };
}

async function exercise(url: string) {
  const c = await mqtt.connectAsync(url, { clientId: 'dev-1', reconnectPeriod: 0 });
  // QoS 1 (acknowledged), QoS 0, and a retained one: every publish call resolves.
  for (let i = 0; i < 20; i++) await c.publishAsync('in/v1/devices/me/telemetry', `{"n":${i}}`, { qos: 1 });
  await c.publishAsync('in/v1/devices/me/telemetry', '{"n":0}', { qos: 0 });
  await c.publishAsync('in/v1/devices/me/attributes', '{"a":1}', { qos: 1, retain: true });
  await c.publishAsync('plain/topic', 'x', { qos: 1 });
  return c;
}

it('without it, Aedes publishes the renamed inbound messages: to internal subscribers, retained, as events', async () => {
  const { url, seen, internal, b } = await start(false);
  const c = await exercise(url);
  await new Promise((r) => setTimeout(r, 50));
  expect(internal.filter((t) => t.startsWith('$gridhub/in/')).length).toBe(22);
  expect(seen).toContain('plain/topic');
  expect(seen.filter((t) => t.startsWith('$gridhub/in/')).length).toBe(22);
  const retained: string[] = [];
  for await (const p of (
    b as unknown as { persistence: { createRetainedStream(p: string): AsyncIterable<{ topic: string }> } }
  ).persistence.createRetainedStream('$gridhub/#'))
    retained.push(p.topic);
  expect(retained).toEqual([inboundTopic('dev-1', 'v1/devices/me/attributes')]);
  await c.endAsync();
});

it('with it, inbound messages are acknowledged and end there; other topics and hub messages still go out', async () => {
  const { url, seen, internal, b } = await start(true);
  const c = await exercise(url);
  // The hub's own messages to devices are published as before, to internal and client subscribers.
  const sub = await mqtt.connectAsync(url, { clientId: 'dev-2', reconnectPeriod: 0 });
  await sub.subscribeAsync('plain/#', { qos: 1 });
  const got = new Promise<string>((r) => sub.on('message', (t) => r(t)));
  await new Promise<void>((r, j) =>
    b.publish(
      {
        cmd: 'publish',
        topic: '$gridhub/out/dev-2/me/rpc',
        payload: Buffer.from('{}'),
        qos: 1,
        retain: false,
        dup: false,
      },
      (e) => (e ? j(e) : r()),
    ),
  );
  await c.publishAsync('plain/x', 'y', { qos: 1 });
  expect(await got).toBe('plain/x');
  await new Promise((r) => setTimeout(r, 50));
  expect(internal).toEqual(['$gridhub/out/dev-2/me/rpc']);
  expect(seen.filter((t) => t.startsWith('$gridhub/in/'))).toEqual([]);
  expect(seen).toEqual(expect.arrayContaining(['plain/topic', 'plain/x']));
  const retained: string[] = [];
  for await (const p of (
    b as unknown as { persistence: { createRetainedStream(p: string): AsyncIterable<{ topic: string }> } }
  ).persistence.createRetainedStream('$gridhub/#'))
    retained.push(p.topic);
  expect(retained).toEqual([]);
  await Promise.all([c.endAsync(), sub.endAsync()]);
});
