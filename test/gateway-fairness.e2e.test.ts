// Finding 7: one device flooding at 20x its rate limit beside 100 well-behaved devices. The
// well-behaved devices' acknowledgement latency and throughput stay the same (generous bound; the
// figures are printed), the flooder is held to its limit and told so (PUBACK 0x97).
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub.ts';

const LOC = { lng: 120.165, lat: 30.255 };
const GOOD = 100;
const GOOD_RATE = 5; // messages/s per well-behaved device
const LIMIT = 10; // messages/s per device (profile limit)
const FLOOD_RATE = 20 * LIMIT;
const PHASE_MS = 4000;

let t: TestHub;
beforeAll(async () => {
  t = await startTestHub({
    overrides: {
      gateway: {
        // The flooder keeps flooding for the whole phase (no cool-down), so the buckets are what is tested.
        profileLimits: {
          'noise-level': { messagesPerSecond: LIMIT, burstSeconds: 1, breachThreshold: 1_000_000 },
        },
      },
    },
  });
});
afterAll(async () => {
  await t?.stop();
});

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : Number.NaN;
};

/** Each good device publishes QoS 1 at GOOD_RATE for PHASE_MS; latencies of every PUBACK. */
async function goodPhase(clients: MqttClient[]) {
  const latencies: number[] = [];
  let acked = 0;
  const until = Date.now() + PHASE_MS;
  await Promise.all(
    clients.map(async (c, i) => {
      await new Promise((r) => setTimeout(r, (i * 1000) / GOOD_RATE / GOOD)); // spread the devices
      while (Date.now() < until) {
        const next = Date.now() + 1000 / GOOD_RATE;
        const t0 = performance.now();
        await c.publishAsync('v1/devices/me/telemetry', `{"LAeq":${50 + (i % 40)}}`, { qos: 1 });
        latencies.push(performance.now() - t0);
        acked++;
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
    }),
  );
  return { latencies, perSecond: acked / (PHASE_MS / 1000) };
}

it('a device at 20x its rate limit does not slow 100 well-behaved devices', {
  timeout: 120_000,
}, async () => {
  const good: MqttClient[] = [];
  for (let i = 0; i < GOOD; i++)
    good.push(await t.connect(await t.device({ id: `fair-${i}`, profile: 'noise-level', location: LOC })));
  const flooder = await t.connect(
    await t.device({ id: 'fair-flood', profile: 'noise-level', location: LOC }),
    {
      protocolVersion: 5,
    },
  );

  const before = await goodPhase(good);

  let floodSent = 0;
  let floodAccepted = 0;
  let floodQuota = 0;
  let stop = false;
  const floodStart = Date.now();
  const flood = (async () => {
    // Ticks of 50 ms (timers are coarse): FLOOD_RATE / 20 messages each.
    for (let tick = 0; !stop; tick++) {
      const next = floodStart + (tick + 1) * 50;
      for (let k = 0; k < FLOOD_RATE / 20; k++) {
        floodSent++;
        flooder.publish('v1/devices/me/telemetry', '{"LAeq":99}', { qos: 1 }, (_err, packet) => {
          if ((packet as { reasonCode?: number } | undefined)?.reasonCode === 0x97) floodQuota++;
          else floodAccepted++;
        });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
  })();
  const during = await goodPhase(good);
  stop = true;
  await flood;
  const floodSeconds = (Date.now() - floodStart) / 1000;
  await new Promise((r) => setTimeout(r, 500));

  const fig = (p: { latencies: number[]; perSecond: number }) =>
    `${p.perSecond.toFixed(0)} msg/s acked, latency p50 ${pct(p.latencies, 50).toFixed(1)} ms, p95 ${pct(p.latencies, 95).toFixed(1)} ms, max ${Math.max(...p.latencies).toFixed(1)} ms`;
  console.log(`[gateway fairness] ${GOOD} devices at ${GOOD_RATE} msg/s, alone:        ${fig(before)}`);
  console.log(`[gateway fairness] ${GOOD} devices at ${GOOD_RATE} msg/s, beside flood: ${fig(during)}`);
  console.log(
    `[gateway fairness] flooder: ${(floodSent / floodSeconds).toFixed(0)} msg/s sent (limit ${LIMIT}), ${(floodAccepted / floodSeconds).toFixed(1)} msg/s accepted, ${floodQuota} answered 0x97`,
  );

  // Generous bounds (10x): this is a 2-core box shared with other work.
  expect(during.perSecond).toBeGreaterThan(before.perSecond * 0.8);
  expect(pct(during.latencies, 95)).toBeLessThan(Math.max(10 * pct(before.latencies, 95), 250));
  // The flooder is held to about its limit (its 1 s burst on top) and told about the rest.
  expect(floodAccepted).toBeLessThanOrEqual(LIMIT * (floodSeconds + 1) + 2);
  expect(floodQuota).toBeGreaterThan(floodSent / 2);
  expect(flooder.connected).toBe(true);
  const limits = await t.api('GET', '/api/devices/fair-flood/limits');
  expect(limits.body.breaches.rate_messages).toBe(floodQuota);
  expect((await t.api('GET', '/api/devices/fair-0/limits')).body.breaches).toEqual({});
});
