import { performance } from 'node:perf_hooks';
import type { CaseService } from '../cases/index.ts';
import type { AcceptedReadings, Reading } from '../ingest/index.ts';
import type { Clock, EventBus, Logger, Metrics } from '../kernel/index.ts';
import { badRequest, notFound } from '../kernel/index.ts';
import type { Device, Registry } from '../registry/index.ts';
import type { Db } from '../store/index.ts';
import {
  type Evaluation,
  evaluate,
  initialState,
  limitsOf,
  needsTick,
  type RuleContext,
  type RuleInput,
  type RuleState,
  tick,
  usesKeys,
} from './evaluate.ts';
import type { RulesEngine } from './index.ts';
import { durationMs, type Rule, validateRule } from './schema.ts';
import { builtInRules } from './templates.ts';

interface Loaded {
  rule: Rule;
  version: number;
  builtin: boolean;
  disabledReason: string | null;
  keys: Set<string>;
  ticks: boolean;
}

const stateKey = (ruleId: string, deviceId: string) => `${ruleId}\u0000${deviceId}`;

/** Groups one message's readings by timestamp: each group is one evaluation input, oldest first. */
export function toInputs(readings: Reading[], receivedAt: number): RuleInput[] {
  const byTs = new Map<number, RuleInput>();
  for (const r of readings) {
    let input = byTs.get(r.ts);
    if (!input) {
      input = { ts: r.ts, values: {}, events: [], receivedAt };
      byTs.set(r.ts, input);
    }
    if (r.kind === 'number') input.values[r.key] = r.value;
    else if (r.kind === 'event')
      input.events.push({ type: r.type, confidence: r.confidence, snapshot: r.snapshot });
  }
  return [...byTs.values()].sort((a, b) => a.ts - b.ts);
}

/**
 * The rules engine shell. Rules are rows (validated, versioned, hot-reloaded); evaluation is the
 * pure `evaluate`, run in-process right after validation, per device. Case work is queued and
 * never awaited by ingest. A rule that throws is disabled with its reason (and a health warning);
 * the others go on. Rule state is persisted every few seconds and at stop; open cases live in
 * the store, so a restart neither duplicates a case nor loses an escalation.
 */
/** Readings one backtest may read in all (bounded memory: a few hundred MB at most). */
export const BACKTEST_MAX_ROWS = 1_000_000;

