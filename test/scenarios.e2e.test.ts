// Scenario rehearsals: every file of the library in scenarios/ runs against a real hub (manual
// clock, embedded store) and must pass; invalid files are refused naming the line and the field; a
// wrong expectation is reported ✗; the `gridhub scenario` command exits 0, 1 or 2.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport, loadScenario, RunnerError, runScenario, ScenarioError } from '../simulators/index.ts';
import { ADMIN_TOKEN, startTestHub, type TestHub } from './support/hub.ts';

const LIBRARY = 'scenarios';
const files = readdirSync(LIBRARY)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

const HEADER = `name: inline
description: A small scenario written by the test.
start: 2026-04-07T09:00:00+08:00
grids: demo
duration: 40m
`;

/** A bin that gets full: one registered bin-full case. */
const SMALL = `${HEADER}devices:
  bin:
    profile: waste-container
    grid: '330102003001005'
    every: 5m
    baseline: { fillingLevel: 0.3 }
steps:
  - { at: 10m, set: bin, key: fillingLevel, value: 0.9 }
expect:
  - { case: bin/bin-full, count: 1, status: registered, openedAt: 10m }
`;

/** The same with two wrong expectations. */
const WRONG = SMALL.replace(
  '  - { case: bin/bin-full, count: 1, status: registered, openedAt: 10m }',
  '  - { case: bin/bin-full, count: 1, status: closed }\n  - noCase: bin/bin-full',
);

