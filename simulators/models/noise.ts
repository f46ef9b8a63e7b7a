/** The noise monitor (`noise-level`): working-hours site noise over the day/night background. */

import { siteActivity } from './dust.ts';
import {
  type BaseState,
  clamp,
  HOUR,
  happens,
  localTime,
  MINUTE,
  type Model,
  makeInit,
  makeStep,
  ou,
  ramped,
  relax,
  roundTo,
} from './model.ts';

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
