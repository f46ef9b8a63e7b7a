/** The dust monitor (`air-quality`): urban background plus site activity, wind and episodes. */
import {
  angleOut,
  type BaseState,
  clamp,
  gauss,
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
  smooth,
} from './model.ts';
import { initWeather, stepWeather, type Weather, windReading } from './weather.ts';

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
