import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../test/support/temp.ts';
import { runSimulateCommand } from './cli.ts';
import { parseDurationArg, parseSimulateArgs, resolveAdminToken, USAGE } from './simulate-args.ts';

function io(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      env,
      signals: () => () => {},
    },
  };
}

/** Temp folders of a test, removed after it. */
const tempDir = tempDirs();

describe('parseDurationArg', () => {
  it('reads durations with units, and bare numbers in the given unit', () => {
    expect(parseDurationArg('6h')).toBe(6 * 3_600_000);
    expect(parseDurationArg('1h30m')).toBe(90 * 60_000);
    expect(parseDurationArg('1.5s')).toBe(1500);
    expect(parseDurationArg('500ms')).toBe(500);
    expect(parseDurationArg('60')).toBe(60_000);
    expect(parseDurationArg('250', 'ms')).toBe(250);
    expect(parseDurationArg('6 hours')).toBeUndefined();
    expect(parseDurationArg('h')).toBeUndefined();
    expect(parseDurationArg('')).toBeUndefined();
  });
});

describe('parseSimulateArgs', () => {
  it('has defaults, and reads the URLs from the environment', () => {
    const a = parseSimulateArgs(['simulate'], { GRIDHUB_API_URL: 'http://hub:9000' });
    expect(a).toMatchObject({
      api: 'http://hub:9000',
      mqtt: 'mqtt://127.0.0.1:1883',
      seed: 1,
      intervalMs: 5000,
      qos: 1,
      load: false,
      thenLive: false,
      attempts: 5,
    });
    expect(a.fastForwardMs).toBeUndefined();
    expect(a.durationMs).toBeUndefined();
  });

  it('reads the fleet flags', () => {
    const a = parseSimulateArgs([
      'simulate',
      '--fast-forward',
      '6h',
      '--then-live',
      '--rate',
      '250',
      '--duration',
      '90s',
      '--seed',
      '42',
      '--interval',
      '2s',
      '--fleet',
      'f.json',
    ]);
    expect(a).toMatchObject({
      fastForwardMs: 6 * 3_600_000,
      thenLive: true,
      rate: 250,
      durationMs: 90_000,
      seed: 42,
      intervalMs: 2000,
      fleet: 'f.json',
    });
  });

  it('reads the load flags', () => {
    const a = parseSimulateArgs(
      '--load --devices 10000 --sockets 100 --qos 0 --rate 30000 --duration 60s --keys 3'.split(' '),
    );
    expect(a).toMatchObject({
      load: true,
      devices: 10_000,
      sockets: 100,
      qos: 0,
      rate: 30_000,
      durationMs: 60_000,
      keys: 3,
    });
    expect(parseSimulateArgs(['--load', '--sockets', 'per-device']).sockets).toBe('per-device');
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--qos', '2'], /--qos expects 0 or 1, got '2'/],
    [['--rate', '0'], /--rate expects messages per second/],
    [['--duration', '10 minutes'], /--duration expects a duration like 90s/],
    [['--fast-forward', 'soon'], /--fast-forward expects a duration/],
    [['--then-live'], /--then-live goes with --fast-forward/],
    [['--fast-forward', '400d'], /--fast-forward goes back at most 364d/],
    [['--devices', '10'], /--devices only goes with --load/],
    [['--load', '--fleet', 'x.json'], /--fleet only goes with a fleet/],
    [['--load', '--keys', '9'], /--keys expects a whole number from 1 to 6/],
    [['--load', '--sockets', 'many'], /--sockets expects a whole number/],
    [['--api', 'localhost:8080'], /--api expects a http or https URL/],
    [['--api', 'nope'], /--api expects a URL, got 'nope'/],
    [['--mqtt', 'http://x'], /--mqtt expects a mqtt or mqtts or tcp or tls or ws or wss URL/],
    [['--timezone', 'Mars/Olympus'], /--timezone expects an IANA zone/],
    [['extra'], /unexpected argument 'extra'/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseSimulateArgs(argv)).toThrow(message);
  });
});

describe('resolveAdminToken', () => {
  it('takes the flag, then GRIDHUB_ADMIN_TOKEN, then the data folder file', () => {
    const dir = tempDir('sim-token-');
    writeFileSync(join(dir, 'admin-token'), 'from-file\n');
    expect(resolveAdminToken('flag', { GRIDHUB_ADMIN_TOKEN: 'env', GRIDHUB_DATA_DIR: dir })).toBe('flag');
    expect(resolveAdminToken(undefined, { GRIDHUB_ADMIN_TOKEN: 'env', GRIDHUB_DATA_DIR: dir })).toBe('env');
    expect(resolveAdminToken(undefined, { GRIDHUB_DATA_DIR: dir })).toBe('from-file');
  });
});

describe('runSimulateCommand', () => {
  it('prints the usage and exits 2 on a bad flag', async () => {
    const t = io();
    expect(await runSimulateCommand(['simulate', '--qos', '3', '--token', 't'], t.io)).toBe(2);
    expect(t.err.join('')).toContain("gridhub simulate: --qos expects 0 or 1, got '3'");
    expect(t.err.join('')).toContain(USAGE);
  });

  it('prints the usage for -h', async () => {
    const t = io();
    expect(await runSimulateCommand(['simulate', '-h'], t.io)).toBe(0);
    expect(t.out.join('')).toBe(USAGE);
  });

  it('exits 2 naming the place of a problem in the fleet file', async () => {
    const dir = tempDir('sim-fleet-');
    const file = join(dir, 'fleet.json');
    writeFileSync(
      file,
      '{\n  "devices": [\n    { "id": "a", "profile": "camera", "location": { "lng": 1 } }\n  ]\n}\n',
    );
    const t = io();
    expect(await runSimulateCommand(['simulate', '--token', 't', '--fleet', file], t.io)).toBe(2);
    expect(t.err.join('')).toBe(
      `gridhub simulate: invalid fleet file\n${file}:3: devices[0].location.lat: required\n`,
    );
  });

  it('exits 1 with one line when the hub cannot be reached', async () => {
    const t = io();
    const code = await runSimulateCommand(
      ['simulate', '--token', 't', '--api', 'http://127.0.0.1:9', '--attempts', '2'],
      t.io,
    );
    expect(code).toBe(1);
    const err = t.err.join('');
    expect(err).toMatch(
      /hub not reachable at http:\/\/127\.0\.0\.1:9 \(.*\); retrying in 0\.5 s \(attempt 2\/2\)/,
    );
    expect(err).toMatch(
      /cannot reach the hub at http:\/\/127\.0\.0\.1:9 \(.*\) after 2 attempts; is it running\?\n$/,
    );
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('exits 2 without a token', async () => {
    const t = io({ GRIDHUB_DATA_DIR: tempDir('sim-none-') });
    const cwd = process.cwd();
    process.chdir(tmpdir());
    try {
      expect(await runSimulateCommand(['simulate'], t.io)).toBe(2);
    } finally {
      process.chdir(cwd);
    }
    expect(t.err.join('')).toMatch(/no admin token/);
  });
});
