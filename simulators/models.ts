/**
 * Pure physics-ish models of the simulated devices. A model is `init(seed, ts, opts)` → a plain,
 * serialisable state, and `step(state, ts)` → `{ state, values }`: the state advanced to `ts` (the
 * input is never mutated) and the readings at `ts`, with the contract's key names, inside the
 * physical ranges of `PHYSICAL_RANGES`. Same seed + same sequence of timestamps ⇒ same readings.
 *
 * Time of day matters (meal times, working hours, day/night noise), so every state carries an IANA
 * time zone (default Asia/Shanghai). Internally a step is cut into sub-steps of at most a minute and
 * random events happen at rates per hour, so the statistics do not depend on the step size; a gap
 * longer than a day is skipped (the device was dormant) and only its last day is simulated.
 *
 * The camera (`cameraModel`) is the one model whose output is not only numbers: a step also yields
 * the detections (`{type, confidence, snapshot}`) that happened since the previous step, each at its
 * own time, and a status report (`batteryLevel`, `rssi`) every ~10 minutes.
 */
import { CAMERA_EVENT_TYPES } from '../domain/index.ts';
import { zoneFormatter } from '../kernel/index.ts';
import { Random } from './random.ts';

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

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const MAX_SUBSTEP = MINUTE;
const MAX_GAP = DAY;
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

const formatter = zoneFormatter;

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
function crossed(h0: number, h1: number, at: number): boolean {
  return h1 >= h0 ? h0 < at && at <= h1 : at > h0 || at <= h1;
}

// ---------------------------------------------------------------------------------------------
// Maths helpers

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const roundTo = (x: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};
const gauss = (x: number, mu: number, sigma: number) => Math.exp(-0.5 * ((x - mu) / sigma) ** 2);
/** 0 → 1 smoothly on [0, 1]. */
const smooth = (x: number) => {
  const t = clamp(x, 0, 1);
  return t * t * (3 - 2 * t);
};
/** 0 → 1 → 0: ramps over `ramp` hours at both ends of [from, to). */
const ramped = (h: number, from: number, to: number, ramp = 0.5) =>
  Math.min(smooth((h - from + ramp / 2) / ramp), smooth((to - h + ramp / 2) / ramp));

/** Ornstein–Uhlenbeck step (exact): mean reversion over `tau`, stationary s.d. `sd`. */
function ou(rnd: Random, x: number, mean: number, sd: number, tau: number, dt: number): number {
  const a = Math.exp(-dt / tau);
  return mean + (x - mean) * a + sd * Math.sqrt(1 - a * a) * rnd.normal();
}

/** Whether an event of `perHour` rate happens within `dt` ms. */
const happens = (rnd: Random, perHour: number, dt: number) =>
  rnd.chance(1 - Math.exp((-perHour * dt) / HOUR));

/** Approaches `target` with time constant `tau`. */
const relax = (x: number, target: number, tau: number, dt: number) =>
  target + (x - target) * Math.exp(-dt / tau);

const wrap360 = (a: number) => ((a % 360) + 360) % 360;
/** An angle rounded to `digits` in [0, 360). */
const angleOut = (a: number, digits: number) => {
  const r = roundTo(wrap360(a), digits);
  return r >= 360 ? 0 : r;
};

/** Ambient air temperature (°C) by local hour: coolest before dawn, warmest mid-afternoon. */
const ambient = (mean: number, hour: number) => mean + 5 * Math.cos((2 * Math.PI * (hour - 14.5)) / 24);

function out(values: Readings): Readings {
  for (const [k, v] of Object.entries(values)) {
    const r = PHYSICAL_RANGES[k];
    if (r) values[k] = clamp(v, r[0], r[1]);
  }
  return values;
}

