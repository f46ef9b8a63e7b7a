/**
 * The command line of `gridhub simulate`: its usage text, its flags read into SimulateArgs (with the
 * environment's defaults), and the admin token's lookup.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../kernel/index.ts';
import { MIN_EVERY_MS } from './fleet-file.ts';
import { LOAD_KEYS } from './load-payload.ts';
import type { ProgressOut } from './progress.ts';

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

export class UsageError extends Error {}

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

export const describeSignal = (s: string) => (s === 'SIGINT' ? 'Ctrl-C' : s);
