/**
 * What every device model shares: the model contract, the physical ranges, time of day in the device's
 * zone, and the maths helpers the families are built from (see models/index.ts).
 */
import { zoneFormatter } from '../../kernel/index.ts';
import { Random } from '../random.ts';

export type Profile = 'waste-container' | 'air-quality' | 'noise-level' | 'tower-crane';
/** Every simulated profile: the numeric models of `MODELS` and the camera (`cameraModel`). */
export type SimProfile = Profile | 'camera';
export const SIM_PROFILES: readonly SimProfile[] = [
  'waste-container',
  'air-quality',
  'noise-level',
  'tower-crane',
  'camera',
];
export type Readings = Record<string, number>;

export const DEFAULT_TIME_ZONE = 'Asia/Shanghai';

/** Physical range of every key the models emit (the hub's validation uses the same bounds). */
export const PHYSICAL_RANGES: Record<string, readonly [number, number]> = {
  fillingLevel: [0, 1],
  temperature: [-40, 120],
  tilt: [0, 180],
  batteryLevel: [0, 1],
  pm10: [0, 2000],
  pm25: [0, 2000],
  windSpeed: [0, 75],
  windDirection: [0, 360],
  relativeHumidity: [0, 1],
  LAeq: [20, 140],
  LAmax: [20, 140],
  loadMomentRatio: [0, 2],
  load: [0, 100],
  radius: [0, 100],
  height: [0, 300],
  slewAngle: [0, 360],
  rssi: [-150, 0],
};

export interface BaseState {
  /** Time (ms since epoch) the state is at. */
  ts: number;
  /** PRNG state (see Random.fromState). */
  rng: number;
  /** IANA time zone for time-of-day behaviour. */
  tz: string;
}

export interface ModelOptions {
  timeZone?: string;
}

/** `Init` = fields of the state that `init` accepts as overrides (e.g. `{ fill: 0.95 }`). */
export interface Model<S extends BaseState> {
  readonly profile: Profile;
  /** The keys of `values`. */
  readonly keys: readonly string[];
  init(seed: number, ts: number, opts?: ModelOptions & Partial<Omit<S, keyof BaseState>>): S;
  step(state: S, ts: number): { state: S; values: Readings };
}

// ---------------------------------------------------------------------------------------------
// Time helpers

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
export const MAX_SUBSTEP = MINUTE;
export const MAX_GAP = DAY;
const OFFSET_BUCKET = 15 * MINUTE;

export interface LocalTime {
  /** Fractional local hour, 0 ≤ hour < 24. */
  hour: number;
  /** Day of week, 0 = Sunday. */
  dow: number;
  /** Local date, YYYY-MM-DD. */
  day: string;
}

const offsets = new Map<string, Map<number, number>>();

export const formatter = zoneFormatter;

/** UTC offset (ms) of a zone, evaluated at the start of the 15-minute bucket of `ts` (cached). */
function zoneOffset(ts: number, tz: string): number {
  let cache = offsets.get(tz);
  if (!cache) {
    cache = new Map();
    offsets.set(tz, cache);
  }
  const bucket = Math.floor(ts / OFFSET_BUCKET);
  let off = cache.get(bucket);
  if (off === undefined) {
    const at = bucket * OFFSET_BUCKET;
    const p: Record<string, number> = {};
    for (const part of formatter(tz).formatToParts(new Date(at))) {
      if (part.type !== 'literal') p[part.type] = Number(part.value);
    }
    off =
      Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0, p.second ?? 0) -
      at;
    if (cache.size > 50_000) cache.clear();
    cache.set(bucket, off);
  }
  return off;
}

/** Local wall-clock time of `ts` in `tz`. */
export function localTime(ts: number, tz = DEFAULT_TIME_ZONE): LocalTime {
  const d = new Date(ts + zoneOffset(ts, tz));
  return {
    hour: d.getUTCHours() + d.getUTCMinutes() / 60 + d.getUTCSeconds() / 3600 + d.getUTCMilliseconds() / HOUR,
    dow: d.getUTCDay(),
    day: d.toISOString().slice(0, 10),
  };
}

