/**
 * The rules engine shell. Rules are rows (validated, versioned, hot-reloaded; SQL in `repo.ts`);
 * evaluation is the pure `evaluate`, run in-process right after validation, per device, by the
 * runtime (`runtime.ts`) over the rule state store (`state-store.ts`). Case work is queued and
 * never awaited by ingest. A rule that throws is disabled with its reason (and a health warning);
 * the others go on. Rule state is persisted every few seconds and at stop; open cases live in
 * the store, so a restart neither duplicates a case nor loses an escalation.
 */
import { performance } from 'node:perf_hooks';
import type { CaseService } from '../cases/index.ts';
import { durationMs, type Rule, validateRule } from '../domain/index.ts';
import type { AcceptedReadings } from '../ingest/index.ts';
import type { Clock, EventBus, Logger, Metrics } from '../kernel/index.ts';
import { badRequest, notFound } from '../kernel/index.ts';
import type { Device, Registry } from '../registry/index.ts';
import type { Db, TelemetryBatch } from '../store/index.ts';
import { BACKTEST_MAX_ROWS, backtest } from './backtest.ts';
import {
  type Evaluation,
  limitsOf,
  needsTick,
  type RuleState,
  usesKeys,
  type WindowSamples,
} from './evaluate.ts';
import { createRulesRepo } from './repo.ts';
import { type ActiveRule, createRuleRuntime, type Evaluator } from './runtime.ts';
import { createMemoryRuleStateStore, type RuleStateStore } from './state-store.ts';
import { builtInRules } from './templates.ts';
import {
  collectUnwritten,
  FILL_LIMIT,
  fillWindow,
  mergeNewest,
  samplesOf,
  toSaved,
  type Unwritten,
  type WindowToFill,
  windowsToFill,
} from './window-state.ts';

/**
 * The rules engine's surface towards ingest: every accepted message's readings go to `onReadings`
 * right after validation; it returns at once (evaluation is in-memory and pure, case writes are
 * queued), so rules never block ingest.
 */
export interface RulesEngine {
  start(): Promise<void>;
  stop(): Promise<void>;
  onReadings(batch: AcceptedReadings): void;
  /** Health warnings (a rule disabled after a runtime error, …). */
  warnings(): string[];
  /** Drops a deleted device's rule state, so a device re-created with its id starts afresh. */
  forgetDevice(deviceId: string): void;
}

interface Loaded extends ActiveRule {
  version: number;
  builtin: boolean;
}

/** Devices whose windows one query reads back at start. */
const FILL_CHUNK = 200;
/** Rule states per save statement: PostgreSQL; the embedded store, whose one connection the API's
 * reads share (2,000 held it 110–180 ms on the 2-core box, 250 take ~16 ms; issue 13). */
