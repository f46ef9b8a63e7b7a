/**
 * Backtest: replays a rule over stored telemetry and says which cases it would have opened and
 * closed. Writes nothing. Bounded (issue 7, finding 5): a replay covers at most 31 days, reads at
 * most `maxRows` readings in all, and gives the event loop back every few thousand, so ingest and
 * the API keep going meanwhile.
 */

import { durationMs, type Rule } from '../domain/index.ts';
import type { Reading } from '../ingest/index.ts';
import { badRequest } from '../kernel/index.ts';
import {
  type Evaluation,
  evaluate,
  initialState,
  needsTick,
  type RuleContext,
  type RuleState,
  tick,
  usesKeys,
} from './evaluate.ts';
import type { RulesRepo } from './repo.ts';
import { applies, type RuleDevice, toInputs } from './runtime.ts';

/** Readings one backtest may read in all (bounded memory: a few hundred MB at most). */
export const BACKTEST_MAX_ROWS = 1_000_000;
/** The longest range one backtest covers. */
const MAX_RANGE_MS = 31 * 86_400_000;

export interface BacktestCase {
  deviceId: string;
  gridCode: string | null;
  openedAt: string;
  closedAt: string | null;
  occurrences: number;
  explanation: string;
}

export interface BacktestResult {
  ruleId: string;
  from: string;
  to: string;
  devices: number;
  cases: BacktestCase[];
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function backtest<D extends RuleDevice>(
  deps: {
    repo: Pick<RulesRepo, 'telemetry' | 'events'>;
    /** The devices of a profile. */
    devices(profile: string): D[];
    context(device: D): RuleContext;
    maxRows: number;
  },
  rule: Rule,
  from: number,
  to: number,
): Promise<BacktestResult> {
  if (to - from > MAX_RANGE_MS) throw badRequest('a backtest covers at most 31 days');
  const keys = [...usesKeys(rule)].filter((k) => k !== '*' && k !== 'event');
  const devices = deps.devices(rule.appliesTo.profile).filter((d) => applies(rule, d));
  const verifyMs = durationMs(rule.verifyAfter);
  type BtCase = BacktestCase & { clearedAt: number | null };
  const out: BtCase[] = [];
  const maxRows = deps.maxRows;
  let budget = maxRows;
  const tooLarge = () =>
    badRequest(`the backtest would read more than ${maxRows} readings; narrow the range (from, to)`);
  const readsEvents = usesKeys(rule).has('event');
  const ticks = needsTick(rule);
  for (const device of devices) {
    await yieldToLoop();
    const rows = await deps.repo.telemetry(device.id, keys, from, to, budget + 1);
    budget -= rows.length;
    if (budget < 0) throw tooLarge();
    const evs = readsEvents ? await deps.repo.events(device.id, from, to, budget + 1) : [];
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
    const ctx = deps.context(device);
    const closeIfVerified = (ts: number) => {
      if (current && !current.closedAt && current.clearedAt !== null && ts - current.clearedAt >= verifyMs) {
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
            gridCode: device.gridCode ?? null,
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
