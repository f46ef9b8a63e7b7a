/**
 * The tower crane (`tower-crane`): lifts during working hours, load moment against the rated load chart,
 * wind stops.
 */
import {
  angleOut,
  type BaseState,
  clamp,
  localTime,
  MINUTE,
  type Model,
  makeInit,
  makeStep,
  roundTo,
  smooth,
  wrap360,
} from './model.ts';
import { initWeather, stepWeather, type Weather, windReading } from './weather.ts';

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