export function createRulesEngine(deps: {
  db: Db;
  registry: Registry;
  cases: CaseService;
  clock: Clock;
  events: EventBus;
  logger: Logger;
  metrics: Metrics;
  timezone: string;
  tickIntervalMs?: number;
  /** Readings one backtest may read (default BACKTEST_MAX_ROWS; tests lower it to reach the edge). */
  backtestMaxRows?: number;
  persistIntervalMs?: number;
  /** The pure evaluator (tests wrap it to make a rule fail at run time). */
  evaluator?: { evaluate: typeof evaluate; tick: typeof tick };
}): RulesEngine & ReturnType<typeof management> {
  const { db, registry, cases, clock, events } = deps;
  const log = deps.logger;
  const run = deps.evaluator ?? { evaluate, tick };
  const m = {
    evaluations: deps.metrics.counter('gridhub_rule_evaluations_total', 'Rule evaluations'),
    transitions: deps.metrics.counter('gridhub_rule_transitions_total', 'Rule conditions opened or cleared'),
    latency: deps.metrics.histogram(
      'gridhub_reading_to_case_seconds',
      'Reading arrival to case written',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ),
    failures: deps.metrics.counter('gridhub_rule_failures_total', 'Rules disabled after a runtime error'),
  };
  const rules = new Map<string, Loaded>();
  let byProfile = new Map<string, Loaded[]>();
  const states = new Map<string, RuleState>();
  const dirty = new Set<string>();
  /** Latest values of devices other rules compare against (reference stations). */
  const latest = new Map<string, Map<string, { ts: number; value: number }>>();
  let referenced = new Set<string>();
  const pending = new Set<Promise<unknown>>();
  let tickTimer: NodeJS.Timeout | undefined;
  let persistTimer: NodeJS.Timeout | undefined;
  let unsubscribeClock: (() => void) | undefined;
  let ticking: Promise<void> | undefined;
  let rerun: Promise<void> | undefined;

  function index() {
    byProfile = new Map();
    referenced = new Set();
    for (const l of rules.values()) {
      if (!l.rule.enabled || l.disabledReason) continue;
      const list = byProfile.get(l.rule.appliesTo.profile) ?? [];
      list.push(l);
      byProfile.set(l.rule.appliesTo.profile, list);
      const walk = (c: Rule['condition']) => {
        if (c.kind === 'reference') referenced.add(c.referenceDevice);
        if ('condition' in c) walk(c.condition);
        if ('conditions' in c) for (const x of c.conditions) walk(x);
      };
      walk(l.rule.condition);
    }
  }

  function applies(l: Loaded, device: Device) {
    const a = l.rule.appliesTo;
    return (
      a.profile === device.profile &&
      (!a.deviceIds || a.deviceIds.includes(device.id)) &&
      (!a.gridCodePrefix || (device.gridCode ?? '').startsWith(a.gridCodePrefix))
    );
  }

  function context(device: Device): RuleContext {
    return {
      timezone: deps.timezone,
      // Thresholds come from server or shared attributes, never from what the device reports.
      attributes: { ...device.serverAttributes, ...device.sharedAttributes },
      reference: (id, key) => latest.get(id)?.get(key),
    };
  }

  function track(p: Promise<unknown>) {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }

  function handle(l: Loaded, device: Device, ev: Evaluation, arrivedAt: number | null, ts: number) {
    if (!ev.transition) return;
    m.transitions.inc({ transition: ev.transition });
    if (ev.transition === 'open') {
      const p = cases
        .sensorActive({
          device: registry.devices.find(device.id) ?? device,
          ruleId: l.rule.id,
          category: l.rule.category,
          urgency: l.rule.urgency,
          ts,
          explanation: ev.explanation,
          observed: ev.observed,
          snapshot: ev.snapshots[0] ?? null,
          limits: limitsOf(l.rule, context(device).attributes),
          // The case keeps the rule's windows: the case service never asks the engine for them.
          windows: {
            verifyAfterMs: durationMs(l.rule.verifyAfter),
            relapseWindowMs: durationMs(l.rule.relapseWindow),
          },
        })
        .then(() => {
          if (arrivedAt !== null) m.latency.observe((performance.now() - arrivedAt) / 1000);
        })
        .catch((err) =>
          log.error({ err, ruleId: l.rule.id, deviceId: device.id }, 'case could not be opened'),
        );
      track(p);
    } else {
      track(
        cases
          .sensorCleared(device.id, l.rule.id, ts)
          .catch((err) =>
            log.error({ err, ruleId: l.rule.id, deviceId: device.id }, 'clear could not be recorded'),
          ),
      );
    }
  }

  async function disable(l: Loaded, err: unknown) {
    const reason = `runtime error: ${(err as Error)?.message ?? String(err)}`;
    l.disabledReason = reason;
    index();
    m.failures.inc();
    log.error({ ruleId: l.rule.id, err }, 'rule disabled after a runtime error');
    events.publish({
      type: 'rule',
      ruleId: l.rule.id,
      change: 'disabled',
      reason,
      at: new Date(clock.now()).toISOString(),
    });
    await db
      .query('UPDATE rules SET disabled_reason = $2 WHERE id = $1', [l.rule.id, reason])
      .catch(() => {});
  }

  function onReadings(batch: AcceptedReadings) {
    const list = byProfile.get(batch.device.profile);
    const device = batch.device;
    if (referenced.has(device.id)) {
      const map = latest.get(device.id) ?? new Map();
      latest.set(device.id, map);
      for (const r of batch.readings) {
        if (r.kind === 'number' && (map.get(r.key)?.ts ?? -Infinity) <= r.ts)
          map.set(r.key, { ts: r.ts, value: r.value });
      }
    }
    if (!list) return;
    const arrivedAt = performance.now();
    const inputs = toInputs(batch.readings, clock.now());
    const ctx = context(device);
    for (const l of list) {
      if (l.disabledReason || !applies(l, device)) continue;
      const k = stateKey(l.rule.id, device.id);
      let state = states.get(k);
      try {
        for (const input of inputs) {
          if (
            !l.keys.has('*') &&
            !Object.keys(input.values).some((x) => l.keys.has(x)) &&
            !(input.events.length && l.keys.has('event'))
          ) {
            continue;
          }
          const ev = run.evaluate(l.rule, state, input, ctx);
          m.evaluations.inc();
          state = ev.state;
          handle(l, device, ev, arrivedAt, input.ts);
        }
      } catch (err) {
        void disable(l, err);
        continue;
      }
      if (state) {
        states.set(k, state);
        dirty.add(k);
      }
    }
  }

  /** Hub-clock work: absence and event expiry for every device a ticking rule covers. */
  /**
   * Runs a pass at the current hub time. A call during a pass gets a further pass once that one
   * ends, so a clock moved mid-pass is never left unprocessed.
   */
  function runTick(): Promise<void> {
    if (ticking) {
      rerun ??= ticking.then(() => {
        rerun = undefined;
        return runTick();
      });
      return rerun;
    }
    ticking = (async () => {
      const now = clock.now();
      // One device list per profile per pass, shared by that profile's ticking rules.
      const devicesOf = new Map<string, Device[]>();
      for (const l of rules.values()) {
        if (!l.ticks || l.disabledReason || !l.rule.enabled) continue;
        const profile = l.rule.appliesTo.profile;
        if (!devicesOf.has(profile)) devicesOf.set(profile, registry.devices.list({ profile }));
        for (const device of devicesOf.get(profile)!) {
          if (!applies(l, device)) continue;
          const k = stateKey(l.rule.id, device.id);
          const prev = states.get(k);
          if (!prev) continue; // a device never heard from has no absence to measure yet
          try {
            const ev = run.tick(l.rule, prev, now, context(device));
            if (ev.state !== prev) {
              states.set(k, ev.state);
              dirty.add(k);
            }
            handle(l, device, ev, null, now);
          } catch (err) {
            await disable(l, err);
            break;
          }
        }
      }
      await Promise.allSettled([...pending]);
    })().finally(() => {
      ticking = undefined;
    });
    return ticking;
  }

  let persisting: Promise<void> | undefined;
  /** Saves changed rule states in slices of a few milliseconds each, so serialising large windows
   * never stalls ingest or case latency for long. */
  function persist(): Promise<void> {
    persisting ??= (async () => {
      try {
        while (dirty.size > 0) {
          const keys: string[] = [];
          const rows: { ruleId: string; deviceId: string; version: number; state: string }[] = [];
          const sliceStart = performance.now();
          for (const k of dirty) {
            dirty.delete(k);
            keys.push(k);
            const [ruleId, deviceId] = k.split('\u0000') as [string, string];
            const l = rules.get(ruleId);
            const st = states.get(k);
            if (l && st) rows.push({ ruleId, deviceId, version: l.version, state: JSON.stringify(st) });
            if (performance.now() - sliceStart > 8 || rows.length >= 2000) break;
          }
          try {
            await db.query(
              `INSERT INTO rule_state (rule_id, device_id, rule_version, state, updated_at)
               SELECT r, d, v, s::jsonb, now() FROM unnest($1::text[], $2::text[], $3::int[], $4::text[]) AS u(r, d, v, s)
               ON CONFLICT (rule_id, device_id) DO UPDATE SET rule_version = excluded.rule_version, state = excluded.state, updated_at = now()`,
              [
                rows.map((r) => r.ruleId),
                rows.map((r) => r.deviceId),
                rows.map((r) => r.version),
                rows.map((r) => r.state),
              ],
            );
          } catch (err) {
            for (const k of keys) dirty.add(k);
            log.error({ err }, 'rule state could not be saved; will retry');
            return;
          }
          // Let readings through between slices.
          await new Promise((r) => setImmediate(r));
        }
      } finally {
        persisting = undefined;
      }
    })();
    return persisting;
  }

  async function load() {
    const count = await db.query<{ n: number | string }>('SELECT count(*) AS n FROM rules');
    if (Number(count[0]?.n ?? 0) === 0) {
      for (const r of builtInRules()) await write(r, true);
    }
    rules.clear();
    const rows = await db.query<{
      id: string;
      version: number;
      body: unknown;
      enabled: boolean;
      disabled_reason: string | null;
      builtin: boolean;
    }>('SELECT id, version, body, enabled, disabled_reason, builtin FROM rules');
    for (const row of rows) {
      const v = validateRule({ ...(row.body as object), enabled: row.enabled });
      if (!v.ok) {
        log.error({ ruleId: row.id, errors: v.errors }, 'stored rule is no longer valid; skipped');
        continue;
      }
      rules.set(row.id, {
        rule: v.rule,
        version: Number(row.version),
        builtin: row.builtin,
        disabledReason: row.disabled_reason,
        keys: usesKeys(v.rule),
        ticks: needsTick(v.rule),
      });
    }
    index();
  }

  async function write(rule: Rule, builtin: boolean) {
    await db.transaction(async (tx) => {
      const prev = await tx.query<{ version: number }>('SELECT version FROM rules WHERE id = $1', [rule.id]);
      const version = Number(prev[0]?.version ?? 0) + 1;
      await tx.query(
        `INSERT INTO rules (id, version, body, enabled, disabled_reason, builtin, updated_at) VALUES ($1, $2, $3, $4, NULL, $5, now())
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, body = excluded.body, enabled = excluded.enabled,
           disabled_reason = NULL, updated_at = now()`,
        [rule.id, version, JSON.stringify(rule), rule.enabled, builtin],
      );
      await tx.query('INSERT INTO rule_versions (rule_id, version, body) VALUES ($1, $2, $3)', [
        rule.id,
        version,
        JSON.stringify(rule),
      ]);
      // A changed rule starts from fresh state: windows and timers of the old version mean nothing.
      await tx.query('DELETE FROM rule_state WHERE rule_id = $1', [rule.id]);
    });
    for (const k of [...states.keys()]) if (k.startsWith(`${rule.id}\u0000`)) states.delete(k);
  }

  async function start() {
    await load();
    const saved = await db.query<{
      rule_id: string;
      device_id: string;
      rule_version: number;
      state: RuleState;
    }>('SELECT rule_id, device_id, rule_version, state FROM rule_state');
    for (const s of saved) {
      const l = rules.get(s.rule_id);
      if (l && l.version === Number(s.rule_version)) states.set(stateKey(s.rule_id, s.device_id), s.state);
    }
    log.info({ rules: rules.size, states: states.size }, 'rules loaded');
    tickTimer = setInterval(() => void runTick(), deps.tickIntervalMs ?? 5000);
    tickTimer.unref();
    persistTimer = setInterval(() => void persist(), deps.persistIntervalMs ?? 5000);
    persistTimer.unref();
    // Rehearsals move a manual clock: absence and event expiry follow at once.
    unsubscribeClock = clock.onChange(() => void runTick());
  }

  async function stop() {
    if (tickTimer) clearInterval(tickTimer);
    if (persistTimer) clearInterval(persistTimer);
    unsubscribeClock?.();
    await ticking;
    await Promise.allSettled([...pending]);
    await persist();
  }

  function management() {
    const view = (l: Loaded) => ({
      ...l.rule,
      version: l.version,
      builtin: l.builtin,
      disabledReason: l.disabledReason,
    });
    return {
      list: () => [...rules.values()].map(view).sort((a, b) => a.id.localeCompare(b.id)),
      get(id: string) {
        const l = rules.get(id);
        if (!l) throw notFound('rule', id);
        return view(l);
      },
      async save(input: unknown, id?: string) {
        const body = id && input && typeof input === 'object' ? { ...(input as object), id } : input;
        const v = validateRule(body);
        if (!v.ok) throw badRequest(v.errors.map((e) => `body.${e}`).join('; '), { errors: v.errors });
        await write(v.rule, rules.get(v.rule.id)?.builtin ?? false);
        await load();
        events.publish({
          type: 'rule',
          ruleId: v.rule.id,
          change: 'saved',
          at: new Date(clock.now()).toISOString(),
        });
        return view(rules.get(v.rule.id)!);
      },
      async remove(id: string) {
        if (!rules.has(id)) throw notFound('rule', id);
        await db.query('DELETE FROM rules WHERE id = $1', [id]);
        await db.query('DELETE FROM rule_state WHERE rule_id = $1', [id]);
        for (const k of [...states.keys()]) if (k.startsWith(`${id}\u0000`)) states.delete(k);
        rules.delete(id);
        index();
        events.publish({
          type: 'rule',
          ruleId: id,
          change: 'deleted',
          at: new Date(clock.now()).toISOString(),
        });
      },
      backtest: (id: string, from: number, to: number) => {
        const l = rules.get(id);
        if (!l) throw notFound('rule', id);
        return backtest(l.rule, from, to);
      },
      /** Runs the hub-clock work now (tests, manual clock). */
      tickNow: runTick,
      /** Resolves when queued case work is done (tests). */
      idle: async () => {
        while (pending.size) await Promise.allSettled([...pending]);
        await cases.idle();
      },
    };
  }

  const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

  /** Replays a rule over stored telemetry: the cases it would have opened and closed. Writes nothing. */
  async function backtest(rule: Rule, from: number, to: number) {
    if (to - from > 31 * 86_400_000) throw badRequest('a backtest covers at most 31 days');
    const keys = [...usesKeys(rule)].filter((k) => k !== '*' && k !== 'event');
    const devices = registry.devices
      .list({ profile: rule.appliesTo.profile })
      .filter((d) =>
        applies({ rule, version: 0, builtin: false, disabledReason: null, keys: new Set(), ticks: false }, d),
      );
    const verifyMs = durationMs(rule.verifyAfter);
    type BtCase = {
      deviceId: string;
      gridCode: string | null;
      openedAt: string;
      closedAt: string | null;
      occurrences: number;
      explanation: string;
      clearedAt: number | null;
    };
    const out: BtCase[] = [];
    // Bounded (issue 7, finding 5): a replay reads at most BACKTEST_MAX_ROWS readings in all and
    // gives the event loop back every few thousand, so ingest and the API keep going meanwhile.
    const maxRows = deps.backtestMaxRows ?? BACKTEST_MAX_ROWS;
    let budget = maxRows;
    const tooLarge = () =>
      badRequest(`the backtest would read more than ${maxRows} readings; narrow the range (from, to)`);
    for (const device of devices) {
      await yieldToLoop();
      const rows = await db.query<{ ts: Date; key: string; value: number }>(
        `SELECT ts, key, value FROM telemetry WHERE device_id = $1 AND key = ANY($2::text[]) AND ts >= $3 AND ts < $4
          ORDER BY ts LIMIT $5`,
        [device.id, keys, new Date(from), new Date(to), budget + 1],
      );
      budget -= rows.length;
      if (budget < 0) throw tooLarge();
      const evs = usesKeys(rule).has('event')
        ? await db.query<{ ts: Date; type: string; confidence: number; snapshot: string | null }>(
            'SELECT ts, type, confidence, snapshot FROM device_events WHERE device_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT $4',
            [device.id, new Date(from), new Date(to), budget + 1],
          )
        : [];
      budget -= evs.length;
      if (budget < 0) throw tooLarge();
      const readings: Reading[] = [
        ...rows.map((r) => ({
          kind: 'number' as const,
          key: r.key,
          ts: new Date(r.ts).getTime(),
          value: Number(r.value),
        })),
        ...evs.map((e) => ({
          kind: 'event' as const,
          key: 'event' as const,
          ts: new Date(e.ts).getTime(),
          type: e.type,
          confidence: Number(e.confidence),
          snapshot: e.snapshot,
          data: {},
        })),
      ];
      let state: RuleState = initialState();
      let current: BtCase | undefined;
      const ctx = context(device);
      const closeIfVerified = (ts: number) => {
        if (
          current &&
          !current.closedAt &&
          current.clearedAt !== null &&
          ts - current.clearedAt >= verifyMs
        ) {
          current.closedAt = new Date(current.clearedAt + verifyMs).toISOString();
        }
      };
      const step = (ev: Evaluation, ts: number) => {
        state = ev.state;
        closeIfVerified(ts);
        if (ev.transition === 'open') {
          if (current && !current.closedAt) {
            current.occurrences++;
            current.clearedAt = null;
          } else {
            current = {
              deviceId: device.id,
              gridCode: device.gridCode,
              openedAt: new Date(ts).toISOString(),
              closedAt: null,
              occurrences: 1,
              explanation: ev.explanation,
              clearedAt: null,
            };
            out.push(current);
          }
        } else if (ev.transition === 'clear' && current) current.clearedAt = ts;
      };
      const ticks = needsTick(rule);
      let n = 0;
      for (const input of toInputs(readings, 0)) {
        if (++n % 5000 === 0) await yieldToLoop();
        input.receivedAt = input.ts;
        // Absence and event expiry between readings, as the hub clock would have run them.
        if (ticks) step(tick(rule, state, input.ts, ctx), input.ts);
        step(evaluate(rule, state, input, ctx), input.ts);
      }
      closeIfVerified(to);
    }
    return {
      ruleId: rule.id,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      devices: devices.length,
      cases: out.map(({ clearedAt: _c, ...c }) => c),
    };
  }

  /** A deleted device's rule state goes with its data (issue 8): a re-created id starts afresh. */
  function forgetDevice(deviceId: string) {
    for (const k of [...states.keys()]) {
      if (k.endsWith(`\u0000${deviceId}`)) {
        states.delete(k);
        dirty.delete(k);
      }
    }
    latest.delete(deviceId);
  }

  return {
    start,
    stop,
    onReadings,
    forgetDevice,
    warnings: () =>
      [...rules.values()]
        .filter((l) => l.disabledReason)
        .map((l) => `rule ${l.rule.id} disabled: ${l.disabledReason}`),
    ...management(),
  };
}
export type Engine = ReturnType<typeof createRulesEngine>;
