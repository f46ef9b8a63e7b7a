/**
 * The rules part's public surface: the engine (`createRulesEngine`), the pure evaluator, the rule
 * schema (re-exported: the grammar's home is domain/rule-grammar.ts, which the API and the dashboard
 * share) and built-in templates, and the pieces the benchmark drives directly (the runtime and its
 * state store).
 */

export {
  type ConditionInput,
  type Rule,
  type RuleDraft,
  ruleSchema,
  validateRule,
} from '../domain/index.ts';
export { BACKTEST_MAX_ROWS, type BacktestResult } from './backtest.ts';
export { createRulesEngine, type Engine, type RulesEngine } from './engine.ts';
export {
  type Evaluation,
  evaluate,
  initialState,
  needsTick,
  type RuleContext,
  type RuleInput,
  type RuleState,
  tick,
  usesKeys,
} from './evaluate.ts';
export {
  type ActiveRule,
  createRuleRuntime,
  type Evaluator,
  type RuleDevice,
  type RuleRuntime,
  toInputs,
} from './runtime.ts';
export { createMemoryRuleStateStore, type RuleStateStore } from './state-store.ts';
export { builtInRules } from './templates.ts';
