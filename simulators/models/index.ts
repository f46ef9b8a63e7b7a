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

import { binModel } from './bin.ts';
import { craneModel } from './crane.ts';
import { dustModel } from './dust.ts';
import type { BaseState, Model, Profile } from './model.ts';
import { noiseModel } from './noise.ts';

/** The models by profile. */
export const MODELS = {
  'waste-container': binModel,
  'air-quality': dustModel,
  'noise-level': noiseModel,
  'tower-crane': craneModel,
} as const satisfies Record<Profile, Model<BaseState>>;

export { type BinState, binModel, binUsage } from './bin.ts';
export {
  CAMERA_EVENT_TYPES,
  CAMERA_SCENES,
  type CameraEvent,
  type CameraEventType,
  type CameraModel,
  type CameraModelOptions,
  type CameraScene,
  type CameraState,
  type CameraStep,
  cameraModel,
  cameraRate,
} from './camera.ts';
export { CRANE_WIND_STOP, type CraneState, craneModel, ratedLoad } from './crane.ts';
export { type DustState, dustModel, siteActivity } from './dust.ts';
export {
  type BaseState,
  DEFAULT_TIME_ZONE,
  type LocalTime,
  localTime,
  type Model,
  type ModelOptions,
  PHYSICAL_RANGES,
  type Profile,
  type Readings,
  SIM_PROFILES,
  type SimProfile,
} from './model.ts';
export { type NoiseState, noiseModel, noiseTarget } from './noise.ts';
