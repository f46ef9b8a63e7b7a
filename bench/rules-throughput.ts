// Figure 4a — rule evaluation throughput: the workload (a deterministic device mix and its
// readings) and the timed evaluation through the engine's own runtime (see bench/rules.ts).
import { performance } from 'node:perf_hooks';
import { PROFILE_NAMES, type ProfileName } from '../domain/index.ts';
import type { Reading } from '../ingest/index.ts';
import {
  type ActiveRule,
  builtInRules,
  type ConditionInput,
  createMemoryRuleStateStore,
  createRuleRuntime,
  type Evaluator,
  evaluate,
  needsTick,
  type Rule,
  tick,
  usesKeys,
  validateRule,
} from '../rules/index.ts';
import { log } from './env.ts';
import { fmt } from './stats.ts';

// ---------------------------------------------------------------------------------------------
// The workload

export const RULES_PER_PROFILE = 10;

const NIGHT = { kind: 'schedule', from: '22:00', to: '06:00' } as const;

/** Variations padding each profile's built-in rules up to RULES_PER_PROFILE. */
const PADDING: Record<ProfileName, ConditionInput[]> = {
  'waste-container': [
    { kind: 'threshold', key: 'methaneConcentration', op: '>=', value: 5000, clear: 1000 },
    { kind: 'window', key: 'fillingLevel', agg: 'avg', window: '10m', op: '>=', value: 0.9 },
    { kind: 'threshold', key: 'batteryLevel', op: '<', value: 0.1, clear: 0.2 },
    {
      kind: 'sustained',
      for: '5m',
      condition: { kind: 'threshold', key: 'temperature', op: '>=', value: 45 },
    },
    {
      kind: 'dailyCount',
      moreThan: 5,
      condition: { kind: 'threshold', key: 'tilt', op: '>=', value: 30, clear: 10 },
    },
    { kind: 'rate', key: 'fillingLevel', perMinute: 0.5, direction: 'rise' },
    { kind: 'window', key: 'temperature', agg: 'max', window: '30m', op: '>=', value: 55 },
  ],
  'air-quality': [
    {
      kind: 'window',
      key: 'pm25',
      agg: 'avg',
      window: '15m',
      op: '>',
      value: { attribute: 'pm25Limit', default: 75 },
    },
    { kind: 'window', key: 'pm10', agg: 'max', window: '5m', op: '>', value: 300 },
    { kind: 'window', key: 'pm10', agg: 'avg', window: '1h', op: '>', value: 150 },
    { kind: 'threshold', key: 'windSpeed', op: '>=', value: 10.8, clear: 8 },
    {
      kind: 'all',
      conditions: [
        { kind: 'window', key: 'pm10', agg: 'avg', window: '15m', op: '>', value: 120 },
        { kind: 'threshold', key: 'windSpeed', op: '<', value: 2 },
      ],
    },
    { kind: 'sustained', for: '10m', condition: { kind: 'threshold', key: 'pm25', op: '>', value: 150 } },
    { kind: 'window', key: 'temperature', agg: 'min', window: '30m', op: '<', value: -10 },
  ],
  'noise-level': [
    { kind: 'window', key: 'LAeq', agg: 'avg', window: '5m', op: '>', value: 75 },
    { kind: 'window', key: 'LAmax', agg: 'max', window: '1m', op: '>', value: 100 },
    { kind: 'threshold', key: 'LAS', op: '>', value: 90, clear: 85 },
    {
      kind: 'dailyCount',
      moreThan: 3,
      condition: { kind: 'threshold', key: 'LAmax', op: '>', value: 95 },
    },
    { kind: 'threshold', key: 'batteryLevel', op: '<', value: 0.1 },
    { kind: 'rate', key: 'LAeq', perMinute: 20, direction: 'either' },
  ],
  'tower-crane': [
    {
      kind: 'sustained',
      for: '30s',
      condition: { kind: 'threshold', key: 'loadMomentRatio', op: '>=', value: 0.95 },
    },
    { kind: 'window', key: 'windSpeed', agg: 'max', window: '10m', op: '>=', value: 20 },
    { kind: 'threshold', key: 'tilt', op: '>=', value: 2, clear: 1 },
    { kind: 'rate', key: 'load', perMinute: 50, direction: 'rise' },
    { kind: 'all', conditions: [{ kind: 'threshold', key: 'windSpeed', op: '>=', value: 10 }, NIGHT] },
    { kind: 'threshold', key: 'height', op: '>', value: 300 },
  ],
  camera: [
    { kind: 'threshold', key: 'batteryLevel', op: '<', value: 0.1, clear: 0.2 },
    { kind: 'threshold', key: 'rssi', op: '<', value: -110, clear: -100 },
    {
      kind: 'dailyCount',
      moreThan: 3,
      condition: { kind: 'event', type: 'street_vending', minConfidence: 0.5, clearAfter: '10m' },
    },
    {
      kind: 'all',
      conditions: [{ kind: 'event', type: 'intrusion', minConfidence: 0.9, clearAfter: '5m' }, NIGHT],
    },
  ],
  generic: [
    { kind: 'threshold', key: 'temperature', op: '>=', value: 40, clear: 35 },
    { kind: 'threshold', key: 'humidity', op: '>', value: 0.95 },
    { kind: 'window', key: 'co2', agg: 'avg', window: '10m', op: '>', value: 1500 },
    { kind: 'window', key: 'voltage', agg: 'min', window: '5m', op: '<', value: 200 },
    { kind: 'window', key: 'voltage', agg: 'max', window: '5m', op: '>', value: 250 },
    { kind: 'rate', key: 'temperature', perMinute: 5, direction: 'rise' },
    { kind: 'sustained', for: '2m', condition: { kind: 'threshold', key: 'current', op: '>', value: 30 } },
    { kind: 'threshold', key: 'current', op: '>', value: 40 },
    { kind: 'window', key: 'temperature', agg: 'avg', window: '15m', op: '>', value: 35 },
  ],
};

