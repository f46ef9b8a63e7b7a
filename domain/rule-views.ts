/**
 * What the API answers about rules: a rule as the engine shows it, and a backtest's result. The
 * dashboard's rule editor types its fetches with their `z.infer`; the grammar is domain/rule-grammar.ts.
 */
import { z } from 'zod';
import { ruleSchema } from './rule-grammar.ts';

const isoTime = /* @__PURE__ */ z.string().describe('ISO 8601 time');

/**
 * A rule as the engine shows it: the stored rule (`ruleSchema`'s fields; durations stay strings, so
 * it round-trips unchanged) plus its version, whether it is built in, and why it is disabled. Built
 * from the shape, without the profile check a saved rule already passed.
 */
export const ruleViewSchema = /* @__PURE__ */ z.object({
  ...ruleSchema.shape,
  version: z.number(),
  builtin: z.boolean(),
  disabledReason: z.string().nullable(),
});
export type RuleView = z.infer<typeof ruleViewSchema>;

/** `POST /api/rules/:id/backtest`: what the rule would have raised (rules/backtest.ts `BacktestResult`). */
export const backtestViewSchema = /* @__PURE__ */ z.object({
  ruleId: z.string(),
  from: isoTime,
  to: isoTime,
  devices: z.number(),
  cases: z.array(
    z.object({
      deviceId: z.string(),
      gridCode: z.string().nullable(),
      openedAt: isoTime,
      closedAt: isoTime.nullable(),
      occurrences: z.number(),
      explanation: z.string(),
    }),
  ),
});
export type BacktestView = z.infer<typeof backtestViewSchema>;