function errorsOf(text: string, file = 'scenarios/x.yaml'): string {
  try {
    loadScenario(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return (err as Error).message;
  }
  throw new Error('the scenario was accepted');
}

describe('scenario files are validated, each problem naming the file, the line and the field', () => {
  it('every file of the library is valid and the library covers the built-in rules and side paths', () => {
    expect(files.length).toBeGreaterThanOrEqual(12);
    const rules = new Set<string>();
    const actions = new Set<string>();
    const checks = new Set<string>();
    for (const f of files) {
      const s = loadScenario(readFileSync(join(LIBRARY, f), 'utf8'), join(LIBRARY, f));
      const all = [...s.expect, ...s.steps.flatMap((st) => (st.kind === 'check' ? st.expect : []))];
      for (const e of all) {
        if (e.kind !== 'kpi' && e.ref.kind === 'sensor' && e.kind === 'case') rules.add(e.ref.rule);
        if (e.kind === 'kpi') checks.add('kpi');
        if (e.kind === 'case' && e.verifiedBy === 'sensor') checks.add('verifiedBy: sensor');
        if (e.kind === 'case' && e.relapsed) checks.add('relapsed');
        if (e.kind === 'case' && (e.escalatedTo?.length ?? 0) >= 2) checks.add('escalated twice');
      }
      for (const st of s.steps) {
        if (st.kind === 'action') actions.add(st.action);
        if (st.kind === 'report') actions.add('report');
      }
      if (Object.values(s.devices).some((d) => d.via !== null)) checks.add('gateway');
    }
    expect([...rules].sort()).toEqual(
      expect.arrayContaining([
        'bin-fire',
        'bin-full',
        'bin-tilted',
        'camera-exposed-garbage',
        'camera-no-helmet',
        'camera-smoke-fire',
        'camera-street-vending',
        'camera-uncovered-muck-truck',
        'crane-load-100',
        'crane-load-90',
        'crane-wind',
        'noise-day-laeq',
        'noise-night-lamax',
        'noise-night-laeq',
        'offline-noise-level',
        'offline-waste-container',
        'site-pm10-15min',
        'site-pm10-daily',
      ]),
    );
    expect([...actions]).toEqual(
      expect.arrayContaining(['report', 'reject', 'return', 'rework', 'defer', 'resume', 'verify', 'close']),
    );
    expect([...checks]).toEqual(
      expect.arrayContaining(['kpi', 'verifiedBy: sensor', 'relapsed', 'escalated twice', 'gateway']),
    );
  });

  it('bad YAML syntax', () => {
    const msg = errorsOf(`${HEADER}devices:\n  bin:\n    profile: waste-container\n   every: 5m\n`);
    expect(msg).toBe('scenarios/x.yaml:9: YAML syntax: All mapping items must start at the same column');
    expect(errorsOf(`${HEADER}devices:\n\tbin: {}\n`)).toMatch(/^scenarios\/x\.yaml:7: YAML syntax: Tabs/);
  });

  it('an unknown field, listing the fields it could be', () => {
    const msg = errorsOf(`${HEADER}steps:\n  - at: 10m\n    ramp: bin\n    colour: red\n`);
    expect(msg).toContain(
      'scenarios/x.yaml:9: steps[0].colour: unknown field (expected one of: at, ramp, key, to, over)',
    );
    expect(errorsOf(`${HEADER}colour: blue\n`)).toMatch(/^scenarios\/x\.yaml:6: colour: unknown field/);
  });

  it('a bad duration', () => {
    const msg = errorsOf(
      `${HEADER}devices:\n  bin: { profile: waste-container, grid: '330102003001005', baseline: { fillingLevel: 0.2 } }\nsteps:\n  - { at: 10m, ramp: bin, key: fillingLevel, to: 0.85, over: 40 min }\n`,
    );
    expect(msg).toBe('scenarios/x.yaml:9: steps[0].over: expected a duration like 40m, got "40 min"');
    expect(errorsOf(HEADER.replace('duration: 40m', 'duration: forty'))).toBe(
      'scenarios/x.yaml:5: duration: expected a duration like 40m, got "forty"',
    );
  });

  it('a wrong type, a missing field and a bad reference', () => {
    const msg = errorsOf(
      `${HEADER}seed: abc\ndevices:\n  bin:\n    grid: '330102003001005'\n    every: 5\n    baseline: { fillingLevel: high }\nsteps:\n  - { at: 10m, set: bim, key: fillingLevel, value: 0.9 }\nexpect:\n  - case: { category: 102, grid: '330102003001005' }\n`,
    );
    const lines = msg.split('\n');
    expect(lines).toEqual([
      'scenarios/x.yaml:6: seed: expected a number, got "abc"',
      'scenarios/x.yaml:8: devices.bin.profile: required field is missing (one of waste-container, air-quality, noise-level, tower-crane, camera, generic)',
      'scenarios/x.yaml:10: devices.bin.every: expected a reporting interval of at least 10s, like 5m, got 5',
      'scenarios/x.yaml:11: devices.bin.baseline.fillingLevel: expected a number, got "high"',
      "scenarios/x.yaml:13: steps[0].set: no device 'bim' in devices (known: bin)",
      "scenarios/x.yaml:15: expect[0].case.category: expected a 4-digit category code in quotes, like '0101', got 102 (write codes in quotes: an unquoted 0101 is read as the number 102)",
    ]);
    expect(() => loadScenario(SMALL, 'small.yaml')).not.toThrow();
  });
});

describe('the scenario library against a real hub', () => {
  let t: TestHub;
  let systemHub: TestHub;
  let dir: string;
  const opts = () => ({ apiUrl: t.httpUrl, mqttUrl: t.mqttUrl, adminToken: ADMIN_TOKEN });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gridhub-scenarios-'));
    [t, systemHub] = await Promise.all([
      // A short flush interval: the runner waits for each PUBACK, which waits for the batch commit.
      startTestHub({ overrides: { clock: 'manual', ingest: { flushIntervalMs: 5 } } }),
      startTestHub(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([t?.stop(), systemHub?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(files)('%s passes', async (file) => {
    const report = await runScenario(join(LIBRARY, file), opts());
    expect(report.passed, formatReport(report)).toBe(true);
    expect(report.expectations.length).toBeGreaterThan(0);
  });

  it('the example of scenarios/README.md is valid and passes', async () => {
    const readme = readFileSync(join(LIBRARY, 'README.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const report = await runScenario(loadScenario(example!, 'README.md example'), opts());
    expect(report.passed, formatReport(report)).toBe(true);
  });

  it('a wrong expectation is reported ✗ with what was expected and what the hub has', async () => {
    const report = await runScenario(loadScenario(WRONG, 'wrong.yaml'), { ...opts(), settleTimeoutMs: 1500 });
    expect(report.passed).toBe(false);
    const checks = report.expectations.flatMap((e) => e.checks.map((c) => ({ ...c, subject: e.subject })));
    expect(checks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ subject: 'bin/bin-full', field: 'count', ok: true }),
        expect.objectContaining({
          subject: 'bin/bin-full',
          field: 'status',
          expected: 'closed',
          actual: 'registered',
          ok: false,
        }),
        expect.objectContaining({ subject: 'no case bin/bin-full', expected: '0', actual: '1', ok: false }),
      ]),
    );
    const text = formatReport(report);
    expect(text).toMatch(/^✗ inline \(wrong\.yaml\)/);
    expect(text).toContain('✗ bin/bin-full: status: expected closed, actual registered');
    expect(text).toMatch(/FAIL: 1\/3 checks hold/);
  });

  it('says so when the hub does not run on the manual clock', async () => {
    const run = runScenario(loadScenario(SMALL, 'small.yaml'), {
      apiUrl: systemHub.httpUrl,
      mqttUrl: systemHub.mqttUrl,
      adminToken: ADMIN_TOKEN,
    });
    await expect(run).rejects.toThrow(RunnerError);
    await expect(run).rejects.toThrow(/runs on the system clock.*GRIDHUB_CLOCK=manual/);
  });

  it('the CLI exits 0 when every expectation holds, 1 when one does not, 2 for an invalid file', async () => {
    const small = join(dir, 'small.yaml');
    const wrong = join(dir, 'wrong.yaml');
    const invalid = join(dir, 'invalid.yaml');
    writeFileSync(small, SMALL);
    writeFileSync(wrong, WRONG);
    writeFileSync(invalid, SMALL.replace('every: 5m', 'every: 5 minutes'));
    const env = { GRIDHUB_API_URL: t.httpUrl, GRIDHUB_MQTT_URL: t.mqttUrl, GRIDHUB_ADMIN_TOKEN: ADMIN_TOKEN };
    const closedPort = await freePort();

    // These do not move the manual hub's clock: they may run alongside.
    const [check, bad, unreachable, system] = await Promise.all([
      gridhub(['scenario', 'check', small, join(LIBRARY, files[0]!)], env),
      gridhub(['scenario', 'run', invalid], env),
      gridhub(['scenario', 'run', small, '--attempts', '2'], {
        ...env,
        GRIDHUB_API_URL: `http://127.0.0.1:${closedPort}`,
      }),
      gridhub(['scenario', 'run', small], {
        ...env,
        GRIDHUB_API_URL: systemHub.httpUrl,
        GRIDHUB_MQTT_URL: systemHub.mqttUrl,
      }),
    ]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain('is valid');
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(
      `${invalid}:10: devices.bin.every: expected a reporting interval of at least 10s, like 5m, got "5 minutes"`,
    );
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      /cannot reach the hub at http:\/\/127\.0\.0\.1:\d+ \(.*\) after 2 attempts; is it running\?/,
    );
    expect(unreachable.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(system.code).toBe(1);
    expect(system.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^gridhub scenario: the hub at .* runs on the system clock: .*GRIDHUB_CLOCK=manual$/,
      ),
    ]);

    // These move the manual hub's clock: one at a time.
    const pass = await gridhub(['scenario', 'run', small], env);
    expect(pass.code, pass.stdout + pass.stderr).toBe(0);
    expect(pass.stdout).toMatch(/^✓ inline/);
    expect(pass.stdout).toContain('PASS: 3/3 checks hold');
    const fail = await gridhub(['scenario', 'run', wrong, '--wait', '1.5'], env);
    expect(fail.code, fail.stdout + fail.stderr).toBe(1);
    expect(fail.stdout).toContain('✗ bin/bin-full: status: expected closed, actual registered');
  });
});

function gridhub(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/gridhub.js', ...args], {
      env: { ...process.env, ...env, GRIDHUB_ADMIN_TOKEN: env.GRIDHUB_ADMIN_TOKEN ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A loopback port nothing listens on. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
