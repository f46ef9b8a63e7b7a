// Figure 4 — rules.
//
// 4a, rule evaluation throughput: 10 rules per profile (the built-in templates for the profile, padded
// with variations: thresholds on other keys, windows of other lengths and aggregates, rates, sustained,
// daily counts, schedules) over BENCH_RULES_DEVICES devices (a mix of profiles), each message carrying
// its profile's keys with timestamps 1 s apart per device (BENCH_RULES_INTERVAL_MS), evaluated exactly as
// the engine does (rules/engine.ts onReadings: toInputs, the usesKeys skip, a context per evaluation,
// states in a Map keyed by rule and device, explanation and observations read on openings), in this
// process, on one core. Untimed warm-up rounds fill the windows first (BENCH_RULES_WARMUP_ROUNDS: 180
// rounds = 3 minutes of readings; 900 fill the 15-minute windows). Messages are generated untimed.
//
// 4b, reading → case latency (see benchCaseLatency below). Its background load runs in a child process
// that is this file again (`startChild('./rules.ts', { name: 'rules-load' })`, see the end of the file).

import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { PROFILE_NAMES, type ProfileName } from '../domain/index.ts';
import type { Reading } from '../ingest/index.ts';
import { toInputs } from '../rules/engine.ts';
import type { RuleContext, RuleState } from '../rules/evaluate.ts';
import * as evaluator from '../rules/evaluate.ts';
import { type ConditionInput, type Rule, validateRule } from '../rules/schema.ts';
import { builtInRules } from '../rules/templates.ts';
import { cell } from '../test/support/grids.ts';
import { ADMIN_TOKEN, registerDevices, request, scrape } from './api.ts';
import { type CpuUse, cpuSample, cpuUse } from './cpu.ts';
import { type Ctx, log, num } from './env.ts';
import type { Started } from './hub-child.ts';
import type { IngestResult } from './ingest.ts';
import { airQualityPayload, READINGS_PER_MESSAGE } from './load.ts';
import { type Child, serve, startChild } from './proc.ts';
import { fmt, percentile, sleep } from './stats.ts';

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

/** The pure evaluator under test (the micro-benchmark passes an older copy to compare). */
export interface Evaluator {
  evaluate: typeof evaluator.evaluate;
  usesKeys: typeof evaluator.usesKeys;
  tick: typeof evaluator.tick;
  needsTick: typeof evaluator.needsTick;
}

