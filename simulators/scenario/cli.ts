/**
 * `gridhub scenario run FILE… [--api URL] [--mqtt URL] [--token T] [--attempts N] [--verbose]` and
 * `gridhub scenario check FILE…`.
 *
 * Exit codes: 0 every expectation holds (check: every file is valid); 1 an expectation or a step
 * failed, or the hub could not be used (unreachable, clock not manual, token refused — one line,
 * no stack trace); 2 an invalid scenario file or a usage error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ScenarioError } from './issues.ts';
import { loadScenarioFile } from './parse.ts';
import { formatReport } from './report.ts';
import { RunnerError, runScenario } from './runner.ts';
import type { Scenario } from './types.ts';

const USAGE = `usage: gridhub scenario run FILE... [--api URL] [--mqtt URL] [--token TOKEN] [--attempts N] [--wait S] [--verbose]
       gridhub scenario check FILE...

  run     rehearse the scenarios against a hub started with GRIDHUB_CLOCK=manual and check their
          expectations; exit 0 when all hold, 1 otherwise, 2 for an invalid file
  check   validate the files only (exit 0 or 2)

  --api URL      the hub's HTTP API (default $GRIDHUB_API_URL or http://127.0.0.1:8080)
  --mqtt URL     the hub's MQTT broker (default $GRIDHUB_MQTT_URL or mqtt://127.0.0.1:1883)
  --token TOKEN  the admin token (default $GRIDHUB_ADMIN_TOKEN, else the file <data dir>/admin-token)
  --attempts N   HTTP attempts while the hub is unreachable, with backoff (default 5)
  --wait S       seconds to wait for the hub to reach an expected state before ✗ (default 10)
  --verbose      print each step as it runs
  Writing a scenario: scenarios/README.md
`;

type Out = { write(s: string): unknown };

export async function runScenarioCommand(
  argv: string[],
  io: { stdout: Out; stderr: Out; env: NodeJS.ProcessEnv } = {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  },
): Promise<number> {
  const { stdout, stderr, env } = io;
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    stderr.write(`gridhub scenario: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  // positionals: ['scenario', 'run' | 'check', FILE…] (the command may come after --config …)
  const at = positionals.indexOf('scenario');
  const [sub, ...files] = positionals.slice(at + 1);
  if (values.help || (sub !== 'run' && sub !== 'check') || files.length === 0) {
    (values.help ? stdout : stderr).write(USAGE);
    return values.help ? 0 : 2;
  }

  const scenarios: Scenario[] = [];
  let invalid = false;
  for (const file of files) {
    try {
      scenarios.push(loadScenarioFile(file));
    } catch (err) {
      if (!(err instanceof ScenarioError)) throw err;
      invalid = true;
      stderr.write(`${err.message}\n`);
    }
  }
  if (invalid) return 2;
  if (sub === 'check') {
    for (const s of scenarios)
      stdout.write(
        `✓ ${s.file}: ${s.name} is valid (${n(Object.keys(s.devices).length, 'device')}, ${n(s.steps.length, 'step')}, ${n(s.expect.length, 'expectation')})\n`,
      );
    return 0;
  }

  const apiUrl = values.api ?? env.GRIDHUB_API_URL ?? 'http://127.0.0.1:8080';
  const mqttUrl = values.mqtt ?? env.GRIDHUB_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
  const token = values.token ?? env.GRIDHUB_ADMIN_TOKEN ?? readTokenFile(env);
  if (!token) {
    stderr.write(
      `gridhub scenario: no admin token: pass --token, set GRIDHUB_ADMIN_TOKEN, or run where ${tokenFile(env)} exists\n`,
    );
    return 2;
  }
  const attempts = values.attempts === undefined ? 5 : Number(values.attempts);
  if (!Number.isInteger(attempts) || attempts < 1) {
    stderr.write('gridhub scenario: --attempts must be a positive integer\n');
    return 2;
  }

  const wait = values.wait === undefined ? 10 : Number(values.wait);
  if (!Number.isFinite(wait) || wait <= 0) {
    stderr.write('gridhub scenario: --wait must be a positive number of seconds\n');
    return 2;
  }

  let failed = 0;
  for (const s of scenarios) {
    try {
      const report = await runScenario(s, {
        apiUrl,
        mqttUrl,
        adminToken: token,
        attempts,
        settleTimeoutMs: wait * 1000,
        log: (line) => {
          if (values.verbose || line.startsWith('hub not reachable')) stderr.write(`  ${line}\n`);
        },
      });
      stdout.write(`${formatReport(report)}\n`);
      if (!report.passed) failed++;
    } catch (err) {
      if (err instanceof RunnerError) {
        stderr.write(`gridhub scenario: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
  }
  if (scenarios.length > 1)
    stdout.write(
      `${failed === 0 ? 'PASS' : 'FAIL'}: ${scenarios.length - failed} of ${scenarios.length} scenarios pass\n`,
    );
  return failed === 0 ? 0 : 1;
}

const n = (k: number, word: string) => `${k} ${word}${k === 1 ? '' : 's'}`;

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      help: { type: 'boolean' },
      api: { type: 'string' },
      mqtt: { type: 'string' },
      token: { type: 'string' },
      attempts: { type: 'string' },
      wait: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
    },
  });
}

const tokenFile = (env: NodeJS.ProcessEnv) => join(env.GRIDHUB_DATA_DIR ?? './data', 'admin-token');

function readTokenFile(env: NodeJS.ProcessEnv): string | undefined {
  const file = tokenFile(env);
  if (!existsSync(file)) return undefined;
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
