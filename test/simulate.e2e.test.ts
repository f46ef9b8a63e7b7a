// `gridhub simulate` as a user runs it: a child process (`node bin/gridhub.js simulate …`) against a
// real hub (real broker, embedded store), checked through the hub's API.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestHub, type TestHub } from './support/hub.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOUR = 3_600_000;

interface Run {
  child: ChildProcess;
  /** Resolves once stdout contains the text. */
  seen(text: string): Promise<void>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function simulate(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, ['bin/gridhub.js', 'simulate', ...args], {
    cwd: ROOT,
    env: { ...process.env, GRIDHUB_ADMIN_TOKEN: '', GRIDHUB_DATA_DIR: join(tmpdir(), 'no-such-dir'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (d) => {
    stdout += String(d);
    for (const w of waiters.splice(0)) {
      if (stdout.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  });
  child.stderr!.on('data', (d) => {
    stderr += String(d);
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return {
    child,
    done,
    seen: (text) =>
      stdout.includes(text)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiters.push({ text, resolve });
            void done.then(() =>
              reject(new Error(`exited without printing '${text}':\n${stdout}\n${stderr}`)),
            );
          }),
  };
}

describe('gridhub simulate', () => {
  let t: TestHub;
  let hub: string[];
  const dir = mkdtempSync(join(tmpdir(), 'simulate-e2e-'));

  beforeAll(async () => {
    t = await startTestHub();
    hub = ['--api', t.httpUrl, '--mqtt', t.mqttUrl];
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const series = async (id: string, key: string, from: number) =>
    (await t.api('GET', `/api/devices/${id}/series?key=${key}&from=${from}&limit=10000`)).body.points as {
      ts: string;
      value: number;
    }[];

  it('fast-forwards an hour of the demo district: readings stored with their own timestamps', async () => {
    const started = Date.now();
    const r = await simulate([...hub, '--fast-forward', '1h', '--duration', '30s'], {
      GRIDHUB_ADMIN_TOKEN: ADMIN_TOKEN,
    }).done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/the replay has caught up after/);
    const sent = /messages +sent ([\d,]+), acknowledged ([\d,]+)/.exec(r.stdout);
    expect(sent?.[1]).toBe(sent?.[2]);
    expect(r.stdout).toMatch(/replayed +1h: /);

    const from = started - HOUR - 60_000;
    // a bin every 5 s over the hour, on its own clock (not the arrival time)
    const bin = await series('bin-01', 'fillingLevel', from);
    expect(bin.length).toBeGreaterThanOrEqual(715);
    expect(bin.length).toBeLessThanOrEqual(722);
    expect(Date.parse(bin[0]!.ts)).toBeLessThan(started - HOUR + 10_000);
    expect(Date.parse(bin[1]!.ts) - Date.parse(bin[0]!.ts)).toBe(5000);
    // through the gateway of site 3, and a crane
    expect((await series('site-3-dust', 'pm10', from)).length).toBeGreaterThanOrEqual(715);
    expect((await series('site-1-crane', 'loadMomentRatio', from)).length).toBeGreaterThanOrEqual(715);
    const child = await t.api('GET', '/api/devices/site-3-noise');
    expect(child.body).toMatchObject({ profile: 'noise-level', parentId: 'site-3-gateway' });
    expect((await t.api('GET', '/api/rejected?limit=10')).body.items).toEqual([]);
  });

  it('runs a fleet file: camera detections are stored as events', async () => {
    const devices: unknown[] = [];
    for (let i = 1; i <= 40; i++)
      devices.push({
        id: `e2e-cam-${i}`,
        profile: 'camera',
        scene: i % 2 ? 'street' : 'site',
        location: { lng: 120.16 + i * 0.0001, lat: 30.255 },
      });
    devices.push({ id: 'e2e-gw', profile: 'gateway', location: { lng: 120.165, lat: 30.256 } });
    devices.push({ id: 'e2e-gw-dust', profile: 'air-quality', gateway: 'e2e-gw', everyMs: 60_000 });
    const file = join(dir, 'fleet.json');
    writeFileSync(file, JSON.stringify({ devices }, null, 2));
    const started = Date.now();
    const r = await simulate([
      ...hub,
      '--token',
      ADMIN_TOKEN,
      '--fleet',
      file,
      '--fast-forward',
      '1h',
      '--seed',
      '5',
    ]).done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('42 devices (');

    let events = 0;
    for (let i = 1; i <= 40; i++) {
      const res = await t.api(
        'GET',
        `/api/devices/e2e-cam-${i}/events?from=${started - 2 * HOUR}&limit=1000`,
      );
      for (const e of res.body.items as {
        ts: string;
        type: string;
        confidence: number;
        snapshot: string;
      }[]) {
        events++;
        expect([
          'street_vending',
          'exposed_garbage',
          'uncovered_muck_truck',
          'no_helmet',
          'intrusion',
          'smoke_fire',
        ]).toContain(e.type);
        expect(e.confidence).toBeGreaterThan(0);
        expect(e.confidence).toBeLessThan(1);
        expect(e.snapshot).toBe(`http://camera.local/snapshots/e2e-cam-${i}/${Date.parse(e.ts)}.jpg`);
        expect(Date.parse(e.ts)).toBeGreaterThanOrEqual(started - HOUR - 1000);
      }
    }
    expect(events).toBeGreaterThan(0);
    expect((await series('e2e-cam-1', 'batteryLevel', started - 2 * HOUR)).length).toBeGreaterThan(3);
    expect((await series('e2e-gw-dust', 'pm10', started - 2 * HOUR)).length).toBeGreaterThanOrEqual(59);
  });

  it('load: 500 devices over 5 sockets at QoS 1, everything acknowledged, nothing refused', async () => {
    const r = await simulate([
      ...hub,
      '--token',
      ADMIN_TOKEN,
      '--load',
      '--devices',
      '500',
      '--sockets',
      '5',
      '--qos',
      '1',
      '--duration',
      '3s',
      '--json',
    ]).done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(report).toMatchObject({
      devices: 500,
      sockets: 5,
      layout: 'gateways',
      qos: 1,
      connected: 5,
      announced: 500,
    });
    expect(report.sent).toBeGreaterThan(0);
    expect(report.acknowledged).toBe(report.sent);
    expect(report.refused.total).toBe(0);
    expect(report.readingsPerSec).toBeGreaterThan(0);
    expect(report.ackLatencyMs.p99).toBeGreaterThanOrEqual(report.ackLatencyMs.p50);
    expect((await t.api('GET', '/api/devices/load-gw001-0001')).body.parentId).toBe('load-gw001');
  });

  it('stops cleanly on Ctrl-C: stops publishing, prints the summary, exits 0', async () => {
    const run = simulate([
      ...hub,
      '--token',
      ADMIN_TOKEN,
      '--fast-forward',
      '10m',
      '--then-live',
      '--rate',
      '200',
    ]);
    await run.seen('publishing:');
    await new Promise((r) => setTimeout(r, 1000));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/gridhub simulate: stopped \(Ctrl-C\) after 00:00:\d\d\n {2}devices/);
    const m = /messages +sent ([\d,]+), acknowledged ([\d,]+)/.exec(r.stdout);
    expect(Number(m?.[2]?.replaceAll(',', ''))).toBeGreaterThan(0);
  });

  it('says what is wrong: a bad fleet file (2), a bad flag (2), an unreachable hub (1)', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      '{\n  "devices": [\n    { "id": "x", "profile": "camera", "location": { "lng": 120, "lat": "north" } }\n  ]\n}\n',
    );
    const [file, flag, down] = await Promise.all([
      simulate([...hub, '--token', ADMIN_TOKEN, '--fleet', bad]).done,
      simulate([...hub, '--token', ADMIN_TOKEN, '--fast-forward', 'yesterday']).done,
      simulate(['--token', ADMIN_TOKEN, '--api', 'http://127.0.0.1:9', '--attempts', '2']).done,
    ]);
    expect(file.code).toBe(2);
    expect(file.stderr).toBe(
      `gridhub simulate: invalid fleet file\n${bad}:3: devices[0].location.lat: expected a number, got "north"\n`,
    );
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(
      /^gridhub simulate: --fast-forward expects a duration like 90s, 10m or 6h, got 'yesterday'\n\nusage: gridhub simulate/,
    );
    expect(down.code).toBe(1);
    const lines = down.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(
      /^gridhub simulate: cannot reach the hub at http:\/\/127\.0\.0\.1:9 \(.+\) after 2 attempts; is it running\?$/,
    );
    expect(down.stderr).not.toMatch(/\n\s+at /);
  });
});
