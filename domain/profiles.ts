/**
 * Device profiles: what a device of each family may send. Keys follow the FIWARE Smart Data
 * Models (WasteContainer, AirQualityObserved, NoiseLevelObserved); ranges are physical limits
 * (a value outside them is a broken sensor, not an anomaly — anomalies are the rules' business).
 */
export interface KeySpec {
  min: number;
  max: number;
  unit?: string;
}

export interface ProfileSpec {
  /** Strict profiles reject keys they do not know; `generic` keeps any key (as ThingsBoard). */
  strict: boolean;
  keys: Record<string, KeySpec>;
  /** Camera detections arrive as `{"event": {...}}` and are stored as events. */
  events?: boolean;
}

export const CAMERA_EVENT_TYPES = [
  'street_vending',
  'exposed_garbage',
  'uncovered_muck_truck',
  'no_helmet',
  'intrusion',
  'smoke_fire',
] as const;

const common = { batteryLevel: { min: 0, max: 1 }, rssi: { min: -150, max: 0, unit: 'dBm' } };

export const PROFILES = {
  'waste-container': {
    strict: true,
    keys: {
      fillingLevel: { min: 0, max: 1 },
      temperature: { min: -40, max: 150, unit: '°C' },
      methaneConcentration: { min: 0, max: 100_000, unit: 'ppm' },
      tilt: { min: 0, max: 180, unit: '°' },
      ...common,
    },
  },
  'air-quality': {
    strict: true,
    keys: {
      pm10: { min: 0, max: 5000, unit: 'µg/m³' },
      pm25: { min: 0, max: 5000, unit: 'µg/m³' },
      windSpeed: { min: 0, max: 75, unit: 'm/s' },
      windDirection: { min: 0, max: 360, unit: '°' },
      temperature: { min: -50, max: 70, unit: '°C' },
      relativeHumidity: { min: 0, max: 1 },
      ...common,
    },
  },
  'noise-level': {
    strict: true,
    keys: {
      LAeq: { min: 0, max: 160, unit: 'dB(A)' },
      LAmax: { min: 0, max: 170, unit: 'dB(A)' },
      LAS: { min: 0, max: 170, unit: 'dB(A)' },
      ...common,
    },
  },
  'tower-crane': {
    strict: true,
    keys: {
      loadMomentRatio: { min: 0, max: 3 },
      load: { min: 0, max: 200, unit: 't' },
      radius: { min: 0, max: 120, unit: 'm' },
      height: { min: 0, max: 400, unit: 'm' },
      slewAngle: { min: 0, max: 360, unit: '°' },
      windSpeed: { min: 0, max: 75, unit: 'm/s' },
      tilt: { min: 0, max: 90, unit: '°' },
      ...common,
    },
  },
  camera: { strict: true, events: true, keys: { ...common } },
  generic: { strict: false, keys: {} },
} satisfies Record<string, ProfileSpec>;

export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as [ProfileName, ...ProfileName[]];
export const isProfileName = (p: unknown): p is ProfileName => typeof p === 'string' && p in PROFILES;