const SAVE_ROWS = 2000;
const EMBEDDED_SAVE_ROWS = 250;

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
  /** Most rule states one save statement writes (SAVE_ROWS, EMBEDDED_SAVE_ROWS; tests lower it). */
  saveStatementRows?: number;
  /** The pure evaluator (tests wrap it to make a rule fail at run time). */
  evaluator?: Evaluator;
  /** Where rule state is held in process (default: in memory, this process). */
  stateStore?: RuleStateStore;
  /**
   * Readings acknowledged but not in telemetry yet (ingest's spool after a store outage, replayed
   * only once ingest starts): windows read back at start take them too, as the rules had seen them
   * before the stop. Calls `visit` with each batch's numeric readings.
   */
  unwritten?: (visit: (t: TelemetryBatch) => void) => Promise<void>;
}): RulesEngine & ReturnType<typeof management> {
  const { registry, cases, clock, events } = deps;
  const repo = createRulesRepo(deps.db);
  const log = deps.logger;
  const m = {
    evaluations: deps.metrics.counter('gridhub_rule_evaluations_total', 'Rule evaluations'),
    transitions: deps.metrics.counter('gridhub_rule_transitions_total', 'Rule conditions opened or cleared'),
    latency: deps.metrics.histogram(
      'gridhub_reading_to_case_seconds',
      'Reading arrival to case written',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ),
    failures: deps.metrics.counter('gridhub_rule_failures_total', 'Rules disabled after a runtime error'),
    saved: deps.metrics.counter('gridhub_rule_states_saved_total', 'Rule states written to rule_state'),
  };
  const rules = new Map<string, Loaded>();
  const saveRows = deps.saveStatementRows ?? (deps.db.driver === 'pglite' ? EMBEDDED_SAVE_ROWS : SAVE_ROWS);
  const runtime = createRuleRuntime<Device, Loaded>({
    timezone: deps.timezone,
    store: deps.stateStore ?? createMemoryRuleStateStore(),
    evaluator: deps.evaluator,
    hooks: {
      evaluated(l, device, ev, ts, arrivedAt) {
        m.evaluations.inc();
        handle(l, device, ev, arrivedAt, ts);
      },
      ticked: (l, device, ev, now) => handle(l, device, ev, null, now),
      failed: (l, err) => void disable(l, err),
    },
  });
  const states = runtime.store;
  const pending = new Set<Promise<unknown>>();
  let tickTimer: NodeJS.Timeout | undefined;
  let persistTimer: NodeJS.Timeout | undefined;
  let unsubscribeClock: (() => void) | undefined;
  let ticking: Promise<void> | undefined;
  let rerun: Promise<void> | undefined;

  function index() {
    runtime.setRules([...rules.values()]);
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
          limits: limitsOf(l.rule, runtime.context(device).attributes),
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
    await repo.setDisabledReason(l.rule.id, reason).catch(() => {});
  }

  function onReadings(batch: AcceptedReadings) {
    runtime.onReadings(batch.device, batch.readings, clock.now(), performance.now());
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
      const failures = runtime.tick(now, (profile) => registry.devices.list({ profile }));
      for (const { rule, err } of failures) await disable(rule, err);
      await Promise.allSettled([...pending]);
    })().finally(() => {
      ticking = undefined;
    });
    return ticking;
  }

  let persisting: Promise<void> | undefined;
  /**
   * Saves changed rule states (windows without their samples: `window-state.ts`) in slices of a
   * few milliseconds each, so a save never stalls ingest or case latency for long. One pass at a
   * time; `all` (at stop) waits for a running pass, then saves everything.
   */
  function persist(all = false): Promise<void> {
    if (persisting) return all ? persisting.then(() => persist(true)) : persisting;
    const pass = savePass(all);
    persisting = pass;
    // Cleared when the pass settles, not inside it: a pass with nothing to save finishes before
    // `persisting` is even assigned, and clearing there would leave a settled pass in place for
    // good (no state saved again, and `persist(true)` chaining on it forever).
    const clear = () => {
      if (persisting === pass) persisting = undefined;
    };
    pass.then(clear, clear);
    return pass;
  }

  async function savePass(all: boolean): Promise<void> {
    // A pass saves what had changed when it began. Readings arriving meanwhile change states
    // again; they wait for the next pass (under steady load a pass would otherwise never end,
    // saving each state again and again). At stop (`all`) everything is saved.
    let left = all ? Number.POSITIVE_INFINITY : runtime.changedCount();
    while (left > 0 && runtime.hasChanges()) {
      const keys: [string, string][] = [];
      const rows: { ruleId: string; deviceId: string; version: number; state: string }[] = [];
      const sliceStart = performance.now();
      const more = () => performance.now() - sliceStart <= 8 && rows.length < saveRows && keys.length < left;
      for (const [ruleId, deviceId] of runtime.takeChanged(more)) {
        keys.push([ruleId, deviceId]);
        const l = rules.get(ruleId);
        const st = states.get(ruleId, deviceId);
        if (l && st) rows.push({ ruleId, deviceId, version: l.version, state: JSON.stringify(toSaved(st)) });
      }
      left -= keys.length;
      try {
        await repo.saveStates(rows);
        m.saved.inc(undefined, rows.length);
      } catch (err) {
        for (const [ruleId, deviceId] of keys) runtime.markChanged(ruleId, deviceId);
        log.error({ err }, 'rule state could not be saved; will retry');
        return;
      }
      // Let readings through between slices.
      await new Promise((r) => setImmediate(r));
    }
  }

  async function load() {
    if ((await repo.countRules()) === 0) {
      for (const r of builtInRules()) await write(r, true);
    }
    rules.clear();
    const rows = await repo.listRules();
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

  /**
   * Reads the samples of saved windows back from telemetry: one query per key and span for up to
   * FILL_CHUNK devices (at most FILL_CHUNK × FILL_LIMIT rows in memory at once). Returns the
   * samples read. A failure leaves those windows empty (logged): they fill again from the next
   * readings, as after a rule change. `unwritten` (by key, then device: readings not in telemetry
   * yet, see deps.unwritten) is added to what the store holds, a reading in both counted once.
   */
  async function fillWindows(
    list: { state: RuleState; deviceId: string; w: WindowToFill }[],
    unwritten: Unwritten,
  ): Promise<number> {
    const groups = new Map<string, typeof list>();
    for (const item of list) {
      const g = `${item.w.key}\u0000${item.w.ms}`;
      const group = groups.get(g);
      if (group) group.push(item);
      else groups.set(g, [item]);
    }
    let samples = 0;
    for (const group of groups.values()) {
      // A device's windows of the same key and span read the same readings: one entry per device.
      const after = new Map<string, number>();
      for (const { deviceId, w } of group)
        after.set(deviceId, Math.min(after.get(deviceId) ?? Infinity, w.after));
      const ids = [...after.keys()];
      const byDevice = new Map<string, [number, number][]>();
      try {
        for (let i = 0; i < ids.length; i += FILL_CHUNK) {
          const chunk = ids.slice(i, i + FILL_CHUNK);
          const rows = await repo.recentReadings(
            group[0]!.w.key,
            chunk,
            chunk.map((d) => after.get(d)!),
            FILL_LIMIT,
          );
          for (const r of rows) {
            const pair: [number, number] = [new Date(r.ts).getTime(), Number(r.value)];
            const pairs = byDevice.get(r.device_id);
            if (pairs) pairs.push(pair);
            else byDevice.set(r.device_id, [pair]);
          }
        }
      } catch (err) {
        log.error(
          { err, key: group[0]!.w.key },
          'rule windows could not be read back from telemetry; they start empty',
        );
      }
      const pending = unwritten.get(group[0]!.w.key);
      if (pending)
        for (const [deviceId, since] of after) {
          const extra = pending.get(deviceId)?.filter((p) => p[0] > since);
          if (extra?.length) byDevice.set(deviceId, mergeNewest(byDevice.get(deviceId) ?? [], extra));
        }
      // Windows of one device with the same key, span and aggregate share one view, as in memory.
      const views = new Map<string, WindowSamples | null>();
      for (const { state, deviceId, w } of group) {
        const shared = `${deviceId}\u0000${w.agg}\u0000${w.after}`;
        let view = views.get(shared);
        if (view === undefined) {
          const pairs = (byDevice.get(deviceId) ?? []).filter((p) => p[0] > w.after);
          samples += pairs.length;
          view = samplesOf(pairs, w.agg);
          views.set(shared, view);
        }
        fillWindow(state, w, view);
      }
    }
    return samples;
  }

  async function write(rule: Rule, builtin: boolean) {
    await repo.writeRule(rule, builtin);
    // A changed rule starts from fresh state: windows and timers of the old version mean nothing.
    runtime.forgetRule(rule.id);
  }

  async function start() {
    await load();
    const toFill: { state: RuleState; deviceId: string; w: WindowToFill }[] = [];
    for (const s of await repo.listStates()) {
      const l = rules.get(s.rule_id);
      if (!l || l.version !== Number(s.rule_version)) continue;
      const state = s.state as RuleState;
      if (state && typeof state === 'object' && state.nodes && typeof state.nodes === 'object')
        for (const w of windowsToFill(l.rule, state)) toFill.push({ state, deviceId: s.device_id, w });
      states.set(s.rule_id, s.device_id, state);
    }
    let unwritten: Unwritten = new Map();
    try {
      if (deps.unwritten) unwritten = await collectUnwritten(toFill, deps.unwritten);
    } catch (err) {
      // The store's part is still read back; only what waits in the spool is missing.
      log.error({ err }, 'readings not yet stored could not be read for the rule windows');
    }
    const filled = await fillWindows(toFill, unwritten);
    log.info(
      { rules: rules.size, states: states.size, windows: toFill.length, samples: filled },
      'rules loaded',
    );
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
    await persist(true);
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
        await repo.deleteRule(id);
        runtime.forgetRule(id);
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
        return backtest(
          {
            repo,
            devices: (profile) => registry.devices.list({ profile }),
            context: runtime.context,
            maxRows: deps.backtestMaxRows ?? BACKTEST_MAX_ROWS,
          },
          l.rule,
          from,
          to,
        );
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

  /** A deleted device's rule state goes with its data (issue 8): a re-created id starts afresh. */
  function forgetDevice(deviceId: string) {
    runtime.forgetDevice(deviceId);
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
