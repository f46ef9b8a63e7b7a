/** Site weather, shared by the dust monitor and the tower crane: synoptic and gusty wind. */
import type { Random } from '../random.ts';
import { HOUR, happens, MINUTE, ou, roundTo } from './model.ts';

// ---------------------------------------------------------------------------------------------
// Site weather (shared by the dust monitor and the crane)

export interface Weather {
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

export const initWeather = (rnd: Random): Weather => ({
  windiness: rnd.range(0.8, 1.2),
  windSynoptic: rnd.normal(0, 1),
  wind: rnd.range(1, 3),
  prevailingDir: rnd.pick([45, 90, 200, 315]),
  dirDev: rnd.normal(0, 30),
  stormUntil: 0,
  stormExtra: 0,
});

/** Advances the wind; `base` is the mean speed at the sensor's height. */
export function stepWeather(
  w: Weather,
  rnd: Random,
  t0: number,
  t1: number,
  hour: number,
  base: number,
): void {
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
export const windReading = (w: Weather, rnd: Random) =>
  roundTo(w.wind * (rnd.chance(0.08) ? rnd.range(1.15, 1.45) : 1) + Math.abs(rnd.normal(0, 0.2)), 1);
