/**
 * The video-analytics camera (`camera`): detections by scene and time of day, and a status report now and
 * then.
 */
import { CAMERA_EVENT_TYPES } from '../../domain/index.ts';
import { Random } from '../random.ts';
import { binUsage } from './bin.ts';
import { siteActivity } from './dust.ts';
import {
  type BaseState,
  clamp,
  DEFAULT_TIME_ZONE,
  formatter,
  gauss,
  HOUR,
  happens,
  localTime,
  MAX_GAP,
  MAX_SUBSTEP,
  MINUTE,
  type ModelOptions,
  ou,
  out,
  type Readings,
  ramped,
  relax,
  roundTo,
} from './model.ts';

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