export interface ThroughputOptions {
  devices: number;
  /** Timed rounds run for at least this long (each round: one message per device). */
  seconds: number;
  /** Untimed rounds before (fill the windows). */
  warmupRounds: number;
  intervalMs: number;
  timezone?: string;
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

/** Runs the workload; rounds are generated untimed, then evaluated as the engine does, timed. */
export function runThroughput(opts: ThroughputOptions): ThroughputResult {
  const ev = opts.evaluator ?? evaluator;
  const rnd = prng(opts.seed ?? 42);
  const timezone = opts.timezone ?? 'Asia/Shanghai';
  const ruleSet = benchRuleSet();
  type Loaded = { rule: Rule; keys: Set<string>; ticks: boolean };
  const loaded = new Map<ProfileName, Loaded[]>();
  for (const [p, rules] of ruleSet)
    loaded.set(
      p,
      rules.map((rule) => ({ rule, keys: ev.usesKeys(rule), ticks: ev.needsTick(rule) })),
    );
  const devices = makeDevices(opts.devices, rnd);
  const states = new Map<string, RuleState>();
  const dirty = new Set<string>();
  // Monday 2026-01-05 09:00 in Shanghai: day-time schedules, one local day throughout.
  const t0 = Date.UTC(2026, 0, 5, 1);
  let evaluations = 0;
  let skipped = 0;
  let transitions = 0;
  let explained = 0;
  const perRule = new Map<string, number>();

  const context = (d: SimDevice): RuleContext => ({
    timezone,
    attributes: { ...d.serverAttributes, ...d.sharedAttributes },
    reference: () => undefined,
  });

  /** rules/engine.ts onReadings, minus the case writes. */
  const onReadings = (d: SimDevice, readings: Reading[], receivedAt: number) => {
    const list = loaded.get(d.profile);
    if (!list) return;
    const inputs = toInputs(readings, receivedAt);
    for (const l of list) {
      const k = `${l.rule.id}\u0000${d.id}`;
      let state = states.get(k);
      for (const input of inputs) {
        if (
          !l.keys.has('*') &&
          !Object.keys(input.values).some((x) => l.keys.has(x)) &&
          !(input.events.length && l.keys.has('event'))
        ) {
          skipped++;
          continue;
        }
        const e = ev.evaluate(l.rule, state, input, context(d));
        evaluations++;
        state = e.state;
        if (e.transition) {
          transitions++;
          if (process.env.BENCH_RULES_DEBUG) perRule.set(l.rule.id, (perRule.get(l.rule.id) ?? 0) + 1);
          // The engine hands a case its explanation, observations and snapshot on opening.
          if (e.transition === 'open')
            explained += e.explanation.length + Object.keys(e.observed).length + e.snapshots.length;
        }
      }
      if (state) {
        states.set(k, state);
        dirty.add(k);
      }
    }
  };

  const round = (r: number): { readings: Reading[][]; ts: number } => {
    const ts = t0 + r * opts.intervalMs;
    return { ts, readings: devices.map((d) => nextReadings(d, ts + d.phase, rnd)) };
  };
  const play = (r: number, batch: Reading[][], ts: number) => {
    for (let i = 0; i < devices.length; i++) {
      const d = devices[i]!;
      onReadings(d, batch[i]!, ts + d.phase + 50);
    }
    if (r % 5 === 4) dirty.clear(); // the engine persists (and clears) every few seconds
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
  skipped = 0;
  transitions = 0;
  let timedMs = 0;
  let rounds = 0;
  while (timedMs < opts.seconds * 1000) {
    const { readings, ts } = round(r);
    const a = performance.now();
    play(r, readings, ts);
    timedMs += performance.now() - a;
    r++;
    rounds++;
  }
  // One tick pass as the engine runs it every 5 s: every ticking rule over every device it covers.
  const now = t0 + r * opts.intervalMs + 1000;
  const tickT0 = performance.now();
  for (const d of devices) {
    for (const l of loaded.get(d.profile) ?? []) {
      if (!l.ticks) continue;
      const k = `${l.rule.id}\u0000${d.id}`;
      const prev = states.get(k);
      if (!prev) continue;
      const e = ev.tick(l.rule, prev, now, context(d));
      if (e.state !== prev) states.set(k, e.state);
    }
  }
  const tickPassMs = performance.now() - tickT0;

  let windows = 0;
  let samples = 0;
  for (const s of states.values())
    for (const n of Object.values(s.nodes)) {
      const node = n as { k?: string; s?: { length: number } };
      if (node.k === 'window' && node.s) {
        windows++;
        samples += node.s.length;
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
    skipped,
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

// ---------------------------------------------------------------------------------------------
// 4b: reading → case latency
//
// A hub on PostgreSQL (child process, as the ingest part) with its built-in rules; background
// air-quality devices publishing QoS 1 at about half the PostgreSQL ingest rate measured by the
// ingest part (BENCH_CASE_RATE readings/s without one), open-loop from a load child (this file in
// child mode); their sites carry a high pm10Limit, so they load the rules without opening cases.
// Probe bins in this process alternate fillingLevel 0.85 (bin-full opens: a case, then occurrences
// of it) and 0.1 (clears). Two figures: the hub's own gridhub_reading_to_case_seconds histogram
// (arrival → case written, delta over the window, percentiles interpolated within buckets), and
// from outside: publish → the case event on the SSE stream GET /api/events.

export interface CaseLatencyResult {
  layout: string;
  backgroundDevices: number;
  /** Background readings/s asked for, and why that figure. */
  targetReadingsPerSec: number;
  targetSource: string;
  /** Background readings/s sent and stored (rows metric) over the window. */
  sentReadingsPerSec: number;
  storedReadingsPerSec: number;
  /** Background messages the load generator could not send (a connection had too many in flight). */
  skipped: number;
  probes: number;
  periodMs: number;
  windowSeconds: number;
  /** gridhub_reading_to_case_seconds over the window, ms. */
  hub: { count: number; p50: number; p99: number; mean: number; overMaxBucket: number };
  /** Publish → SSE case event, ms. */
  external: { count: number; p50: number; p99: number; max: number; missed: number };
  cpu: CpuUse;
}

export interface RulesResult {
  throughput?: ThroughputResult;
  /** Rule-evaluation capacity (messages/s, one core) ÷ the PostgreSQL hub's ingest messages/s. */
  capacityOverIngest?: number;
  ingestMessagesPerSec?: number;
  caseLatency?: CaseLatencyResult;
  errors: { step: 'throughput' | 'case-latency'; error: string }[];
}

const envNum = num;

export function rulesKnobs() {
  return {
    devices: envNum('BENCH_RULES_DEVICES', 10_000),
    seconds: envNum('BENCH_RULES_SECONDS', 10),
    warmupRounds: envNum('BENCH_RULES_WARMUP_ROUNDS', 180),
    intervalMs: Math.max(1, envNum('BENCH_RULES_INTERVAL_MS', 1000)),
    caseRate: envNum('BENCH_CASE_RATE', 25_000),
    caseDevices: Math.max(1, envNum('BENCH_CASE_DEVICES', 1000)),
    probes: Math.max(1, envNum('BENCH_CASE_PROBES', 40)),
    periodMs: Math.max(100, envNum('BENCH_CASE_PERIOD_MS', 1000)),
    caseSeconds: envNum('BENCH_CASE_SECONDS', 20),
  };
}

const GRID = '330102001001001';
const GRID_X0 = 120;
const GRID_Y0 = 30;

async function inParallel<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(items.length, concurrency) }, worker));
}

/** The `_bucket`, `_count`, `_sum` samples of a histogram from a scrape. */
function histogramOf(m: Map<string, number>, name: string) {
  const buckets: { le: number; count: number }[] = [];
  for (const [k, v] of m) {
    const x = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(k);
    if (x) buckets.push({ le: x[1] === '+Inf' ? Infinity : Number(x[1]), count: v });
  }
  buckets.sort((a, b) => a.le - b.le);
  return { buckets, count: m.get(`${name}_count`) ?? 0, sum: m.get(`${name}_sum`) ?? 0 };
}
type Histo = ReturnType<typeof histogramOf>;

/** Quantile q of the observations between two scrapes, interpolated linearly within its bucket. */
export function histogramQuantile(
  before: Histo,
  after: Histo,
  q: number,
): { value: number; beyond: boolean } {
  const cum = after.buckets.map((b, i) => ({ le: b.le, count: b.count - (before.buckets[i]?.count ?? 0) }));
  const total = cum[cum.length - 1]?.count ?? 0;
  if (total === 0) return { value: Number.NaN, beyond: false };
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of cum) {
    if (b.count >= rank) {
      if (b.le === Infinity) return { value: lower, beyond: true };
      const inBucket = b.count - below;
      return { value: lower + (b.le - lower) * (inBucket ? (rank - below) / inBucket : 0), beyond: false };
    }
    lower = b.le;
    below = b.count;
  }
  return { value: lower, beyond: true };
}

