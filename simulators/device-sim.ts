/**
 * One simulated device: its model stepped on its own seeded schedule, producing ThingsBoard telemetry
 * records (pure apart from its own state).
 */
import {
  type BaseState,
  type CameraScene,
  type CameraState,
  cameraModel,
  MODELS,
  type Model,
  type SimProfile,
} from './models/index.ts';
import { deriveSeed, Random } from './random.ts';

// ---- simulation ----------------------------------------------------------------------------------

/** One record of ThingsBoard telemetry. */
export interface TelemetryRecord {
  ts: number;
  values: Record<string, unknown>;
}

export interface Sim {
  id: string;
  everyMs: number;
  /** Timestamp of the next record. */
  nextTs: number;
  /** The records at `ts` (advances the model). */
  gen: (ts: number) => TelemetryRecord[];
}

/** A simulated device (its model, its schedule) for a seed; pure apart from its own state. */
export function makeSim(
  spec: { id: string; profile: SimProfile; everyMs: number; scene?: CameraScene },
  seed: number,
  phaseKey: string,
  from: number,
  timeZone: string,
): Sim {
  const every = spec.everyMs;
  // A seeded phase inside the period, on a grid aligned to the period (same seed ⇒ same times).
  const phase = Math.floor(new Random(deriveSeed(seed, `phase:${phaseKey}`)).range(0, every));
  const aligned = Math.floor(from / every) * every;
  let first = aligned + phase;
  if (first < from) first += every;
  const t0 = first - every;
  const modelSeed = deriveSeed(seed, spec.id);
  let gen: Sim['gen'];
  if (spec.profile === 'camera') {
    let state: CameraState = cameraModel.init(modelSeed, t0, {
      timeZone,
      ...(spec.scene ? { scene: spec.scene } : {}),
      snapshotBase: `http://camera.local/snapshots/${encodeURIComponent(spec.id)}`,
    });
    gen = (ts) => {
      const r = cameraModel.step(state, ts);
      state = r.state;
      const out: TelemetryRecord[] = r.events.map((e) => ({ ts: e.ts, values: { event: e.event } }));
      if (Object.keys(r.values).length > 0) out.push({ ts, values: r.values });
      return out;
    };
  } else {
    const model = MODELS[spec.profile] as Model<BaseState>;
    let state = model.init(modelSeed, t0, { timeZone });
    gen = (ts) => {
      const r = model.step(state, ts);
      state = r.state;
      return [{ ts, values: r.values }];
    };
  }
  return { id: spec.id, everyMs: every, nextTs: first, gen };
}
