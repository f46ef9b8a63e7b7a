/**
 * The waste bin (`waste-container`): filling from use around meal times, emptied on collection rounds,
 * rare fires and tip-overs.
 */
import {
  ambient,
  type BaseState,
  clamp,
  crossed,
  DAY,
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
} from './model.ts';

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