/** Server-sent events of the hub: calls `onCase` for each case event; stops with the returned function. */
function followEvents(
  httpUrl: string,
  onCase: (e: { caseId: string; action: string }, at: number) => void,
): { ready: Promise<void>; close: () => void } {
  const abort = new AbortController();
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => {
    resolveReady = r;
  });
  void (async () => {
    try {
      const res = await fetch(`${httpUrl}/api/events`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        signal: abort.signal,
      });
      if (!res.ok || !res.body) throw new Error(`GET /api/events: ${res.status}`);
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const at = performance.now();
        resolveReady();
        buf += decoder.decode(chunk, { stream: true });
        let end = buf.indexOf('\n\n');
        while (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          end = buf.indexOf('\n\n');
          if (!block.startsWith('event: case\n')) continue;
          const data = block.slice(block.indexOf('data: ') + 6);
          try {
            onCase(JSON.parse(data), at);
          } catch {}
        }
      }
    } catch (err) {
      if (!abort.signal.aborted) log(`rules/case-latency: event stream failed: ${(err as Error).message}`);
      resolveReady();
    }
  })();
  return { ready, close: () => abort.abort() };
}

function connectProbe(url: string, token: string, clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, {
      username: token,
      clientId,
      clean: true,
      protocolVersion: 4,
      keepalive: 60,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
    });
    c.once('connect', () => {
      (c.stream as Socket).setNoDelay?.(true);
      resolve(c);
    });
    c.once('error', reject);
  });
}

