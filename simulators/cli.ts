/**
 * `gridhub simulate …` (also `npm run simulate -- …`): a simulated fleet, or a load test, against
 * any hub. See USAGE.
 *
 * Exit codes: 0 done (the duration is over, the replay has caught up, or Ctrl-C / SIGTERM: it stops
 * publishing, waits a bounded time for the last acknowledgements, disconnects and prints the
 * summary); 1 the hub could not be used (unreachable after retries, token refused — one line, no
 * stack trace); 2 bad flags or an invalid fleet file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parseDuration } from '../kernel/index.ts';
import { simulateCameraStreams } from './cameras.ts';
import { demoDistrict } from './district.ts';
import { createFleet, type Fleet, type FleetStats } from './fleet.ts';
import { FleetFileError, fleetFileDevices, loadFleetFile, MIN_EVERY_MS } from './fleet-file.ts';
import { FleetError } from './hub-api.ts';
import { LOAD_KEYS, type LoadReport, type LoadRun, startLoad } from './load.ts';
import {
  formatClock,
  formatCount,
  formatRate,
  formatSpan,
  formatSummary,
  ProgressDisplay,
  type ProgressOut,
} from './progress.ts';
import { fleetDevices } from './roster.ts';

export const USAGE = `usage: gridhub simulate [--fleet FILE] [--fast-forward D [--then-live]] [options]
       gridhub simulate --load [--devices N] [--sockets N|per-device] [--qos 0|1] [options]

A simulated fleet (default: the demo district's bins, dust and noise monitors, cranes, cameras and
a gateway site) publishing over MQTT like real devices, or a load test. Ctrl-C stops it cleanly.

Hub
  --api URL           HTTP API (default $GRIDHUB_API_URL or http://127.0.0.1:8080)
  --mqtt URL          MQTT broker (default $GRIDHUB_MQTT_URL or mqtt://127.0.0.1:1883)
  --token TOKEN       admin token (default $GRIDHUB_ADMIN_TOKEN, else the file
                      $GRIDHUB_DATA_DIR/admin-token, else ./data/admin-token)
  --attempts N        HTTP attempts while the hub is unreachable, with backoff (default 5)

Fleet
  --fleet FILE        devices from a JSON file instead of the demo district:
                      {"devices": [{"id", "profile", "location": {"lng", "lat"},
                                    "gateway"?: GATEWAY_ID, "everyMs"?, "scene"?}]}
                      profiles: waste-container, air-quality, noise-level, tower-crane, camera,
                      gateway (children name it in "gateway" and report through it)
  --seed N            random seed (default 1): same seed and window, same readings
  --interval D        publishing period of each device (default 5s; bare number = ms)
  --fast-forward D    replay the last D (e.g. 6h) first, with the readings' own timestamps, as fast
                      as the hub acknowledges; then stop, or go on live with --then-live
  --then-live         after the replay, keep publishing in real time
  --batch N           records per device and message while catching up (default 10)
  --timezone TZ       IANA zone for the models' time of day (default Asia/Shanghai)
  --no-video          no simulated RTSP streams for the cameras (by default each camera of the
                      fleet streams a test pattern from a loopback RTSP server and its rtspUrl
                      server attribute is set; needs GStreamer's RTSP server, see the README)

Load (--load)
  --devices N         simulated devices (default 10000)
  --sockets N         N connections carrying the devices as gateway children, or per-device
                      (one connection per device; the default)
  --keys K            readings per record, 1-${LOAD_KEYS.length} (default 3)
  --batch N           devices per gateway message (default 1)
  --prefix P          device ids start with P (default load)
  --json              print the report as JSON

Both
  --rate R            at most R messages/s overall (a message is one MQTT PUBLISH)
  --qos 0|1           QoS of the telemetry (default 1)
  --inflight N        unacknowledged messages per connection
  --duration D        stop after D (e.g. 90s, 10m, 1h30m; bare number = seconds)
  -h, --help          this text

Progress: one line, redrawn on a terminal, printed every 5 s otherwise; a summary at the end.
Exit: 0 done or stopped, 1 hub unusable (one line, after retries), 2 bad flags or fleet file.
`;

type Out = ProgressOut;

export interface SimulateIo {
  stdout: Out;
  stderr: Out;
  env: NodeJS.ProcessEnv;
  /** Resolves at SIGINT/SIGTERM with the signal's name (default: process signals). */
  signals?: (onSignal: (name: string) => void) => () => void;
}