/** RULES_PER_PROFILE enabled rules per profile: the built-in ones first, then the padding. */
export function benchRuleSet(): Map<ProfileName, Rule[]> {
  const out = new Map<ProfileName, Rule[]>();
  const builtIn = builtInRules().filter((r) => r.enabled);
  for (const profile of PROFILE_NAMES) {
    const list = builtIn.filter((r) => r.appliesTo.profile === profile).slice(0, RULES_PER_PROFILE);
    for (const [i, condition] of PADDING[profile].entries()) {
      if (list.length >= RULES_PER_PROFILE) break;
      const v = validateRule({
        id: `bench-${profile}-${i}`,
        name: `bench variation ${i} (${profile})`,
        appliesTo: { profile },
        category: '0901',
        urgency: 'normal',
        condition,
      });
      if (!v.ok) throw new Error(`bench rule ${profile}/${i} invalid: ${v.errors.join('; ')}`);
      list.push(v.rule);
    }
    if (list.length !== RULES_PER_PROFILE)
      throw new Error(`profile ${profile}: ${list.length} bench rules, expected ${RULES_PER_PROFILE}`);
    out.set(profile, list);
  }
  return out;
}

/** Share of each profile in the device mix. */
const MIX: [ProfileName, number][] = [
  ['waste-container', 0.3],
  ['air-quality', 0.2],
  ['noise-level', 0.15],
  ['tower-crane', 0.1],
  ['camera', 0.15],
  ['generic', 0.1],
];

/** A key's random walk: [centre, spread, min, max, excursion value, excursion probability]. */
type Walk = [number, number, number, number, number, number];
const KEYS: Record<ProfileName, Record<string, Walk>> = {
  'waste-container': {
    fillingLevel: [0.45, 0.001, 0, 1, 0.85, 0.0005],
    temperature: [20, 0.05, -40, 150, 65, 0.0001],
    tilt: [3, 0.5, 0, 180, 60, 0.0002],
    batteryLevel: [0.7, 0.002, 0, 1, 0.05, 0.0001],
    methaneConcentration: [300, 20, 0, 100_000, 8000, 0.0001],
  },
  'air-quality': {
    pm10: [70, 6, 0, 5000, 400, 0.002],
    pm25: [40, 4, 0, 5000, 200, 0.001],
    windSpeed: [4, 0.4, 0, 75, 14, 0.0005],
    temperature: [12, 0.2, -50, 70, -15, 0.0001],
    batteryLevel: [0.8, 0.002, 0, 1, 0.05, 0.0001],
  },
  'noise-level': {
    LAeq: [62, 0.2, 0, 160, 85, 0.001],
    LAmax: [75, 4, 0, 170, 110, 0.001],
    LAS: [64, 3, 0, 170, 95, 0.001],
    batteryLevel: [0.8, 0.002, 0, 1, 0.05, 0.0001],
  },
  'tower-crane': {
    loadMomentRatio: [0.5, 0.03, 0, 3, 1.02, 0.0005],
    load: [4, 0.2, 0, 200, 60, 0.0002],
    radius: [30, 1, 0, 120, 30, 0],
    height: [80, 0.2, 0, 400, 80, 0],
    slewAngle: [180, 5, 0, 360, 180, 0],
    windSpeed: [5, 0.5, 0, 75, 15, 0.0005],
    tilt: [0.3, 0.05, 0, 90, 3, 0.0001],
  },
  camera: {
    batteryLevel: [0.9, 0.001, 0, 1, 0.05, 0.0001],
    rssi: [-80, 2, -150, 0, -120, 0.0002],
  },
  generic: {
    temperature: [22, 0.03, -50, 100, 45, 0.0002],
    humidity: [0.5, 0.01, 0, 1, 0.97, 0.0002],
    co2: [600, 20, 0, 10_000, 2500, 0.0002],
    voltage: [230, 1, 0, 400, 190, 0.0002],
    current: [10, 1, 0, 100, 45, 0.0002],
  },
};
const EVENT_TYPES = ['street_vending', 'exposed_garbage', 'no_helmet', 'smoke_fire', 'intrusion'];
/** Share of camera messages that carry a detection. */
const EVENT_SHARE = 0.02;