const publish = (c: MqttClient, payload: string) =>
  new Promise<void>((resolve, reject) =>
    c.publish('v1/devices/me/telemetry', payload, { qos: 1 }, (err) => (err ? reject(err) : resolve())),
  );

export async function benchCaseLatency(ctx: Ctx, ingestReadingsPerSec?: number): Promise<CaseLatencyResult> {
  const k = ctx.knobs;
  const rk = rulesKnobs();
  const target = ingestReadingsPerSec ? ingestReadingsPerSec / 2 : rk.caseRate;
  const targetSource = ingestReadingsPerSec
    ? `half the PostgreSQL ingest rate measured in this run (${fmt(ingestReadingsPerSec)} readings/s)`
    : 'BENCH_CASE_RATE (no ingest figure in this run)';
  const layout = [
    `hub on PostgreSQL in its own child process${k.pin ? ' pinned to CPU 0' : ''}, built-in rules`,
    `${rk.caseDevices} background air-quality devices at ${fmt(target)} readings/s (QoS 1, open loop) from a load child${k.pin ? ' pinned to CPU 1' : ''}`,
    `${rk.probes} probe bins in the orchestrator, one opening per ${rk.periodMs} ms each, and the SSE client`,
  ].join('; ');
  log(`rules/case-latency: ${layout}`);
  const databaseUrl = await ctx.pg.database();
  const hub = startChild('./hub-child.ts', {
    quietLogs: true,
    name: 'hub-rules',
    cpu: k.pin ? 0 : undefined,
    nofile: rk.caseDevices + rk.probes + 1024,
    nodeArgs: k.hubProf ? ['--cpu-prof', '--cpu-prof-dir', `${k.hubProf}/rules`] : [],
  });
  let load: Child | undefined;
  const probes: MqttClient[] = [];
  let events: ReturnType<typeof followEvents> | undefined;
  try {
    const started = await hub.call<Started>('start', { target: 'pg', databaseUrl, adminToken: ADMIN_TOKEN });
    const httpUrl = started.httpUrl!;
    await request(httpUrl, 'PUT', '/api/grids', {
      type: 'FeatureCollection',
      features: [cell(GRID, GRID_X0, GRID_Y0, { streetName: '清波街道', communityName: '柳翠井巷社区' })],
    });
    // Background devices: registered, their sites' PM10 limit out of reach (the rules run, never open).
    const bgIds = Array.from({ length: rk.caseDevices }, (_, i) => `bg-${String(i).padStart(5, '0')}`);
    const reg = await registerDevices(httpUrl, bgIds, {
      profile: 'air-quality',
      concurrency: k.registerConcurrency,
    });
    await inParallel(bgIds, k.registerConcurrency, async (id) => {
      await request(httpUrl, 'PUT', `/api/devices/${id}/attributes`, { server: { pm10Limit: 1_000_000 } });
    });
    log(`rules/case-latency: ${bgIds.length} background devices registered in ${fmt(reg.ms / 1000, 1)} s`);
    // Probe bins, inside the grid.
    const probeIds = Array.from({ length: rk.probes }, (_, i) => `probe-${String(i).padStart(3, '0')}`);
    const probeTokens: string[] = [];
    for (const [i, id] of probeIds.entries()) {
      const d = await request(httpUrl, 'POST', '/api/devices', {
        id,
        profile: 'waste-container',
        location: {
          lng: GRID_X0 + 0.0001 + (i % 8) * 0.0001,
          lat: GRID_Y0 + 0.0001 + Math.floor(i / 8) * 0.00001,
        },
      });
      if (d.gridCode !== GRID) throw new Error(`probe ${id} placed in grid ${d.gridCode}, expected ${GRID}`);
      probeTokens.push(d.accessToken);
    }
    for (const [i, token] of probeTokens.entries())
      probes.push(await connectProbe(started.mqttUrl, token, `bench-probe-${i}`));

    // Each probe opens its case once; its case id names its events from then on. Every later
    // opening is an occurrence of that case: one event each, matched to the publishes in order.
    const probeOfCase = new Map<string, number>();
    const pending: number[][] = probes.map(() => []);
    let windowStart = Infinity;
    let windowEnd = Infinity;
    const external: number[] = [];
    events = followEvents(httpUrl, (e, at) => {
      const p = probeOfCase.get(e.caseId);
      if (p === undefined || (e.action !== 'occurrence' && e.action !== 'relapse')) return;
      const t0 = pending[p]!.shift();
      if (t0 !== undefined && t0 >= windowStart && t0 <= windowEnd) external.push(at - t0);
    });
    await events.ready;
    await Promise.all(probes.map((c) => publish(c, '{"fillingLevel":0.1}')));
    await Promise.all(probes.map((c) => publish(c, '{"fillingLevel":0.85}')));
    const deadline = performance.now() + 30_000;
    for (const [i, id] of probeIds.entries()) {
      for (;;) {
        const r = await request(httpUrl, 'GET', `/api/cases?deviceId=${id}&ruleId=bin-full`);
        const c = r.items?.[0];
        if (c) {
          probeOfCase.set(c.id, i);
          break;
        }
        if (performance.now() > deadline) throw new Error(`probe ${id}: no bin-full case within 30 s`);
        await sleep(100);
      }
    }
    await Promise.all(probes.map((c) => publish(c, '{"fillingLevel":0.1}'))); // cleared: the next 0.85 opens
    log(`rules/case-latency: ${probes.length} probe cases open`);

    // The background load.
    load = startChild('./rules.ts', {
      name: 'rules-load',
      cpu: k.pin ? 1 : undefined,
      nofile: rk.caseDevices + 1024,
    });
    await load.call(
      'connect',
      { url: started.mqttUrl, tokens: reg.tokens, connectConcurrency: k.connectConcurrency },
      300_000,
    );
    await load.call('start', { messagesPerSec: target / READINGS_PER_MESSAGE });

    // Probes: each opens at its phase of the period and clears half a period later.
    let stopProbes = false;
    const probeLoops = probes.map(async (c, i) => {
      await sleep((i * rk.periodMs) / probes.length);
      let next = performance.now();
      while (!stopProbes) {
        pending[i]!.push(performance.now());
        await publish(c, '{"fillingLevel":0.85}').catch(() => {});
        await sleep(Math.max(0, next + rk.periodMs / 2 - performance.now()));
        await publish(c, '{"fillingLevel":0.1}').catch(() => {});
        next += rk.periodMs;
        await sleep(Math.max(0, next - performance.now()));
      }
    });

    log(`rules/case-latency: warm-up ${k.warmup} s`);
    await sleep(k.warmup * 1000);
    const sample = async () => ({
      t: performance.now(),
      metrics: await scrape(httpUrl),
      load: await load!.call<PacedSnapshot>('snapshot'),
      cpu: cpuSample(started.pid, [load!.pid]),
    });
    const a = await sample();
    windowStart = a.t;
    windowEnd = a.t + rk.caseSeconds * 1000;
    const ticks = Math.max(1, Math.round(rk.caseSeconds / 5));
    for (let i = 0; i < ticks; i++) {
      await sleep(Math.max(0, a.t + ((i + 1) * rk.caseSeconds * 1000) / ticks - performance.now()));
      const s = await load.call<PacedSnapshot>('snapshot');
      log(
        `rules/case-latency:   ${fmt(((s.sent - a.load.sent) * READINGS_PER_MESSAGE) / ((performance.now() - a.t) / 1000))} readings/s sent, ` +
          `${external.length} probe cases seen`,
      );
    }
    const b = await sample();
    windowEnd = b.t;
    stopProbes = true;
    await Promise.all(probeLoops);
    // Let the last case events of the window arrive (bounded).
    const settle = performance.now() + 5000;
    while (pending.some((q) => q.some((t0) => t0 <= windowEnd)) && performance.now() < settle)
      await sleep(50);
    const missed = pending.reduce(
      (n, q) => n + q.filter((t0) => t0 >= windowStart && t0 <= windowEnd).length,
      0,
    );
    const seconds = (b.t - a.t) / 1000;
    const name = 'gridhub_reading_to_case_seconds';
    const ha = histogramOf(a.metrics, name);
    const hb = histogramOf(b.metrics, name);
    const q50 = histogramQuantile(ha, hb, 0.5);
    const q99 = histogramQuantile(ha, hb, 0.99);
    const count = hb.count - ha.count;
    const sorted = Float64Array.from(external).sort();
    const rows = (m: Map<string, number>) => m.get('gridhub_rows_written_total{table="telemetry"}') ?? 0;
    const result: CaseLatencyResult = {
      layout,
      backgroundDevices: rk.caseDevices,
      targetReadingsPerSec: target,
      targetSource,
      sentReadingsPerSec: ((b.load.sent - a.load.sent) * READINGS_PER_MESSAGE) / seconds,
      storedReadingsPerSec: (rows(b.metrics) - rows(a.metrics)) / seconds,
      skipped: b.load.skipped - a.load.skipped,
      probes: probes.length,
      periodMs: rk.periodMs,
      windowSeconds: seconds,
      hub: {
        count,
        p50: q50.value * 1000,
        p99: q99.value * 1000,
        mean: count ? ((hb.sum - ha.sum) / count) * 1000 : Number.NaN,
        overMaxBucket: q99.beyond ? 1 : 0,
      },
      external: {
        count: sorted.length,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
        missed,
      },
      cpu: cpuUse(a.cpu, b.cpu),
    };
    log(
      `rules/case-latency: hub p50 ${fmt(result.hub.p50, 1)} ms, p99 ${fmt(result.hub.p99, 1)} ms, mean ${fmt(result.hub.mean, 1)} ms (${count} cases); ` +
        `publish → SSE p50 ${fmt(result.external.p50, 1)} ms, p99 ${fmt(result.external.p99, 1)} ms (${sorted.length}, ${missed} not seen); ` +
        `background ${fmt(result.storedReadingsPerSec)} readings/s stored · cores: hub ${fmt(result.cpu.hub, 2)}, ` +
        `load ${fmt(result.cpu.load, 2)}, postgres ${fmt(result.cpu.postgres, 2)}, other ${fmt(result.cpu.other, 2)}`,
    );
    return result;
  } finally {
    events?.close();
    await Promise.all(probes.map((c) => new Promise<void>((r) => c.end(true, () => r()))));
    await load?.stop();
    await hub.stop();
    await ctx.pg.drop(databaseUrl).catch((err) => log(`could not drop the database: ${err.message}`));
  }
}