/** Shared stepping: sub-steps of ≤ 1 min from state.ts to ts, then a reading at ts. */
function makeStep<S extends BaseState>(
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

function makeInit<S extends BaseState>(
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

// ---------------------------------------------------------------------------------------------
// Waste bin (waste-container)

export interface BinState extends BaseState {
  /** True filling level 0–1. */
  fill: number;
  /** Mean rise of the filling level per day. */
  fillPerDay: number;
  /** Hours after 06:00 and 18:00 when the collection truck reaches this bin. */
  roundOffsetH: number;
  /** Daily mean ambient temperature. */
  ambientMean: number;
  tempDev: number;
  /** Excess temperature from a fire. */
  fireHeat: number;
  fireUntil: number;
  firePeak: number;
  baseTilt: number;
  tippedTilt: number;
  tippedUntil: number;
  battery: number;
  drainPerDay: number;
  lastCollectedAt: number;
}

/** Usage by local hour (mean 1 over the day): quiet at night, peaks at meal times. */
const usageRaw = (h: number) =>
  0.12 +
  0.9 * ramped(h, 7, 22, 1) +
  1.6 * gauss(h, 7.6, 0.6) +
  2.4 * gauss(h, 12, 0.7) +
  2.4 * gauss(h, 18.3, 0.9);
const USAGE_MEAN = (() => {
  let sum = 0;
  for (let m = 0; m < 1440; m++) sum += usageRaw(m / 60);
  return sum / 1440;
})();
export const binUsage = (hour: number) => usageRaw(hour) / USAGE_MEAN;

const BIN_ROUNDS = [6, 18];
const BIN_FIRE_PER_HOUR = 1 / (60 * 24);
const BIN_TIP_PER_HOUR = 1 / (30 * 24);

export const binModel: Model<BinState> = {
  profile: 'waste-container',
  keys: ['fillingLevel', 'temperature', 'tilt', 'batteryLevel'],
  init: makeInit<BinState>((rnd, ts) => ({
    fill: rnd.range(0.05, 0.5),
    fillPerDay: rnd.range(0.7, 2.0),
    roundOffsetH: rnd.range(0, 1.5),
    ambientMean: rnd.range(15, 19),
    tempDev: rnd.normal(0, 0.8),
    fireHeat: 0,
    fireUntil: 0,
    firePeak: 0,
    baseTilt: rnd.range(0.3, 3),
    tippedTilt: 0,
    tippedUntil: 0,
    battery: rnd.range(0.55, 1),
    drainPerDay: rnd.range(0.002, 0.006),
    lastCollectedAt: ts,
  })),
  step: makeStep<BinState>(
    (s, rnd, t0, t1) => {
      const dt = t1 - t0;
      const h0 = localTime(t0, s.tz).hour;
      const h1 = localTime(t1, s.tz).hour;
      const collect = () => {
        s.fill = rnd.range(0.02, 0.08);
        s.tippedUntil = 0; // the crew puts it back up
        s.fireUntil = Math.min(s.fireUntil, t1); // …and puts a fire out
        s.lastCollectedAt = t1;
      };
      // Use: busier at meal times, noisy, sometimes a bulk dump; an overflowing bin stays at 1.
      s.fill += ((s.fillPerDay * binUsage(h1) * dt) / DAY) * Math.exp(rnd.normal(0, 0.4) - 0.08);
      if (h1 >= 7 && h1 < 21 && happens(rnd, 0.08, dt)) s.fill += rnd.range(0.05, 0.15);
      s.fill = clamp(s.fill, 0, 1);
      // Collection rounds (the evening one is sometimes missed), and on-demand pick-ups of full bins.
      for (const [i, round] of BIN_ROUNDS.entries()) {
        if (crossed(h0, h1, round + s.roundOffsetH) && (i === 0 || !rnd.chance(0.04))) collect();
      }
      if (s.fill > 0.9 && h1 >= 7 && h1 < 21 && happens(rnd, 0.25, dt)) collect();
      // Temperature: ambient + a slow wander, plus the rare fire.
      s.tempDev = ou(rnd, s.tempDev, 0, 0.8, HOUR, dt);
      if (s.fireUntil <= t0 && happens(rnd, BIN_FIRE_PER_HOUR, dt)) {
        s.fireUntil = t1 + rnd.range(15, 45) * MINUTE;
        s.firePeak = rnd.range(65, 105) - ambient(s.ambientMean, h1);
      }
      s.fireHeat =
        s.fireUntil > t1
          ? relax(s.fireHeat, s.firePeak, 3 * MINUTE, dt)
          : relax(s.fireHeat, 0, 15 * MINUTE, dt);
      // Tip-over: lies on its side until the next round or a grid worker rights it.
      if (s.tippedUntil <= t0 && happens(rnd, BIN_TIP_PER_HOUR, dt)) {
        s.tippedUntil = t1 + rnd.range(1, 5) * HOUR;
        s.tippedTilt = rnd.range(75, 100);
      }
      // Battery: slow drain, replaced by maintenance when nearly flat.
      s.battery = Math.max(0, s.battery - (s.drainPerDay * dt) / DAY);
      if (s.battery < 0.08 && happens(rnd, 1 / 24, dt)) s.battery = 1;
    },
    (s, rnd, ts) => {
      const tipped = s.tippedUntil > ts;
      return {
        fillingLevel: roundTo(clamp(s.fill + rnd.normal(0, 0.008), 0, 1), 3),
        // read noise of a digital probe (±0.1 °C): a 5 s series must not look like a 10 °C/min rise
        temperature: roundTo(
          ambient(s.ambientMean, localTime(ts, s.tz).hour) + 1 + s.tempDev + s.fireHeat + rnd.normal(0, 0.04),
          1,
        ),
        tilt: roundTo(Math.abs((tipped ? s.tippedTilt : s.baseTilt) + rnd.normal(0, 0.3)), 1),
        batteryLevel: roundTo(s.battery, 3),
      };
    },
  ),
};

// ---------------------------------------------------------------------------------------------
// Site weather (shared by the dust monitor and the crane)

interface Weather {
  /** Site windiness factor. */
  windiness: number;
  /** Slow (synoptic) component of the wind speed. */
  windSynoptic: number;
  wind: number;
  prevailingDir: number;
  dirDev: number;
  /** Strong-wind spell (a front passing) until, and its extra speed. */
  stormUntil: number;
  stormExtra: number;
}

const initWeather = (rnd: Random): Weather => ({
  windiness: rnd.range(0.8, 1.2),
  windSynoptic: rnd.normal(0, 1),
  wind: rnd.range(1, 3),
  prevailingDir: rnd.pick([45, 90, 200, 315]),
  dirDev: rnd.normal(0, 30),
  stormUntil: 0,
  stormExtra: 0,
});

/** Advances the wind; `base` is the mean speed at the sensor's height. */
function stepWeather(w: Weather, rnd: Random, t0: number, t1: number, hour: number, base: number): void {
  const dt = t1 - t0;
  w.windSynoptic = ou(rnd, w.windSynoptic, 0, 1, 12 * HOUR, dt);
  if (w.stormUntil <= t0 && happens(rnd, 1 / (10 * 24), dt)) {
    w.stormUntil = t1 + rnd.range(2, 8) * HOUR;
    w.stormExtra = rnd.range(1.2, 2.6) * base;
  }
  const storm = w.stormUntil > t1 ? w.stormExtra : 0;
  const mean = Math.max(0.3, w.windiness * base * (1 + 0.4 * Math.cos((2 * Math.PI * (hour - 15)) / 24)));
  w.wind = Math.max(0, ou(rnd, w.wind, mean + w.windSynoptic + storm, 0.25 * mean + 0.3, 20 * MINUTE, dt));
  w.dirDev = ou(rnd, w.dirDev, 0, 40, 2 * HOUR, dt);
}

/** A reading of the wind speed: the mean plus sometimes a gust. */
const windReading = (w: Weather, rnd: Random) =>
  roundTo(w.wind * (rnd.chance(0.08) ? rnd.range(1.15, 1.45) : 1) + Math.abs(rnd.normal(0, 0.2)), 1);

// ---------------------------------------------------------------------------------------------
// Dust monitor (air-quality)

export interface DustState extends BaseState, Weather {
  /** Urban background PM10 (µg/m³), slowly varying around `backgroundMean`. */
  background: number;
  backgroundMean: number;
  /** The site's own contribution at full activity. */
  siteFactor: number;
  rhDev: number;
  /** PM2.5 / PM10, 0.4–0.6. */
  ratio: number;
  episodeStart: number;
  episodeEnd: number;
  episodeExtra: number;
  /** Smoothed PM10 (µg/m³). */
  pm10: number;
}

/** Site activity (0–1) by local hour and day of week: working hours 07:00–18:00, lunch dip. */
export function siteActivity(hour: number, dow: number): number {
  const work = ramped(hour, 7, 18, 0.5) * (1 - 0.4 * gauss(hour, 12.5, 0.4));
  const day = dow === 0 ? 0.5 : dow === 6 ? 0.85 : 1;
  return 0.03 + 0.97 * work * day;
}

const relativeHumidityMean = (hour: number) => 0.72 + 0.15 * Math.cos((2 * Math.PI * (hour - 4.5)) / 24);

export const dustModel: Model<DustState> = {
  profile: 'air-quality',
  keys: ['pm10', 'pm25', 'windSpeed', 'windDirection', 'relativeHumidity'],
  init: makeInit<DustState>((rnd) => {
    const backgroundMean = rnd.range(25, 40);
    return {
      ...initWeather(rnd),
      background: backgroundMean,
      backgroundMean,
      siteFactor: rnd.range(15, 30),
      rhDev: rnd.normal(0, 0.05),
      ratio: rnd.range(0.45, 0.55),
      episodeStart: 0,
      episodeEnd: 0,
      episodeExtra: 0,
      pm10: backgroundMean,
    };
  }),
  step: makeStep<DustState>(
    (s, rnd, t0, t1) => {
      const dt = t1 - t0;
      const lt = localTime(t1, s.tz);
      stepWeather(s, rnd, t0, t1, lt.hour, 2);
      s.background = ou(rnd, s.background, s.backgroundMean, 10, 6 * HOUR, dt);
      s.rhDev = ou(rnd, s.rhDev, 0, 0.07, 3 * HOUR, dt);
      s.ratio = clamp(ou(rnd, s.ratio, 0.5, 0.03, 2 * HOUR, dt), 0.42, 0.58);
      const activity = siteActivity(lt.hour, lt.dow);
      // Episodes (earthworks, a muck truck, a demolition): mostly while the site works.
      if (s.episodeEnd <= t0 && happens(rnd, activity > 0.5 ? 0.15 : 0.01, dt)) {
        s.episodeStart = t1;
        s.episodeEnd = t1 + rnd.range(15, 60) * MINUTE;
        s.episodeExtra = rnd.range(60, 150);
      }
      const rh = clamp(relativeHumidityMean(lt.hour) + s.rhDev, 0.15, 1);
      const wetness = 1 - 0.5 * clamp((rh - 0.85) / 0.15, 0, 1); // damp air keeps dust down
      const dilution = 1.6 / (1 + 0.3 * s.wind);
      const resuspension = activity * Math.max(0, s.wind - 7) * 6;
      const target =
        (s.background + activity * s.siteFactor * dilution + resuspension) * wetness +
        episodeLevel(s, t1) * wetness;
      s.pm10 = relax(s.pm10, target, 4 * MINUTE, dt);
    },
    (s, rnd, ts) => {
      const lt = localTime(ts, s.tz);
      const pm10 = Math.max(0, s.pm10 * (1 + rnd.normal(0, 0.04)));
      // Coarse dust dominates an episode: a lower PM2.5 share.
      const share = s.pm10 > 0 ? episodeLevel(s, ts) / s.pm10 : 0;
      const ratio = clamp(s.ratio - 0.08 * clamp(share, 0, 1) + rnd.normal(0, 0.01), 0.4, 0.6);
      return {
        pm10: roundTo(pm10, 1),
        pm25: roundTo(pm10 * ratio, 1),
        windSpeed: windReading(s, rnd),
        windDirection: angleOut(s.prevailingDir + s.dirDev + rnd.normal(0, 8), 0),
        relativeHumidity: roundTo(
          clamp(relativeHumidityMean(lt.hour) + s.rhDev + rnd.normal(0, 0.01), 0.15, 1),
          2,
        ),
      };
    },
  ),
};

/** Extra PM10 of the current episode at `t` (rises and falls over 5 minutes). */
function episodeLevel(s: DustState, t: number): number {
  if (t < s.episodeStart || t >= s.episodeEnd + 5 * MINUTE) return 0;
  const up = smooth((t - s.episodeStart) / (5 * MINUTE));
  const down = 1 - smooth((t - s.episodeEnd) / (5 * MINUTE));
  return s.episodeExtra * Math.min(up, down);
}

// ---------------------------------------------------------------------------------------------
// Noise monitor (noise-level)

export interface NoiseState extends BaseState {
  /** LAeq of normal daytime work at the boundary, dB(A). */
  workLevel: number;
  /** Current LAeq (follows the target). */
  level: number;
  dev: number;
  nightWorkUntil: number;
  nightWorkLevel: number;
  loudUntil: number;
  loudExtra: number;
}

/** Target LAeq (dB(A)) by local hour and day of week, for a site whose work level is `work`. */
export function noiseTarget(hour: number, dow: number, work: number): number {
  const ambientLevel = 46.5 + 6.5 * ramped(hour, 6, 22, 1); // 46.5 at night, 53 by day (traffic)
  const working = ramped(hour, 7, 12, 0.5) + ramped(hour, 13.5, 18, 0.5);
  const dayAdj = dow === 0 ? -5 : dow === 6 ? -1.5 : 0;
  const workEnergy = working * 10 ** ((work + dayAdj) / 10);
  return 10 * Math.log10(10 ** (ambientLevel / 10) + workEnergy);
}

export const noiseModel: Model<NoiseState> = {
  profile: 'noise-level',
  keys: ['LAeq', 'LAmax'],
  init: makeInit<NoiseState>((rnd, ts, tz) => {
    const workLevel = rnd.range(61, 66);
    const lt = localTime(ts, tz);
    return {
      workLevel,
      level: noiseTarget(lt.hour, lt.dow, workLevel),
      dev: 0,
      nightWorkUntil: 0,
      nightWorkLevel: 0,
      loudUntil: 0,
      loudExtra: 0,
    };
  }),
  step: makeStep<NoiseState>(
    (s, rnd, t0, t1) => {
      const dt = t1 - t0;
      const lt = localTime(t1, s.tz);
      const night = lt.hour >= 22 || lt.hour < 6;
      const working = siteActivity(lt.hour, lt.dow) > 0.5;
      // Rare night work (a concrete pour): a few percent of nights, 1–3 hours.
      if (night && lt.hour >= 22.5 && s.nightWorkUntil <= t0 && happens(rnd, 0.012, dt)) {
        s.nightWorkUntil = t1 + rnd.range(1, 3) * HOUR;
        s.nightWorkLevel = rnd.range(58, 64);
      }
      // Loud daytime work (piling, breaking): sometimes over the 70 dB(A) day limit.
      if (working && s.loudUntil <= t0 && happens(rnd, 0.05, dt)) {
        s.loudUntil = t1 + rnd.range(20, 60) * MINUTE;
        s.loudExtra = rnd.range(4, 9);
      }
      let target = noiseTarget(lt.hour, lt.dow, s.workLevel);
      if (s.nightWorkUntil > t1) target = Math.max(target, s.nightWorkLevel);
      if (s.loudUntil > t1 && working) target += s.loudExtra;
      s.level = relax(s.level, target, 5 * MINUTE, dt);
      s.dev = ou(rnd, s.dev, 0, 1.2, 10 * MINUTE, dt);
    },
    (s, rnd) => {
      const laeq = clamp(s.level + s.dev + rnd.normal(0, 0.4), 20, 140);
      // LAmax: the loudest moment of the interval, a few dB above LAeq, rarely 20 more.
      const lamax = Math.min(140, laeq + 3 + Math.min(25, -Math.log(1 - rnd.next()) * 2.5));
      const LAeq = roundTo(laeq, 1);
      return { LAeq, LAmax: Math.max(LAeq, roundTo(lamax, 1)) };
    },
  ),
};

// ---------------------------------------------------------------------------------------------
// Tower crane (tower-crane)

export interface CraneState extends BaseState, Weather {
  jib: number;
  /** Hook height under the jib (m). */
  towerHeight: number;
  /** Rated load at short radius (t) and at the jib tip (t). */
  maxLoad: number;
  tipLoad: number;
  baseTilt: number;
  /** The current move: from (r0, a0, h0) to a pick at (r1, a1, h1), hoist to hTop, slew to (r2, a2), lower to h2. */
  cycleStart: number;
  cycleEnd: number;
  /** When the next move may start. */
  nextStart: number;
  load: number;
  r0: number;
  a0: number;
  h0: number;
  r1: number;
  a1: number;
  h1: number;
  hTop: number;
  r2: number;
  a2: number;
  h2: number;
  parked: boolean;
}

/** Rated load (t) at a radius: the maximum load up to the knee, then constant moment to the tip. */
export function ratedLoad(s: Pick<CraneState, 'jib' | 'maxLoad' | 'tipLoad'>, radius: number): number {
  return Math.min(s.maxLoad, (s.tipLoad * s.jib) / Math.max(radius, 1));
}

export const CRANE_WIND_STOP = 13.8;

interface Pose {
  radius: number;
  slew: number;
  height: number;
  load: number;
  /** Dynamic factor (hoisting starts, load swings). */
  dynamic: number;
}

/** Shortest signed difference b − a in degrees. */
const angleDiff = (a: number, b: number) => ((((b - a) % 360) + 540) % 360) - 180;

/** Pose of the crane at `t` along its current move. */
function cranePose(s: CraneState, t: number): Pose {
  const d = Math.max(1, s.cycleEnd - s.cycleStart);
  const f = clamp((t - s.cycleStart) / d, 0, 1);
  const seg = (from: number, to: number) => smooth((f - from) / (to - from));
  const lerp = (a: number, b: number, x: number) => a + (b - a) * x;
  // 0–0.25 travel empty to the pick; 0.25–0.35 rig; 0.35–0.5 hoist; 0.5–0.75 slew + trolley;
  // 0.75–0.88 lower; 0.88–1 unhook.
  const travel = seg(0, 0.25);
  const slewOut = seg(0.5, 0.75);
  let radius = lerp(s.r0, s.r1, travel);
  let slew = s.a0 + angleDiff(s.a0, s.a1) * travel;
  let height = lerp(s.h0, s.h1, travel);
  if (f >= 0.35) height = lerp(s.h1, s.hTop, seg(0.35, 0.5));
  if (f >= 0.5) {
    radius = lerp(s.r1, s.r2, slewOut);
    slew = s.a1 + angleDiff(s.a1, s.a2) * slewOut;
  }
  if (f >= 0.75) height = lerp(s.hTop, s.h2, seg(0.75, 0.88));
  const attached = seg(0.3, 0.35) * (1 - seg(0.9, 0.95));
  const dynamic = f >= 0.35 && f < 0.4 ? 1.03 : 1;
  return { radius, slew: wrap360(slew), height, load: s.load * attached, dynamic };
}

/** Whether the crane works at this local time (07:00–12:00 and 13:00–18:00). */
const craneWorking = (hour: number) => (hour >= 7 && hour < 12) || (hour >= 13 && hour < 18);

export const craneModel: Model<CraneState> = {
  profile: 'tower-crane',
  keys: ['loadMomentRatio', 'load', 'radius', 'height', 'slewAngle', 'windSpeed', 'tilt'],
  init: makeInit<CraneState>((rnd, ts) => {
    const jib = Math.round(rnd.range(50, 60));
    const towerHeight = Math.round(rnd.range(40, 70));
    const a = rnd.range(0, 360);
    return {
      ...initWeather(rnd),
      jib,
      towerHeight,
      maxLoad: rnd.pick([6, 8, 10]),
      tipLoad: roundTo(rnd.range(1.2, 1.8), 1),
      baseTilt: rnd.range(0.05, 0.2),
      cycleStart: ts,
      cycleEnd: ts,
      nextStart: ts,
      load: 0,
      r0: 10,
      a0: a,
      h0: towerHeight - 3,
      r1: 10,
      a1: a,
      h1: towerHeight - 3,
      hTop: towerHeight - 3,
      r2: 10,
      a2: a,
      h2: towerHeight - 3,
      parked: true,
    };
  }),
  step: makeStep<CraneState>(
    (s, rnd, t0, t1) => {
      const lt = localTime(t1, s.tz);
      stepWeather(s, rnd, t0, t1, lt.hour, 4);
      if (t1 < s.nextStart || t1 < s.cycleEnd) return;
      const here = cranePose(s, t1);
      const from = { r0: here.radius, a0: here.slew, h0: here.height };
      if (craneWorking(lt.hour) && s.wind < CRANE_WIND_STOP) {
        // A lift: pick somewhere, put it down somewhere else.
        const r1 = rnd.range(5, s.jib - 2);
        const r2 = rnd.range(5, s.jib - 2);
        const h1 = rnd.chance(0.7) ? rnd.range(0.5, 2) : rnd.range(3, s.towerHeight * 0.6);
        const h2 = rnd.range(3, s.towerHeight - 15);
        const u = rnd.chance(0.03)
          ? rnd.range(0.9, 1.05)
          : rnd.chance(0.06)
            ? rnd.range(0.85, 0.9)
            : 0.3 + 0.55 * rnd.next() ** 1.3;
        const duration = rnd.range(3, 6) * MINUTE;
        Object.assign(s, from, {
          r1,
          a1: rnd.range(0, 360),
          h1,
          hTop: Math.min(s.towerHeight - 2, Math.max(h1, h2) + rnd.range(5, 12)),
          r2,
          a2: rnd.range(0, 360),
          h2,
          load: roundTo(u * Math.min(ratedLoad(s, r1), ratedLoad(s, r2)), 2),
          cycleStart: t1,
          cycleEnd: t1 + duration,
          nextStart: t1 + duration + rnd.range(0.5, 4) * MINUTE,
          parked: false,
        });
      } else if (!s.parked) {
        // Park: trolley in, hook up, no load; then the jib weathervanes with the wind.
        const park = { r: rnd.range(8, 12), h: s.towerHeight - 3 };
        Object.assign(s, from, {
          r1: park.r,
          a1: from.a0,
          h1: park.h,
          hTop: park.h,
          r2: park.r,
          a2: from.a0,
          h2: park.h,
          load: 0,
          cycleStart: t1,
          cycleEnd: t1 + 2 * MINUTE,
          nextStart: t1 + 5 * MINUTE,
          parked: true,
        });
      } else {
        // Parked: the free-slewing jib turns slowly downwind.
        const downwind = wrap360(s.prevailingDir + s.dirDev + 180);
        const a = wrap360(here.slew + angleDiff(here.slew, downwind) * 0.5);
        Object.assign(s, from, {
          r1: here.radius,
          a1: a,
          h1: here.height,
          hTop: here.height,
          r2: here.radius,
          a2: a,
          h2: here.height,
          load: 0,
          cycleStart: t1,
          cycleEnd: t1 + 4 * MINUTE,
          nextStart: t1 + 5 * MINUTE,
        });
      }
    },
    (s, rnd, ts) => {
      const p = cranePose(s, ts);
      const load = p.load > 0 ? Math.max(0, p.load * p.dynamic + rnd.normal(0, 0.01)) : 0;
      const radius = clamp(p.radius + rnd.normal(0, 0.05), 0, s.jib);
      const loadOut = roundTo(load, 2);
      const lmr = loadOut / ratedLoad(s, radius);
      return {
        loadMomentRatio: roundTo(lmr, 3),
        load: loadOut,
        radius: roundTo(radius, 1),
        height: roundTo(clamp(p.height + rnd.normal(0, 0.05), 0, s.towerHeight), 1),
        slewAngle: angleOut(p.slew + rnd.normal(0, 0.1), 1),
        windSpeed: windReading(s, rnd),
        tilt: roundTo(Math.abs(s.baseTilt + 0.35 * lmr + 0.02 * s.wind + rnd.normal(0, 0.02)), 2),
      };
    },
  ),
};

/** The models by profile. */
export const MODELS = {
  'waste-container': binModel,
  'air-quality': dustModel,
  'noise-level': noiseModel,
  'tower-crane': craneModel,
} as const satisfies Record<Profile, Model<BaseState>>;

// ---------------------------------------------------------------------------------------------
// Camera (camera): video analytics detections, plus a status report now and then

export { CAMERA_EVENT_TYPES };
export type CameraEventType = (typeof CAMERA_EVENT_TYPES)[number];

/** What the camera watches: a street (vendors, litter, trucks) or a construction site. */
export type CameraScene = 'street' | 'site';
export const CAMERA_SCENES: readonly CameraScene[] = ['street', 'site'];

/** A detection as the contract's `{"event": {...}}` carries it. */
export interface CameraEvent {
  type: CameraEventType;
  /** 0–1, mostly 0.6–0.99. */
  confidence: number;
  snapshot: string;
}

export interface CameraState extends BaseState {
  scene: CameraScene;
  /** Snapshot URLs are `${snapshotBase}/${ts}.jpg`. */
  snapshotBase: string;
  /** How busy this camera's view is, per type (multiplies the base rates). */
  busy: Record<CameraEventType, number>;
  /** Detection quality (0.85–1): a poorer camera reports lower confidences. */
  quality: number;
  /** The situation of each type on view until (ms), and when it is detected again. */
  until: Record<CameraEventType, number>;
  nextReport: Record<CameraEventType, number>;
  /** Growth of a fire (0–1), for rising confidences. */
  fire: number;
  /** Solar-charged battery 0–1. */
  battery: number;
  /** Panel size: charge per hour at full sun. */
  solar: number;
  /** Mean and current signal strength (dBm). */
  rssiMean: number;
  rssi: number;
  /** A status report (batteryLevel, rssi) every this many ms, and the last one. */
  statusEveryMs: number;
  lastStatusAt: number;
}

/** Events per hour by type: how often a situation *starts* in view of a typical camera. */
export function cameraRate(type: CameraEventType, scene: CameraScene, hour: number, dow: number): number {
  const weekend = dow === 0 || dow === 6;
  if (scene === 'street') {
    switch (type) {
      case 'street_vending':
        // some all day, more at breakfast, lunch, the evening rush and the night market
        return (
          0.04 +
          0.12 * ramped(hour, 9, 21, 1) +
          0.6 * gauss(hour, 7.3, 0.6) +
          0.8 * gauss(hour, 11.9, 0.7) +
          0.9 * gauss(hour, 17.9, 0.8) +
          0.6 * gauss(hour, 21.2, 0.9) * (weekend ? 1.5 : 1)
        );
      case 'exposed_garbage':
        return 0.02 + 0.1 * binUsage(hour);
      case 'uncovered_muck_truck':
        // muck trucks run at night, from the sites to the disposal grounds
        return 0.01 + 0.12 * ramped(hour < 12 ? hour + 24 : hour, 21, 29, 1);
      case 'no_helmet':
        return 0.01 * ramped(hour, 8, 17, 1); // a road repair crew, once in a while
      case 'intrusion':
        return 0.003;
      case 'smoke_fire':
        return 1 / (120 * 24);
    }
  }
  const activity = siteActivity(hour, dow);
  const working = Math.max(0, (activity - 0.03) / 0.97);
  switch (type) {
    case 'street_vending':
      // snack stalls at the site gate when the workers eat
      return 0.01 + 0.25 * gauss(hour, 11.8, 0.5) + 0.15 * gauss(hour, 17.8, 0.5);
    case 'exposed_garbage':
      return 0.01 + 0.04 * working;
    case 'uncovered_muck_truck':
      return 0.02 + 0.3 * ramped(hour < 12 ? hour + 24 : hour, 20, 30, 1) + 0.05 * working;
    case 'no_helmet':
      // only while people work, fewer after lunch (spot checks in the morning)
      return 0.5 * working * (hour < 12 ? 1.2 : 0.8);
    case 'intrusion':
      return working > 0.5 ? 0.002 : 0.02;
    case 'smoke_fire':
      return (0.2 + working) / (60 * 24); // welding sparks, a burning pile
  }
}

/** How long a situation stays in view (min), and how often the analytics re-detect it (min). */
const CAMERA_SITUATION: Record<CameraEventType, { lasts: [number, number]; every: [number, number] }> = {
  street_vending: { lasts: [20, 90], every: [6, 12] },
  exposed_garbage: { lasts: [30, 180], every: [15, 30] },
  uncovered_muck_truck: { lasts: [0.3, 1], every: [5, 5] }, // passes by: one detection
  no_helmet: { lasts: [2, 15], every: [2, 5] },
  intrusion: { lasts: [1, 10], every: [1, 3] },
  smoke_fire: { lasts: [5, 30], every: [1, 2] },
};
/** Spurious detections (a shadow, a plastic bag): per hour, low confidence. */
const CAMERA_FALSE_PER_HOUR = 0.03;
const byType = <T>(f: (t: CameraEventType) => T) =>
  Object.fromEntries(CAMERA_EVENT_TYPES.map((t) => [t, f(t)])) as Record<CameraEventType, T>;

export interface CameraModelOptions extends ModelOptions {
  scene?: CameraScene;
  /** Default `http://camera.local/snapshots/camera`. */
  snapshotBase?: string;
  statusEveryMs?: number;
}

export interface CameraStep {
  state: CameraState;
  /** The status keys when a status report is due (`batteryLevel`, `rssi`), else empty. */
  values: Readings;
  /** Detections since the previous step, oldest first, each at its own time. */
  events: { ts: number; event: CameraEvent }[];
}

/** A camera: like a `Model`, but a step also yields the detections that happened meanwhile. */
export interface CameraModel {
  readonly profile: 'camera';
  readonly keys: readonly string[];
  init(seed: number, ts: number, opts?: CameraModelOptions): CameraState;
  step(state: CameraState, ts: number): CameraStep;
}

function detectionConfidence(rnd: Random, s: CameraState, hour: number, type: CameraEventType): number {
  // Mostly 0.6–0.99, skewed high; worse at night for the street types (infrared, glare).
  const night = hour < 6 || hour >= 19;
  let c = 0.6 + 0.39 * (1 - (1 - rnd.next()) ** 1.7);
  c *= s.quality;
  if (night && type !== 'intrusion' && type !== 'smoke_fire') c -= 0.06;
  if (type === 'smoke_fire') c = 0.55 + 0.44 * s.fire;
  return roundTo(clamp(c, 0.3, 0.99), 2);
}

export const cameraModel: CameraModel = {
  profile: 'camera',
  keys: ['event', 'batteryLevel', 'rssi'],
  init(seed, ts, opts = {}) {
    const tz = opts.timeZone ?? DEFAULT_TIME_ZONE;
    formatter(tz);
    const rnd = new Random(seed);
    const scene = opts.scene ?? (rnd.chance(0.5) ? 'street' : 'site');
    const rssiMean = rnd.range(-95, -60);
    const statusEveryMs = opts.statusEveryMs ?? Math.round(rnd.range(8, 12) * MINUTE);
    const s: CameraState = {
      ts,
      rng: 0,
      tz,
      scene,
      snapshotBase: (opts.snapshotBase ?? 'http://camera.local/snapshots/camera').replace(/\/+$/, ''),
      busy: byType(() => Math.exp(rnd.normal(0, 0.35))),
      quality: rnd.range(0.9, 1),
      until: byType(() => 0),
      nextReport: byType(() => 0),
      fire: 0,
      battery: rnd.range(0.6, 1),
      solar: rnd.range(0.03, 0.06),
      rssiMean,
      rssi: rssiMean,
      statusEveryMs,
      // the first status report comes within one period
      lastStatusAt: ts - Math.round(rnd.range(0, statusEveryMs)),
    };
    s.rng = rnd.state;
    return s;
  },
  step(state, ts) {
    const s: CameraState = {
      ...state,
      busy: { ...state.busy },
      until: { ...state.until },
      nextReport: { ...state.nextReport },
    };
    const rnd = Random.fromState(s.rng);
    const events: { ts: number; event: CameraEvent }[] = [];
    const emit = (at: number, type: CameraEventType, confidence: number) =>
      events.push({
        ts: at,
        event: { type, confidence, snapshot: `${s.snapshotBase}/${at}.jpg` },
      });
    let t = Math.max(s.ts, ts - MAX_GAP);
    while (t < ts) {
      const t1 = Math.min(ts, t + MAX_SUBSTEP);
      const dt = t1 - t;
      const lt = localTime(t1, s.tz);
      for (const type of CAMERA_EVENT_TYPES) {
        const sit = CAMERA_SITUATION[type];
        if (s.until[type] > t) {
          // Still in view: detected again now and then.
          while (s.nextReport[type] <= t1 && s.nextReport[type] < s.until[type]) {
            const at = s.nextReport[type];
            emit(at, type, detectionConfidence(rnd, s, localTime(at, s.tz).hour, type));
            s.nextReport[type] = at + Math.round(rnd.range(sit.every[0], sit.every[1]) * MINUTE);
          }
        } else if (happens(rnd, cameraRate(type, s.scene, lt.hour, lt.dow) * s.busy[type], dt)) {
          const at = Math.min(t1, t + 1 + Math.floor(rnd.next() * dt));
          s.until[type] = at + Math.round(rnd.range(sit.lasts[0], sit.lasts[1]) * MINUTE);
          s.nextReport[type] = at + Math.round(rnd.range(sit.every[0], sit.every[1]) * MINUTE);
          if (type === 'smoke_fire') s.fire = 0.3;
          emit(at, type, detectionConfidence(rnd, s, lt.hour, type));
        }
      }
      // A fire grows while it burns, then dies down.
      s.fire = s.until.smoke_fire > t1 ? relax(s.fire, 1, 5 * MINUTE, dt) : relax(s.fire, 0, 5 * MINUTE, dt);
      if (happens(rnd, CAMERA_FALSE_PER_HOUR, dt)) {
        const type = rnd.pick(CAMERA_EVENT_TYPES);
        const at = Math.min(t1, t + 1 + Math.floor(rnd.next() * dt));
        emit(at, type, roundTo(rnd.range(0.35, 0.62), 2));
      }
      // Battery: a steady draw (the camera and its 4G modem), charged by daylight.
      const daylight = Math.max(0, Math.sin((Math.PI * (lt.hour - 6)) / 13));
      s.battery = clamp(s.battery + ((s.solar * daylight - 0.012) * dt) / HOUR, 0.02, 1);
      s.rssi = ou(rnd, s.rssi, s.rssiMean, 3, 30 * MINUTE, dt);
      t = t1;
    }
    s.ts = Math.max(s.ts, ts);
    events.sort((a, b) => a.ts - b.ts);
    let values: Readings = {};
    if (ts - s.lastStatusAt >= s.statusEveryMs) {
      s.lastStatusAt = ts;
      values = out({
        batteryLevel: roundTo(s.battery, 3),
        rssi: Math.round(clamp(s.rssi + rnd.normal(0, 1.5), -120, -30)),
      });
    }
    s.rng = rnd.state;
    return { state: s, values, events };
  },
};
