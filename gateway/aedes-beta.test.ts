// Aedes 2.0.0-beta.1 behaviours the gateway works around (README, "what the gateway works around"),
// reproduced against a bare broker on a free loopback port. When a release fixes one, its test
// fails here and the workaround in broker.ts can go.
import type { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { expect, it } from 'vitest';
import { bareBrokers } from '../test/support/aedes.ts';
import { connectPacket, rawConnect } from '../test/support/raw-mqtt.ts';

const startBroker = bareBrokers();
let broker: Aedes | undefined;

async function start(opts: Parameters<typeof Aedes.createBroker>[0]) {
  const started = await startBroker(opts);
  broker = started.broker;
  return started.url;
}

it('keepaliveLimit answers an MQTT 3.1.1 client with the non-standard CONNACK code 6', async () => {
  const url = await start({ keepaliveLimit: 60 });
  const c = await rawConnect(url);
  c.send(connectPacket('u', { keepalive: 0 }));
  expect(((await c.next('connack')) as { returnCode?: number }).returnCode).toBe(6); // 3.1.1 defines 0-5
  c.end();
});

it("a persistent session stores the SUBSCRIBE's own topics, not what authorizeSubscribe returns", async () => {
  const url = await start({
    authorizeSubscribe: (_c, sub, cb) =>
      cb(null, sub.topic === 'refused' ? null : { ...sub, topic: 'internal/a' }),
  });
  const c = await mqtt.connectAsync(url, { clientId: 'p1', clean: false, reconnectPeriod: 0 });
  await c.subscribeAsync(['a', 'refused'], { qos: 1 }).catch(() => undefined);
  await c.endAsync();
  const persistence = (
    broker as unknown as {
      persistence: { subscriptionsByClient(c: { id: string }): Promise<{ topic: string }[]> };
    }
  ).persistence;
  const subs = await persistence.subscriptionsByClient({ id: 'p1' });
  expect(subs.map((s) => s.topic).sort()).toEqual(['a', 'refused']);
});

it('the offline queue is delivered without the packet authorizeForward returns', async () => {
  const url = await start({
    authorizeForward: (_c, packet) => ({ ...packet, topic: 'mapped' }) as typeof packet,
  });
  const first = await mqtt.connectAsync(url, { clientId: 'q1', clean: false, reconnectPeriod: 0 });
  await first.subscribeAsync('t', { qos: 1 });
  await first.endAsync();
  await new Promise<void>((r) =>
    broker!.publish(
      { cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, dup: false },
      () => r(),
    ),
  );
  const again = await mqtt.connectAsync(url, {
    clientId: 'q1',
    clean: false,
    reconnectPeriod: 0,
    manualConnect: false,
  });
  const topic = await new Promise<string>((r) => again.once('message', (t) => r(t)));
  expect(topic).toBe('t'); // not 'mapped'
  await again.endAsync();
});
