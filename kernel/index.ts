/**
 * The kernel: what every part of the hub may use and that uses no part — the clock, time-zone
 * helpers, coded errors, the logger, metrics, the in-process event bus and the zod field types of
 * the configuration. Nothing here imports from a part of the flow (checked by `npm run check`).
 */
export { duration, flag, port, positiveInt } from './config-fields.ts';
export * from './errors.ts';
export { createEventBus, type EventBus, type HubEvent } from './events.ts';
export { createLogger, type Logger, REDACT_PATHS, redactUrlPasswords, silentLogger } from './logger.ts';
export { type LoopDelayWatch, watchEventLoop } from './loop-delay.ts';
export * from './metrics.ts';
export * from './portable.ts';
export { createTurnBudget, type TurnBudget } from './turns.ts';
