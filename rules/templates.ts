/**
 * Built-in rule templates from the domain notes (shared/domain.md). Every local threshold that is
 * practice rather than a national figure reads a device attribute with the usual value as default
 * (`pm10Limit`, `noiseDayLimit`, `noiseNightLimit`), so a city changes it per site without editing
 * the rule. Category codes are the seeds of domain/default-categories.ts.
 */
import {
  type CameraEventType,
  type Condition,
  PROFILE_NAMES,
  type Rule,
  type ValueRef,
} from '../domain/index.ts';

type Draft = Omit<Rule, 'enabled' | 'verifyAfter' | 'relapseWindow'> &
  Partial<Pick<Rule, 'enabled' | 'verifyAfter' | 'relapseWindow'>>;

const rule = (d: Draft): Rule => ({
  ...d,
  enabled: d.enabled ?? true,
  verifyAfter: d.verifyAfter ?? '15m',
  relapseWindow: d.relapseWindow ?? '24h',
});

const DAY = { kind: 'schedule', from: '06:00', to: '22:00' } as const satisfies Condition;
const NIGHT = { kind: 'schedule', from: '22:00', to: '06:00' } as const satisfies Condition;

export function builtInRules(opts: { pm10Limit?: number } = {}): Rule[] {
  const pm10Limit: ValueRef = { attribute: 'pm10Limit', default: opts.pm10Limit ?? 80 };
  const pm10Over15m: Condition = {
    kind: 'window',
    key: 'pm10',
    agg: 'avg',
    window: '15m',
    op: '>',
    value: pm10Limit,
  };
  const dayLimit: ValueRef = { attribute: 'noiseDayLimit', default: 70 };
  const nightLimit: ValueRef = { attribute: 'noiseNightLimit', default: 55 };

  const camera = (
    type: CameraEventType,
    category: string,
    name: string,
    urgency: Rule['urgency'] = 'normal',
    extra: Partial<Draft> = {},
  ): Rule =>
    rule({
      id: `camera-${type.replaceAll('_', '-')}`,
      name,
      description: `Video analytics detected ${type.replaceAll('_', ' ')} with confidence ≥ 0.8; clears after 30 minutes without a detection.`,
      appliesTo: { profile: 'camera' },
      category,
      urgency,
      condition: { kind: 'event', type, minConfidence: 0.8, clearAfter: '30m' },
      ...extra,
    });

  return [
    // Smart waste bins (WasteContainer)
    rule({
      id: 'bin-full',
      name: 'Bin full',
      description: 'Filling level at 80 % or more; clears when emptied (below 20 %).',
      appliesTo: { profile: 'waste-container' },
      category: '0102',
      urgency: 'normal',
      condition: { kind: 'threshold', key: 'fillingLevel', op: '>=', value: 0.8, clear: 0.2 },
    }),
    rule({
      id: 'bin-fire',
      name: 'Bin fire',
      description: 'Temperature at 60 °C or more, or rising 10 °C per minute or faster; clears under 50 °C.',
      appliesTo: { profile: 'waste-container' },
      category: '0501',
      urgency: 'urgent',
      condition: {
        kind: 'any',
        conditions: [
          { kind: 'threshold', key: 'temperature', op: '>=', value: 60, clear: 50 },
          // Over at least a minute: bins reporting every few seconds must not turn noise into fire.
          { kind: 'rate', key: 'temperature', perMinute: 10, direction: 'rise', minSpan: '1m' },
        ],
      },
    }),
    rule({
      id: 'bin-tilted',
      name: 'Bin knocked over',
      description: 'Tilt of 45° or more for a minute; clears when back under 20°.',
      appliesTo: { profile: 'waste-container' },
      category: '0904',
      urgency: 'normal',
      condition: {
        kind: 'sustained',
        for: '1m',
        condition: { kind: 'threshold', key: 'tilt', op: '>=', value: 45, clear: 20 },
      },
    }),

    // Construction-site dust (AirQualityObserved)
    rule({
      id: 'site-pm10-15min',
      name: 'Site dust: PM10 15-minute average over the limit',
      description:
        'Moving 15-minute mean of PM10 above the site limit (attribute pm10Limit, Hebei practice 80 µg/m³).',
      appliesTo: { profile: 'air-quality' },
      category: '0303',
      urgency: 'normal',
      condition: pm10Over15m,
    }),
    rule({
      id: 'site-pm10-daily',
      name: 'Site dust: more than 2 exceedances today',
      description:
        'The PM10 15-minute mean went over the limit more than twice in the local calendar day (Hebei: at most 2 a day).',
      appliesTo: { profile: 'air-quality' },
      category: '0303',
      urgency: 'urgent',
      condition: { kind: 'dailyCount', condition: pm10Over15m, moreThan: 2 },
    }),

    // Construction-site noise (NoiseLevelObserved), GB 12523-2011
    rule({
      id: 'noise-day-laeq',
      name: 'Construction noise by day',
      description: 'LAeq over the day limit (attribute noiseDayLimit, 70 dB(A)) for 10 minutes, 06:00–22:00.',
      appliesTo: { profile: 'noise-level' },
      category: '0301',
      urgency: 'normal',
      condition: {
        kind: 'sustained',
        for: '10m',
        condition: {
          kind: 'all',
          conditions: [{ kind: 'threshold', key: 'LAeq', op: '>', value: dayLimit }, DAY],
        },
      },
    }),
    rule({
      id: 'noise-night-laeq',
      name: 'Construction noise at night',
      description:
        'LAeq over the night limit (attribute noiseNightLimit, 55 dB(A)) for 10 minutes, 22:00–06:00.',
      appliesTo: { profile: 'noise-level' },
      category: '0301',
      urgency: 'normal',
      condition: {
        kind: 'sustained',
        for: '10m',
        condition: {
          kind: 'all',
          conditions: [{ kind: 'threshold', key: 'LAeq', op: '>', value: nightLimit }, NIGHT],
        },
      },
    }),
    rule({
      id: 'noise-night-lamax',
      name: 'Night noise peak',
      description: 'At night LAmax more than 15 dB(A) over the night limit.',
      appliesTo: { profile: 'noise-level' },
      category: '0301',
      urgency: 'normal',
      condition: {
        kind: 'all',
        conditions: [
          { kind: 'threshold', key: 'LAmax', op: '>', value: { ...nightLimit, offset: 15 } },
          NIGHT,
        ],
      },
    }),

    // Tower cranes (GB 5144, GB/T 28264)
    rule({
      id: 'crane-load-90',
      name: 'Crane load moment pre-alarm (90 %)',
      description: 'Load moment at 90 % of rated or more; clears under 85 %.',
      appliesTo: { profile: 'tower-crane' },
      category: '0902',
      urgency: 'normal',
      condition: { kind: 'threshold', key: 'loadMomentRatio', op: '>=', value: 0.9, clear: 0.85 },
    }),
    rule({
      id: 'crane-load-100',
      name: 'Crane overload (100 %)',
      description: 'Load moment at or over the rated moment.',
      appliesTo: { profile: 'tower-crane' },
      category: '0902',
      urgency: 'urgent',
      condition: { kind: 'threshold', key: 'loadMomentRatio', op: '>=', value: 1 },
    }),
    rule({
      id: 'crane-wind',
      name: 'Crane in strong wind (force 6)',
      description: 'Wind at 13.8 m/s or more: cranes must stop; clears under 12 m/s.',
      appliesTo: { profile: 'tower-crane' },
      category: '0902',
      urgency: 'urgent',
      condition: { kind: 'threshold', key: 'windSpeed', op: '>=', value: 13.8, clear: 12 },
    }),

    // Camera detections
    camera('street_vending', '0401', 'Street vending detected'),
    camera('exposed_garbage', '0101', 'Exposed garbage detected'),
    camera('no_helmet', '0903', 'Worker without safety helmet'),
    camera('smoke_fire', '0501', 'Smoke or fire detected', 'urgent'),
    camera('uncovered_muck_truck', '0305', 'Uncovered muck truck'),
    camera('intrusion', '0905', 'Intrusion detected', 'normal', {
      enabled: false,
      description:
        'Perimeter intrusion with confidence ≥ 0.8. Off by default: enable it for cameras that watch a perimeter (construction sites), not streets.',
    }),

    // Device offline, one per profile
    ...PROFILE_NAMES.map((profile) =>
      rule({
        id: `offline-${profile}`,
        name: `Device offline (${profile})`,
        description: 'No reading for 3 expected intervals of 5 minutes (hub clock).',
        appliesTo: { profile },
        category: '0901',
        urgency: 'low',
        condition: { kind: 'absence', expectedEvery: '5m', intervals: 3 },
      }),
    ),
  ];
}