class UsageError extends Error {}

/**
 * A duration flag: the kernel's grammar (`90s`, `10m`, `1h30m`, `1.5h`, `500ms`), rounded to whole
 * milliseconds; a bare number is `bareUnit`. Undefined if not one.
 */
export function parseDurationArg(text: string, bareUnit: 'ms' | 's' = 's'): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * (bareUnit === 's' ? 1000 : 1);
  const ms = parseDuration(t);
  return ms === undefined ? undefined : Math.round(ms);
}

const OPTIONS = {
  api: { type: 'string' },
  mqtt: { type: 'string' },
  token: { type: 'string' },
  attempts: { type: 'string' },
  fleet: { type: 'string' },
  seed: { type: 'string' },
  interval: { type: 'string' },
  'fast-forward': { type: 'string' },
  'then-live': { type: 'boolean' },
  batch: { type: 'string' },
  timezone: { type: 'string' },
  'no-video': { type: 'boolean' },
  load: { type: 'boolean' },
  devices: { type: 'string' },
  sockets: { type: 'string' },
  keys: { type: 'string' },
  prefix: { type: 'string' },
  json: { type: 'boolean' },
  rate: { type: 'string' },
  qos: { type: 'string' },
  inflight: { type: 'string' },
  duration: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string' }, // the hub CLI's; ignored here
} as const;

export interface SimulateArgs {
  api: string;
  mqtt: string;
  token?: string;
  attempts: number;
  seed: number;
  rate?: number;
  qos: 0 | 1;
  inflight?: number;
  durationMs?: number;
  help: boolean;
  load: boolean;
  // fleet
  fleet?: string;
  intervalMs: number;
  fastForwardMs?: number;
  thenLive: boolean;
  batch?: number;
  timeZone?: string;
  video: boolean;
  // load
  devices: number;
  sockets: number | 'per-device';
  keys: number;
  prefix: string;
  json: boolean;
}