/** Part 4: throughput, then latency; each may fail on its own. */
export async function benchRules(ctx: Ctx, ingest?: IngestResult): Promise<RulesResult> {
  const rk = rulesKnobs();
  const out: RulesResult = { errors: [] };
  const pgIngest = ingest?.runs.find((r) => r.target === 'pg');
  try {
    log(
      `rules/throughput: ${RULES_PER_PROFILE} rules per profile × ${fmt(rk.devices)} devices, readings ${rk.intervalMs} ms apart; ` +
        `${rk.warmupRounds} warm-up rounds, then ${rk.seconds} s timed, in this process`,
    );
    const t = runThroughput({
      devices: rk.devices,
      seconds: rk.seconds,
      warmupRounds: rk.warmupRounds,
      intervalMs: rk.intervalMs,
    });
    out.throughput = t;
    log(
      `rules/throughput: ${fmt(t.evaluationsPerSec)} evaluations/s, ${fmt(t.messagesPerSec)} messages/s ` +
        `(${fmt(t.microsPerMessage, 1)} µs per message, ${fmt(t.microsPerEvaluation, 2)} µs per evaluation; ` +
        `${fmt(t.meanWindowSamples)} samples per window; tick pass ${fmt(t.tickPassMs, 1)} ms)`,
    );
    if (pgIngest) {
      out.ingestMessagesPerSec = pgIngest.messagesPerSec;
      out.capacityOverIngest = t.messagesPerSec / pgIngest.messagesPerSec;
    }
  } catch (err) {
    log(`rules/throughput: FAILED — ${(err as Error).stack ?? err}`);
    out.errors.push({ step: 'throughput', error: String((err as Error).message ?? err) });
  }
  if (!ctx.pg.available()) {
    log('rules/case-latency: PostgreSQL server binaries not found; skipped');
    return out;
  }
  try {
    out.caseLatency = await benchCaseLatency(ctx, pgIngest?.readingsPerSec);
  } catch (err) {
    log(`rules/case-latency: FAILED — ${(err as Error).stack ?? err}`);
    out.errors.push({ step: 'case-latency', error: String((err as Error).message ?? err) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Child mode (`startChild('./rules.ts', { name: 'rules-load' })`): the open-loop background load —
// QoS 1 air-quality messages at a fixed rate, spread over the connections, whatever the latency.

export interface PacedSnapshot {
  sent: number;
  acked: number;
  errors: number;
  skipped: number;
}

/** Messages a connection may have unacknowledged before the pacer skips it. */
const PACED_MAX_INFLIGHT = 50;

function pacedLoadChild() {
  let clients: MqttClient[] = [];
  let inflight = new Int32Array(0);
  const counts: PacedSnapshot = { sent: 0, acked: 0, errors: 0, skipped: 0 };
  let timer: NodeJS.Timeout | undefined;
  serve(
    {
      async connect(args: { url: string; tokens: string[]; connectConcurrency: number }) {
        clients = new Array(args.tokens.length);
        inflight = new Int32Array(args.tokens.length);
        await inParallel([...args.tokens.keys()], args.connectConcurrency, async (i) => {
          clients[i] = await connectProbe(args.url, args.tokens[i]!, `bench-rules-load-${i}`);
        });
        return { connected: clients.length };
      },
      start(args: { messagesPerSec: number }) {
        const t0 = performance.now();
        let due = 0;
        let next = 0;
        timer = setInterval(() => {
          const want = Math.floor(((performance.now() - t0) / 1000) * args.messagesPerSec);
          for (; due < want; due++) {
            const i = next;
            next = (next + 1) % clients.length;
            const c = clients[i]!;
            if (inflight[i]! >= PACED_MAX_INFLIGHT || !c.connected) {
              counts.skipped++;
              continue;
            }
            inflight[i]!++;
            counts.sent++;
            c.publish('v1/devices/me/telemetry', airQualityPayload(), { qos: 1 }, (err) => {
              inflight[i]!--;
              if (err) counts.errors++;
              else counts.acked++;
            });
          }
        }, 5);
      },
      snapshot: (): PacedSnapshot => ({ ...counts }),
    },
    async () => {
      if (timer) clearInterval(timer);
      await Promise.all(clients.map((c) => new Promise<void>((r) => c.end(true, () => r()))));
    },
  );
}

if (process.env.BENCH_CHILD === 'rules-load') pacedLoadChild();
