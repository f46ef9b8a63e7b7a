import type { AcceptedReadings } from '../ingest/index.ts';

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

export { createRulesEngine, type Engine, toInputs } from './engine.ts';
export {
  type Evaluation,
  evaluate,
  initialState,
  type RuleContext,
  type RuleInput,
  type RuleState,
  tick,
  usesKeys,
} from './evaluate.ts';
export { type Rule, type RuleDraft, ruleSchema, validateRule } from './schema.ts';
export { builtInRules } from './templates.ts';