/** Flags → settings; throws UsageError naming the flag. */
export function parseSimulateArgs(argv: string[], env: NodeJS.ProcessEnv = {}): SimulateArgs {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  const { values: v, positionals } = parsed;
  const extra = positionals.filter((p) => p !== 'simulate' && p !== 'help');
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);

  const int = (name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
      throw new UsageError(
        `--${name} expects a whole number${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ` of at least ${min}`}, got '${text}'`,
      );
    return n;
  };
  const duration = (name: string, text: string | undefined, bare: 'ms' | 's', min = 1) => {
    if (text === undefined) return undefined;
    const ms = parseDurationArg(text, bare);
    if (ms === undefined || ms < min)
      throw new UsageError(`--${name} expects a duration like 90s, 10m or 6h, got '${text}'`);
    return ms;
  };
  const url = (name: string, text: string, schemes: string[]) => {
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      throw new UsageError(`--${name} expects a URL, got '${text}'`);
    }
    if (!schemes.includes(u.protocol.replace(/:$/, '')))
      throw new UsageError(`--${name} expects a ${schemes.join(' or ')} URL, got '${text}'`);
    return text;
  };

  const load = v.load === true;
  const only = (names: (keyof typeof OPTIONS)[], mode: string) => {
    for (const n of names) if (v[n] !== undefined) throw new UsageError(`--${n} only goes with ${mode}`);
  };
  if (load)
    only(['fleet', 'fast-forward', 'then-live', 'interval', 'timezone', 'no-video'], 'a fleet (not --load)');
  else only(['devices', 'sockets', 'keys', 'prefix', 'json'], '--load');

  let rate: number | undefined;
  if (v.rate !== undefined) {
    rate = Number(v.rate);
    if (!(rate > 0) || !Number.isFinite(rate))
      throw new UsageError(`--rate expects messages per second (a positive number), got '${v.rate}'`);
  }
  if (v.qos !== undefined && v.qos !== '0' && v.qos !== '1')
    throw new UsageError(`--qos expects 0 or 1, got '${v.qos}'`);
  let sockets: number | 'per-device' = 'per-device';
  if (v.sockets !== undefined && v.sockets !== 'per-device') sockets = int('sockets', v.sockets, 1)!;
  const fastForwardMs = duration('fast-forward', v['fast-forward'], 's', 1000);
  if (fastForwardMs !== undefined && fastForwardMs > 364 * 86_400_000)
    throw new UsageError(
      `--fast-forward goes back at most 364d (the hub refuses readings over a year old), got '${v['fast-forward']}'`,
    );
  if (v['then-live'] && fastForwardMs === undefined)
    throw new UsageError('--then-live goes with --fast-forward');
  if (v.timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: v.timezone });
    } catch {
      throw new UsageError(`--timezone expects an IANA zone like Asia/Shanghai, got '${v.timezone}'`);
    }
  }
  return {
    api: url('api', v.api ?? env.GRIDHUB_API_URL ?? 'http://127.0.0.1:8080', ['http', 'https']),
    mqtt: url('mqtt', v.mqtt ?? env.GRIDHUB_MQTT_URL ?? 'mqtt://127.0.0.1:1883', [
      'mqtt',
      'mqtts',
      'tcp',
      'tls',
      'ws',
      'wss',
    ]),
    token: v.token,
    attempts: int('attempts', v.attempts, 1, 100) ?? 5,
    seed: int('seed', v.seed, -(2 ** 31), 2 ** 32) ?? 1,
    rate,
    qos: v.qos === '0' ? 0 : 1,
    inflight: int('inflight', v.inflight, 1, 10_000),
    durationMs: duration('duration', v.duration, 's', 1),
    help: v.help === true || positionals.includes('help'),
    load,
    fleet: v.fleet,
    intervalMs: duration('interval', v.interval, 'ms', MIN_EVERY_MS) ?? 5000,
    fastForwardMs,
    thenLive: v['then-live'] === true,
    batch: int('batch', v.batch, 1, 1000),
    timeZone: v.timezone,
    video: v['no-video'] !== true,
    devices: int('devices', v.devices, 1, 1_000_000) ?? 10_000,
    sockets,
    keys: int('keys', v.keys, 1, LOAD_KEYS.length) ?? 3,
    prefix: v.prefix ?? 'load',
    json: v.json === true,
  };
}

/** The admin token: the flag, GRIDHUB_ADMIN_TOKEN, or the admin-token file of the data folder. */
export function resolveAdminToken(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (flag) return flag;
  if (env.GRIDHUB_ADMIN_TOKEN) return env.GRIDHUB_ADMIN_TOKEN;
  const files = [
    env.GRIDHUB_DATA_DIR ? join(env.GRIDHUB_DATA_DIR, 'admin-token') : undefined,
    './data/admin-token',
  ];
  for (const f of files) {
    if (!f || !existsSync(f)) continue;
    try {
      const t = readFileSync(f, 'utf8').trim();
      if (t) return t;
    } catch {}
  }
  return undefined;
}

const processSignals: NonNullable<SimulateIo['signals']> = (onSignal) => {
  const int = () => onSignal('SIGINT');
  const term = () => onSignal('SIGTERM');
  process.on('SIGINT', int);
  process.on('SIGTERM', term);
  return () => {
    process.off('SIGINT', int);
    process.off('SIGTERM', term);
  };
};

/**
 * Entry point of `gridhub simulate`. `argv` is the command line after the program (the hub CLI's
 * parsed flags are not enough: it does not know these options, so they are read again from
 * process.argv when given as an object).
 */
