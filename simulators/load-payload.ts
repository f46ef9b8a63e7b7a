/**
 * The load generators' message: one air-quality record, `{"pm10":…,"pm25":…,"windSpeed":…}`, with
 * 1–6 readings drawn in range (domain/profiles.ts, `air-quality`). Cheap by design: the benchmark
 * builds one per message and measures the hub's CPU per message against a bare broker fed by the same
 * generator, so building it costs a few number formats and string joins, nothing more.
 */

export const LOAD_KEYS = [
  'pm10',
  'pm25',
  'windSpeed',
  'windDirection',
  'relativeHumidity',
  'temperature',
] as const;

/** Readings per message of the benchmark's and `simulate --load`'s default record. */
export const LOAD_DEFAULT_KEYS = 3;

type Format = (r: number) => string;
const FORMAT: Record<(typeof LOAD_KEYS)[number], Format> = {
  pm10: (r) => (20 + r * 180).toFixed(1),
  pm25: (r) => (5 + r * 95).toFixed(1),
  windSpeed: (r) => (r * 15).toFixed(2),
  windDirection: (r) => String(Math.floor(r * 360)),
  relativeHumidity: (r) => (0.3 + r * 0.6).toFixed(2),
  temperature: (r) => (5 + r * 25).toFixed(1),
};

/**
 * A function returning one record's values as JSON: the first `keys` of LOAD_KEYS (clamped to 1–6),
 * each from one draw of `random` (in [0, 1); Math.random unless a seeded source is given).
 */
export function airQualityValues(
  keys: number = LOAD_DEFAULT_KEYS,
  random: () => number = Math.random,
): () => string {
  const n = Math.min(LOAD_KEYS.length, Math.max(1, Math.floor(keys)));
  const heads = LOAD_KEYS.slice(0, n).map((key, k) => `${k ? ',' : ''}"${key}":`);
  const formats = LOAD_KEYS.slice(0, n).map((key) => FORMAT[key]);
  if (n === 3) {
    // The benchmark's record, once per message: one template, no loop (measurably cheaper).
    const [h0, h1, h2] = heads as [string, string, string];
    const [f0, f1, f2] = formats as [Format, Format, Format];
    return () => `{${h0}${f0(random())}${h1}${f1(random())}${h2}${f2(random())}}`;
  }
  return () => {
    let s = '{';
    for (let k = 0; k < n; k++) s += heads[k]! + formats[k]!(random());
    return `${s}}`;
  };
}

/** One default record (3 readings) from Math.random. */
export const airQualityPayload: () => string = airQualityValues();