/** True when local hour `at` lies in (h0, h1], the hours of two instants less than a day apart. */
export function crossed(h0: number, h1: number, at: number): boolean {
  return h1 >= h0 ? h0 < at && at <= h1 : at > h0 || at <= h1;
}

// ---------------------------------------------------------------------------------------------
// Maths helpers

export const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
export const roundTo = (x: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};
export const gauss = (x: number, mu: number, sigma: number) => Math.exp(-0.5 * ((x - mu) / sigma) ** 2);
/** 0 → 1 smoothly on [0, 1]. */
export const smooth = (x: number) => {
  const t = clamp(x, 0, 1);
  return t * t * (3 - 2 * t);
};
/** 0 → 1 → 0: ramps over `ramp` hours at both ends of [from, to). */
export const ramped = (h: number, from: number, to: number, ramp = 0.5) =>
  Math.min(smooth((h - from + ramp / 2) / ramp), smooth((to - h + ramp / 2) / ramp));

/** Ornstein–Uhlenbeck step (exact): mean reversion over `tau`, stationary s.d. `sd`. */
export function ou(rnd: Random, x: number, mean: number, sd: number, tau: number, dt: number): number {
  const a = Math.exp(-dt / tau);
  return mean + (x - mean) * a + sd * Math.sqrt(1 - a * a) * rnd.normal();
}

/** Whether an event of `perHour` rate happens within `dt` ms. */
export const happens = (rnd: Random, perHour: number, dt: number) =>
  rnd.chance(1 - Math.exp((-perHour * dt) / HOUR));

/** Approaches `target` with time constant `tau`. */
export const relax = (x: number, target: number, tau: number, dt: number) =>
  target + (x - target) * Math.exp(-dt / tau);

export const wrap360 = (a: number) => ((a % 360) + 360) % 360;
/** An angle rounded to `digits` in [0, 360). */
export const angleOut = (a: number, digits: number) => {
  const r = roundTo(wrap360(a), digits);
  return r >= 360 ? 0 : r;
};

/** Ambient air temperature (°C) by local hour: coolest before dawn, warmest mid-afternoon. */
export const ambient = (mean: number, hour: number) =>
  mean + 5 * Math.cos((2 * Math.PI * (hour - 14.5)) / 24);

export function out(values: Readings): Readings {
  for (const [k, v] of Object.entries(values)) {
    const r = PHYSICAL_RANGES[k];
    if (r) values[k] = clamp(v, r[0], r[1]);
  }
  return values;
}

/** Shared stepping: sub-steps of ≤ 1 min from state.ts to ts, then a reading at ts. */
export function makeStep<S extends BaseState>(
  sub: (s: S, rnd: Random, t0: number, t1: number) => void,
  read: (s: S, rnd: Random, ts: number) => Readings,
): (state: S, ts: number) => { state: S; values: Readings } {
  return (state, ts) => {
    const s = { ...state };
    const rnd = Random.fromState(s.rng);
    let t = Math.max(s.ts, ts - MAX_GAP);
    while (t < ts) {
      const t1 = Math.min(ts, t + MAX_SUBSTEP);
      sub(s, rnd, t, t1);
      t = t1;
    }
    s.ts = Math.max(s.ts, ts);
    const values = out(read(s, rnd, ts));
    s.rng = rnd.state;
    return { state: s, values };
  };
}

export function makeInit<S extends BaseState>(
  defaults: (rnd: Random, ts: number, tz: string) => Omit<S, keyof BaseState>,
): Model<S>['init'] {
  return (seed, ts, opts = {}) => {
    const { timeZone, ...overrides } = opts;
    const tz = timeZone ?? DEFAULT_TIME_ZONE;
    formatter(tz); // throws a RangeError now for an unknown zone
    const rnd = new Random(seed);
    const s = { ...defaults(rnd, ts, tz), ts, tz } as S;
    for (const [k, v] of Object.entries(overrides))
      if (v !== undefined) (s as Record<string, unknown>)[k] = v;
    s.rng = rnd.state;
    return s;
  };
}
