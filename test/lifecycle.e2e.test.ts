// The hub's part lifecycle with the real parts (issue 10): a part that fails to start is named and
// the parts already started are stopped, in reverse, leaving nothing open behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { type GatewayState, memoryGatewayState } from '../gateway/index.ts';
import { createHub, type Hub, loadConfig } from '../hub/index.ts';
import { createEventBus, createLogger, type EventBus } from '../kernel/index.ts';
import { createMemorySessionStore, type SessionStore } from '../registry/index.ts';
import { memorySlots } from '../video/index.ts';
import { ADMIN_TOKEN, eventually } from './support/hub.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A loopback port held by another listener, so the part that wants it cannot start. */
async function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as { port: number }).port, server };
}

/** A port that was free a moment ago (to see it is free again after the hub gave it up). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function canListen(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function hubWith(overrides: Record<string, unknown>) {
  const dataDir = mkdtempSync(join(tmpdir(), 'gridhub-life-'));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const lines: { part?: string; msg: string }[] = [];
  const logger = createLogger(
    'debug',
    new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        cb();
      },
    }),
  );
  const config = loadConfig({
    overrides: {
      dataDir,
      mqttPort: 0,
      httpPort: 0,
      adminToken: ADMIN_TOKEN,
      logLevel: 'debug',
      ...overrides,
    },
  });
  return { dataDir, lines, config, logger };
}

/** The parts read and write the process state they were handed, not one of their own. */
async function usesProcessState(
  hub: Hub,
  urls: { httpUrl: string; mqttUrl: string },
  state: { events: EventBus; sessions: SessionStore; gateway: GatewayState },
) {
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const seen: string[] = [];
  state.events.subscribe((e) => {
    if (e.type === 'device') seen.push(`${e.deviceId} ${e.status}`);
  });
  await hub.parts.people.users.create({
    id: 'ops1',
    name: 'ops1',
    role: 'operator',
    unitId: null,
    gridCodes: [],
    password: 'a long enough passphrase',
  });
  const login = await fetch(`${urls.httpUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'ops1', password: 'a long enough passphrase' }),
  });
  expect(login.status).toBe(200);
  const { token } = (await login.json()) as { token: string };
  expect(state.sessions.size()).toBe(1);
  const me = await fetch(`${urls.httpUrl}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  expect(me.status).toBe(200);
  // Ended in the shared store: the next request is refused.
  state.sessions.clear();
  const gone = await fetch(`${urls.httpUrl}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  expect(gone.status).toBe(401);
  const created = await fetch(`${urls.httpUrl}/api/devices`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ id: 'life-1', profile: 'noise-level' }),
  });
  expect(created.status).toBe(201);
  const { accessToken } = (await created.json()) as { accessToken: string };
  const c = await mqtt.connectAsync(urls.mqttUrl, { username: accessToken, reconnectPeriod: 0 });
  try {
    await eventually(() => state.gateway.deviceConnections.get('life-1') === 1);
    await eventually(() => seen.includes('life-1 online'));
    // The device's pacing record is the one in the state handed in (its limits resolved there).
    await c.publishAsync('v1/devices/me/telemetry', JSON.stringify({ LAeq: 50 }), { qos: 1 });
    expect(state.gateway.edges.get('life-1')?.limits.messagesPerSecond).toBeGreaterThan(0);
  } finally {
    await c.endAsync(true);
  }
  await eventually(() => state.gateway.deviceConnections.get('life-1') === 0);
}

const partsLogged = (lines: { part?: string; msg: string }[], msg: string) =>
  lines.filter((l) => l.msg === msg).map((l) => l.part);

describe('hub lifecycle with the real parts', () => {
  it('the gateway cannot listen: the error names it; the parts started before stop in reverse', async () => {
    const { port } = await busyPort();
    const { lines, config, logger } = hubWith({ mqttPort: port });
    const hub = createHub(config, { logger });
    const err = (await hub.start().catch((e: unknown) => e)) as Error & { code?: string; part?: string };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('GRIDHUB_ERR_START');
    expect(err.part).toBe('gateway');
    expect(err.message).toMatch(/^GRIDHUB_ERR_START: gateway: .*EADDRINUSE/);
    expect(partsLogged(lines, 'part started')).toEqual([
      'store',
      'registry',
      'presence',
      'cases',
      'rules',
      'ingest',
    ]);
    expect(partsLogged(lines, 'part stopped')).toEqual([
      'ingest',
      'rules',
      'cases',
      'presence',
      'registry',
      'store',
    ]);
    expect(lines.some((l) => l.msg === 'MQTT broker listening')).toBe(false);
    expect(() => hub.parts).toThrow(/not started/);
    // The embedded store was closed (nothing is left half-open): the same data folder starts a hub
    // that then stops cleanly; this one is handed its process state (issue 10, item 7).
    const state = {
      events: createEventBus(),
      sessions: createMemorySessionStore(),
      gateway: memoryGatewayState(),
      cameraSlots: memorySlots(1),
    };
    const again = createHub({ ...config, mqttPort: 0 }, { logger, processState: state });
    const urls = await again.start();
    try {
      await usesProcessState(again, urls, state);
    } finally {
      await again.stop();
    }
  });

  it('the web server cannot listen: the error names web; the gateway and the rest stop', async () => {
    const { port: httpPort } = await busyPort();
    const mqttPort = await freePort();
    const { lines, config, logger } = hubWith({ httpPort, mqttPort });
    const hub = createHub(config, { logger });
    await expect(hub.start()).rejects.toThrow(/^GRIDHUB_ERR_START: web: .*EADDRINUSE/);
    expect(partsLogged(lines, 'part stopped')).toEqual([
      'gateway',
      'ingest',
      'rules',
      'cases',
      'presence',
      'registry',
      'store',
    ]);
    // The gateway's listener is closed: its port can be taken again.
    expect(await canListen(mqttPort)).toBe(true);
  });
});
