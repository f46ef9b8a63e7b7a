import type { AcceptedReadings } from '../ingest/index.ts';

/**
 * The rules engine's surface. Ingest hands every accepted message's readings to `onReadings`
 * right after validation; an engine must return at once (evaluation is in-memory and pure, case
 * writes are its own asynchronous business) so it never blocks ingest. The engine itself — rule
 * evaluation, grid cases, the closed loop — is built on this surface.
 */
export interface RulesEngine {
  start(): Promise<void>;
  stop(): Promise<void>;
  onReadings(batch: AcceptedReadings): void;
  /** Health warnings (a rule disabled after a runtime error, …). */
  warnings(): string[];
}

/** The engine used until rules are configured: accepts readings and does nothing with them. */
export function createIdleRules(): RulesEngine {
  return {
    async start() {},
    async stop() {},
    onReadings() {},
    warnings: () => [],
  };
}