export interface SimDevice {
  id: string;
  profile: ProfileName;
  keys: string[];
  walks: Walk[];
  /** Current value of each key (random walk around the centre, with rare excursions). */
  values: number[];
  /** First message's offset (devices do not all report on the same millisecond). */
  phase: number;
  serverAttributes: Record<string, unknown>;
  sharedAttributes: Record<string, unknown>;
}

/** mulberry32: a small deterministic PRNG, so every run sees the same messages. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeDevices(n: number, rnd: () => number): SimDevice[] {
  const out: SimDevice[] = [];
  let i = 0;
  for (const [p, share] of MIX) {
    const count = p === MIX[MIX.length - 1]![0] ? n - out.length : Math.round(n * share);
    for (let k = 0; k < count; k++, i++) {
      const spec = KEYS[p];
      const keys = Object.keys(spec);
      const walks = keys.map((key) => spec[key]!);
      out.push({
        id: `${p}-${String(i).padStart(5, '0')}`,
        profile: p,
        keys,
        walks,
        values: walks.map((w) => w[0]),
        phase: Math.floor(rnd() * 1000),
        // A few sites carry their own PM10/PM2.5 limits (thresholds from attributes).
        serverAttributes: p === 'air-quality' && k % 5 === 0 ? { pm10Limit: 95, pm25Limit: 60 } : {},
        sharedAttributes: {},
      });
    }
  }
  return out;
}

/** The next message of a device at `ts`: every key of its profile, a camera sometimes a detection. */
export function nextReadings(d: SimDevice, ts: number, rnd: () => number): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < d.keys.length; i++) {
    const [centre, spread, min, max, excursion, p] = d.walks[i]!;
    let v = d.values[i]!;
    if (rnd() < p) v = excursion;
    else v += (centre - v) * 0.05 + (rnd() - 0.5) * 2 * spread;
    v = Math.min(max, Math.max(min, v));
    d.values[i] = v;
    out.push({ kind: 'number', key: d.keys[i]!, ts, value: Math.round(v * 1000) / 1000 });
  }
  if (d.profile === 'camera' && rnd() < EVENT_SHARE) {
    const type = EVENT_TYPES[Math.floor(rnd() * EVENT_TYPES.length)]!;
    out.push({
      kind: 'event',
      key: 'event',
      ts,
      type,
      confidence: Math.round((0.5 + rnd() * 0.5) * 100) / 100,
      snapshot: `snap/${d.id}/${ts}.jpg`,
      data: {},
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 4a: throughput

export interface ThroughputOptions {
  devices: number;
  /** Timed rounds run for at least this long (each round: one message per device). */
  seconds: number;
  /** Untimed rounds before (fill the windows). */
  warmupRounds: number;
  intervalMs: number;
  timezone?: string;
  /** The pure evaluator under test (default the hub's; an older copy can be passed to compare). */
  evaluator?: Evaluator;
  seed?: number;
  quiet?: boolean;
}

export interface ThroughputResult {
  devices: number;
  rulesPerProfile: number;
  intervalMs: number;
  warmupRounds: number;
  rounds: number;
  messages: number;
  evaluations: number;
  skipped: number;
  transitions: number;
  seconds: number;
  evaluationsPerSec: number;
  messagesPerSec: number;
  /** Rule × device pairs covered per second (messages/s × rules per profile). */
  ruleDeviceChecksPerSec: number;
  microsPerMessage: number;
  microsPerEvaluation: number;
  /** Mean samples held by a window condition at the end (how full the windows were). */
  meanWindowSamples: number;
  /** One engine tick pass (absence, event expiry) over every device, ms. */
  tickPassMs: number;
  heapUsedMb: number;
}

/** Runs the workload; rounds are generated untimed, then evaluated by the engine's runtime, timed. */
export function runThroughput(opts: ThroughputOptions): ThroughputResult {
  const rnd = prng(opts.seed ?? 42);
  const timezone = opts.timezone ?? 'Asia/Shanghai';
  const ruleSet = benchRuleSet();
  const devices = makeDevices(opts.devices, rnd);
  // Monday 2026-01-05 09:00 in Shanghai: day-time schedules, one local day throughout.
  const t0 = Date.UTC(2026, 0, 5, 1);
  let evaluations = 0;
  let transitions = 0;
  let explained = 0;
  const perRule = new Map<string, number>();

  const store = createMemoryRuleStateStore();
  // rules/engine.ts without the case writes: the same runtime, hooks that count.
  const runtime = createRuleRuntime<SimDevice, ActiveRule>({
    timezone,
    store,
    evaluator: opts.evaluator ?? { evaluate, tick },
    hooks: {
      evaluated(l, _device, e) {
        evaluations++;
        if (e.transition) {
          transitions++;
          if (process.env.BENCH_RULES_DEBUG) perRule.set(l.rule.id, (perRule.get(l.rule.id) ?? 0) + 1);
          // The engine hands a case its explanation, observations and snapshot on opening.
          if (e.transition === 'open')
            explained += e.explanation.length + Object.keys(e.observed).length + e.snapshots.length;
        }
      },
      ticked() {},
      failed(l, err) {
        throw new Error(`bench rule ${l.rule.id} failed: ${(err as Error).message}`);
      },
    },
  });
  const loaded: ActiveRule[] = [...ruleSet.values()]
    .flat()
    .map((rule) => ({ rule, keys: usesKeys(rule), ticks: needsTick(rule), disabledReason: null }));
  runtime.setRules(loaded);
  const round = (r: number): { readings: Reading[][]; ts: number } => {
    const ts = t0 + r * opts.intervalMs;
    return { ts, readings: devices.map((d) => nextReadings(d, ts + d.phase, rnd)) };
  };
  const play = (r: number, batch: Reading[][], ts: number) => {
    for (let i = 0; i < devices.length; i++) {
      const d = devices[i]!;
      runtime.onReadings(d, batch[i]!, ts + d.phase + 50);
    }
    // The engine persists (and clears) the changed states every few seconds.
    if (r % 5 === 4) for (const _ of runtime.takeChanged(() => true));
  };

  let r = 0;
  const warmT0 = performance.now();
  for (; r < opts.warmupRounds; r++) {
    const { readings, ts } = round(r);
    play(r, readings, ts);
    if (!opts.quiet && r > 0 && r % 100 === 0)
      log(
        `rules/throughput: warm-up round ${r}/${opts.warmupRounds} (${fmt((performance.now() - warmT0) / 1000, 1)} s)`,
      );
  }
  evaluations = 0;
  let checks = 0;
  transitions = 0;
  let timedMs = 0;
  let rounds = 0;
  while (timedMs < opts.seconds * 1000) {
    const { readings, ts } = round(r);
    // Rule checks of the round (every rule of the profile, per timestamp of a message), untimed: those
    // that did not evaluate were skipped (the message carried none of the rule's keys).
    for (const batch of readings) checks += new Set(batch.map((x) => x.ts)).size * RULES_PER_PROFILE;
    const a = performance.now();
    play(r, readings, ts);
    timedMs += performance.now() - a;
    r++;
    rounds++;
  }
  // One tick pass as the engine runs it every 5 s: every ticking rule over every device it covers.
  const now = t0 + r * opts.intervalMs + 1000;
  const byProfile = new Map<string, SimDevice[]>();
  for (const d of devices) byProfile.set(d.profile, [...(byProfile.get(d.profile) ?? []), d]);
  const tickT0 = performance.now();
  runtime.tick(now, (profile) => byProfile.get(profile) ?? []);
  const tickPassMs = performance.now() - tickT0;

  let windows = 0;
  let samples = 0;
  for (const d of devices)
    for (const l of loaded) {
      const s = store.get(l.rule.id, d.id);
      if (!s) continue;
      for (const n of Object.values(s.nodes)) {
        const node = n as { k?: string; s?: { length: number } };
        if (node.k === 'window' && node.s) {
          windows++;
          samples += node.s.length;
        }
      }
    }
  if (process.env.BENCH_RULES_DEBUG) log(`transitions per rule: ${JSON.stringify([...perRule])}`);
  const messages = rounds * devices.length;
  const seconds = timedMs / 1000;
  if (explained < 0) log('unreachable'); // keeps the explanation reads
  return {
    devices: devices.length,
    rulesPerProfile: RULES_PER_PROFILE,
    intervalMs: opts.intervalMs,
    warmupRounds: opts.warmupRounds,
    rounds,
    messages,
    evaluations,
    skipped: checks - evaluations,
    transitions,
    seconds,
    evaluationsPerSec: evaluations / seconds,
    messagesPerSec: messages / seconds,
    ruleDeviceChecksPerSec: (messages * RULES_PER_PROFILE) / seconds,
    microsPerMessage: (timedMs * 1000) / messages,
    microsPerEvaluation: (timedMs * 1000) / evaluations,
    meanWindowSamples: windows ? samples / windows : 0,
    tickPassMs,
    heapUsedMb: process.memoryUsage().heapUsed / 2 ** 20,
  };
}
