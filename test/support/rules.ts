/** Helpers for the rules unit tests (pure: fake timestamps, in-memory context). */
import { expect } from 'vitest';
import {
  type ConditionInput,
  type Evaluation,
  evaluate,
  type Rule,
  type RuleContext,
  type RuleDraft,
  type RuleInput,
  type RuleState,
  tick,
  validateRule,
} from '../../rules/index.ts';

export const MIN = 60_000;
export const HOUR = 3_600_000;
/** Monday 2026-01-05 00:00 UTC = 08:00 in Asia/Shanghai. */
export const MONDAY_UTC = Date.UTC(2026, 0, 5);

/** A validated rule around a condition (fails the test with the errors when it is invalid). */
export function mkRule(condition: ConditionInput, extra: Partial<RuleDraft> = {}): Rule {
  const res = validateRule({
    id: 'test-rule',
    name: 'Test rule',
    appliesTo: { profile: 'generic' },
    category: '0901',
    urgency: 'normal',
    condition,
    ...extra,
  });
  if (!res.ok) throw new Error(`test rule invalid: ${res.errors.join('; ')}`);
  return res.rule;
}

export function mkCtx(
  opts: {
    timezone?: string;
    attributes?: Record<string, unknown>;
    references?: Record<string, { ts: number; value: number }>;
  } = {},
): RuleContext {
  return {
    timezone: opts.timezone ?? 'Asia/Shanghai',
    attributes: opts.attributes ?? {},
    reference: (deviceId, key) => opts.references?.[`${deviceId}/${key}`],
  };
}

export type Step =
  | { ts: number; values?: Record<string, number>; events?: RuleInput['events']; receivedAt?: number }
  | { tick: number };

/**
 * Runs steps through a rule, optionally JSON round-tripping the state between steps (what a
 * restart does), and returns every evaluation.
 */
export function runSteps(
  rule: Rule,
  steps: Step[],
  ctx: RuleContext = mkCtx(),
  opts: { roundTrip?: boolean; state?: RuleState } = {},
): Evaluation[] {
  let state: RuleState | undefined = opts.state;
  const out: Evaluation[] = [];
  for (const step of steps) {
    if (opts.roundTrip && state) state = JSON.parse(JSON.stringify(state)) as RuleState;
    const before = state === undefined ? undefined : JSON.stringify(state);
    const ev =
      'tick' in step
        ? tick(rule, state, step.tick, ctx)
        : evaluate(
            rule,
            state,
            {
              ts: step.ts,
              values: step.values ?? {},
              events: step.events ?? [],
              ...(step.receivedAt === undefined ? {} : { receivedAt: step.receivedAt }),
            },
            ctx,
          );
    // Purity: the state passed in is never modified.
    if (before !== undefined) expect(JSON.stringify(state)).toBe(before);
    out.push(ev);
    state = ev.state;
  }
  return out;
}

/** `[active, transition]` of each evaluation, for compact assertions. */
export const trace = (evs: Evaluation[]) => evs.map((e) => [e.active, e.transition] as const);
/** Just whether each evaluation is active. */
export const actives = (evs: Evaluation[]) => evs.map((e) => e.active);
export const last = (evs: Evaluation[]): Evaluation => {
  const e = evs[evs.length - 1];
  if (!e) throw new Error('no evaluations');
  return e;
};