export async function runSimulateCommand(
  argv: string[] | Record<string, string | boolean | undefined> = process.argv.slice(2),
  io: SimulateIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  const args = Array.isArray(argv) ? argv : process.argv.slice(2);
  const { stdout, stderr, env } = io;
  let a: SimulateArgs;
  try {
    a = parseSimulateArgs(args, env);
  } catch (err) {
    if (err instanceof UsageError) {
      stderr.write(`gridhub simulate: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (a.help) {
    stdout.write(USAGE);
    return 0;
  }
  const token = resolveAdminToken(a.token, env);
  if (!token) {
    stderr.write(
      'gridhub simulate: no admin token: pass --token, set GRIDHUB_ADMIN_TOKEN, or run it where ./data/admin-token is\n',
    );
    return 2;
  }

  // Stop on the first SIGINT/SIGTERM; a second one exits at once.
  let stopSignal: string | undefined;
  let onStop: (() => void) | undefined;
  const stopped = new Promise<string>((resolve) => {
    onStop = () => resolve(stopSignal ?? 'stop');
  });
  const unlisten = (io.signals ?? processSignals)((name) => {
    if (stopSignal) {
      stderr.write(`\ngridhub simulate: ${name} again, exiting without waiting\n`);
      process.exit(130);
    }
    stopSignal = name;
    onStop?.();
  });
  try {
    return a.load ? await runLoadMode(a, token, io, stopped) : await runFleetMode(a, token, io, stopped);
  } catch (err) {
    if (err instanceof FleetError) {
      stderr.write(`gridhub simulate: ${err.message}\n`);
      return 1;
    }
    if (err instanceof FleetFileError) {
      stderr.write(`gridhub simulate: invalid fleet file\n${err.message}\n`);
      return 2;
    }
    stderr.write(`gridhub simulate: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    unlisten();
  }
}

const describeSignal = (s: string) => (s === 'SIGINT' ? 'Ctrl-C' : s);

async function runFleetMode(
  a: SimulateArgs,
  token: string,
  io: SimulateIo,
  stopped: Promise<string>,
): Promise<number> {
  const { stdout, stderr } = io;
  const file = a.fleet ? loadFleetFile(a.fleet) : undefined;
  const fleet: Fleet = createFleet({
    apiUrl: a.api,
    mqttUrl: a.mqtt,
    adminToken: token,
    seed: a.seed,
    intervalMs: a.intervalMs,
    ...(file ? { devices: fleetFileDevices(file) } : {}),
    ...(a.timeZone ? { timeZone: a.timeZone } : {}),
    attempts: a.attempts,
    onRetry: (m) => stderr.write(`gridhub simulate: ${m}\n`),
    fastForwardMs: a.fastForwardMs,
    thenLive: a.thenLive,
    rate: a.rate,
    qos: a.qos,
    inflight: a.inflight,
    batch: a.batch,
    logger: pino({ level: 'silent' }),
  });
  const total = fleet.stats().devices;
  stdout.write(
    `gridhub simulate: ${total} devices (${a.fleet ?? 'demo district 330102'}), seed ${a.seed}, ` +
      `${a.fastForwardMs ? `replaying the last ${formatSpan(a.fastForwardMs)}${a.thenLive ? ' then live' : ''}` : 'live'}` +
      `${a.rate ? `, at most ${formatRate(a.rate)} messages/s` : ''}${a.durationMs ? `, for ${formatSpan(a.durationMs)}` : ''}` +
      ` → ${a.api} ${a.mqtt}\n`,
  );
  const started = Date.now();
  const progress = new ProgressDisplay({
    out: stdout,
    startedAt: started,
    sample: () => {
      const s = fleet.stats();
      return {
        connected: s.connected,
        of: s.devices,
        readings: s.readings,
        sent: s.sent,
        acked: s.messages,
        errors: s.errors,
        status: statusOf(s, a),
      };
    },
  });
  let endReason = '';
  let durationTimer: ReturnType<typeof setTimeout> | undefined;
  const durationOver = new Promise<string>((resolve) => {
    if (a.durationMs !== undefined)
      durationTimer = setTimeout(
        () => resolve(`the duration (${formatSpan(a.durationMs!)}) is over`),
        a.durationMs,
      );
  });
  progress.start();
  let cameras: Awaited<ReturnType<typeof simulateCameraStreams>>;
  try {
    const first = await Promise.race([
      fleet.start().then(() => ''),
      stopped.then((s) => `stopped (${describeSignal(s)})`),
      durationOver,
    ]);
    if (first) endReason = first;
    else {
      if (a.video) {
        const specs = file ? fleetFileDevices(file) : fleetDevices(demoDistrict(a.seed));
        cameras = await simulateCameraStreams({
          apiUrl: a.api,
          adminToken: token,
          cameraIds: specs.filter((d) => d.profile === 'camera').map((d) => d.id),
          say: (line) => stdout.write(`gridhub simulate: ${line}\n`),
        }).catch((err) => {
          stdout.write(`gridhub simulate: cameras: no simulated video (${(err as Error).message})\n`);
          return undefined;
        });
      }
      const s = fleet.stats();
      if (!progress.tty) stdout.write(`publishing: ${s.connected}/${s.devices} devices connected\n`);
      endReason = await Promise.race([
        stopped.then((sig) => `stopped (${describeSignal(sig)})`),
        durationOver,
        ...(a.fastForwardMs && !a.thenLive ? [fleet.caughtUp().then(() => 'the replay has caught up')] : []),
      ]);
    }
  } catch (err) {
    progress.stop();
    if (durationTimer) clearTimeout(durationTimer);
    await fleet.stop({ drainMs: 0 }).catch(() => {});
    await cameras?.stop();
    throw err;
  }
  await cameras?.stop();
  if (durationTimer) clearTimeout(durationTimer);
  await fleet.stop({ drainMs: 5000 });
  progress.stop();
  const s = fleet.stats();
  const elapsed = Date.now() - started;
  const rows: [string, string][] = [
    ['devices', `${formatCount(s.devices)}`],
    [
      'messages',
      `sent ${formatCount(s.sent)}, acknowledged ${formatCount(s.messages)}${s.inflight ? `, not acknowledged ${formatCount(s.inflight)}` : ''}`,
    ],
    [
      'readings',
      `${formatCount(s.readings)} acknowledged (${formatRate(elapsed > 0 ? (s.readings * 1000) / elapsed : 0)}/s)`,
    ],
  ];
  if (s.replay) {
    rows.push([
      'replayed',
      `${formatSpan(s.replay.to - s.replay.from)}: ${new Date(s.replay.from).toISOString()} → ${new Date(s.replay.to).toISOString()}`,
    ]);
  }
  rows.push(['errors', formatCount(s.errors)]);
  stdout.write(formatSummary(`gridhub simulate: ${endReason} after ${formatClock(elapsed)}`, rows));
  return 0;
}

function statusOf(s: FleetStats, a: SimulateArgs): string {
  switch (s.phase) {
    case 'idle':
      return 'provisioning';
    case 'replay': {
      const window = a.fastForwardMs ?? 1;
      const pct = Math.max(0, Math.min(99, Math.floor(100 * (1 - s.behindMs / window))));
      return `replay ${pct}% (${formatSpan(s.behindMs)} behind)`;
    }
    case 'live':
      return s.replay ? 'live (replay done)' : 'live';
    case 'done':
      return 'replay done';
    default:
      return s.phase;
  }
}

async function runLoadMode(
  a: SimulateArgs,
  token: string,
  io: SimulateIo,
  stopped: Promise<string>,
): Promise<number> {
  const { stdout, stderr } = io;
  const controller = new AbortController();
  let endReason = a.durationMs !== undefined ? `the duration (${formatSpan(a.durationMs)}) is over` : '';
  void stopped.then((sig) => {
    endReason = `stopped (${describeSignal(sig)})`;
    controller.abort();
  });
  const layout =
    a.sockets === 'per-device' || a.sockets >= a.devices
      ? `${formatCount(a.devices)} sockets (one per device)`
      : `${formatCount(a.sockets)} gateway sockets`;
  stdout.write(
    `gridhub simulate --load: ${formatCount(a.devices)} devices over ${layout}, QoS ${a.qos}, ${a.keys} readings per record` +
      `${a.rate ? `, target ${formatRate(a.rate)} messages/s` : ', as fast as acknowledged'}` +
      `${a.durationMs ? `, for ${formatSpan(a.durationMs)}` : ', until Ctrl-C'} → ${a.api} ${a.mqtt}\n`,
  );
  let run: LoadRun;
  try {
    run = startLoad({
      apiUrl: a.api,
      mqttUrl: a.mqtt,
      adminToken: token,
      devices: a.devices,
      sockets: a.sockets,
      qos: a.qos,
      rate: a.rate,
      durationMs: a.durationMs,
      signal: controller.signal,
      keys: a.keys,
      batch: a.batch,
      inflight: a.inflight,
      prefix: a.prefix,
      seed: a.seed,
      attempts: a.attempts,
      onRetry: (m) => stderr.write(`gridhub simulate: ${m}\n`),
    });
  } catch (err) {
    throw err instanceof FleetError ? err : new FleetError((err as Error).message);
  }
  const started = Date.now();
  const progress = new ProgressDisplay({
    out: stdout,
    startedAt: started,
    sample: () => {
      const s = run.snapshot();
      const step =
        s.phase === 'provision' || s.phase === 'connect' || s.phase === 'announce'
          ? `${s.phase} ${formatCount(s.step.done)}/${formatCount(s.step.total)}`
          : s.phase === 'publish'
            ? `publishing ${formatSpan(s.elapsedMs)}, ${formatCount(s.inflight)} in flight`
            : s.phase;
      return {
        connected: s.connected,
        of: s.sockets,
        connectedLabel: 'sockets',
        readings: s.readings,
        sent: s.sent,
        acked: s.acked,
        refused: s.refused,
        errors: s.errors,
        status: step,
      };
    },
  }).start();
  let report: LoadReport;
  try {
    report = await run.done;
  } finally {
    progress.stop();
  }
  if (a.json) {
    stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  stdout.write(formatLoadReport(report, endReason || 'done', Date.now() - started));
  return 0;
}

export function formatLoadReport(r: LoadReport, reason: string, elapsedMs: number): string {
  const lat = r.ackLatencyMs;
  const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const secs = (x: number) => `${(x / 1000).toFixed(1)} s`;
  const rows: [string, string][] = [
    [
      'layout',
      `${formatCount(r.devices)} devices over ${formatCount(r.sockets)} ${r.layout === 'per-device' ? 'sockets (one per device)' : `gateway sockets (${r.batch} device${r.batch > 1 ? 's' : ''} per message)`}, QoS ${r.qos}, ${r.keys} readings per record, ${r.inflightPerSocket} in flight per socket`,
    ],
    ['target', r.rate ? `${formatRate(r.rate)} messages/s` : 'as fast as acknowledged'],
    [
      'setup',
      `provisioned in ${secs(r.provisionMs)}, connected ${formatCount(r.connected)}/${formatCount(r.sockets)} in ${secs(r.connectMs)}${r.layout === 'gateways' ? `, ${formatCount(r.announced)} children announced in ${secs(r.announceMs)}` : ''}`,
    ],
    ['publishing', secs(r.durationMs)],
    ['sent', formatCount(r.sent)],
    [r.qos === 1 ? 'acknowledged' : 'written (QoS 0)', formatCount(r.acknowledged)],
    [
      'refused',
      `${formatCount(r.refused.total)} (CONNACK ${r.refused.connack}, SUBACK ${r.refused.suback}, closed ${r.refused.closed}, not acknowledged ${r.refused.unacked})`,
    ],
    ['achieved', `${formatRate(r.messagesPerSec)} messages/s, ${formatRate(r.readingsPerSec)} readings/s`],
    [
      r.qos === 1 ? 'ack latency' : 'write latency',
      lat ? `p50 ${ms(lat.p50)} ms, p99 ${ms(lat.p99)} ms, max ${ms(lat.max)} ms` : '—',
    ],
  ];
  if (r.hubAccepted !== null)
    rows.push([
      'hub accepted',
      `${formatCount(r.hubAccepted)} readings (/metrics, all devices)${r.hubReadingsPerSec !== null ? `, ${formatRate(r.hubReadingsPerSec)} readings/s` : ''}`,
    ]);
  rows.push([
    'errors',
    `${formatCount(r.errors)}${r.firstErrors.length ? `: ${r.firstErrors.join('; ')}` : ''}`,
  ]);
  return formatSummary(`gridhub simulate --load: ${reason} after ${formatClock(elapsedMs)}`, rows);
}
