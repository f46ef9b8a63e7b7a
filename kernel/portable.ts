/**
 * The part of the kernel free of Node-only imports: the dashboard's bundle (web/ui) imports these
 * through the shared domain modules, so nothing here may import `node:*`, pino or a part.
 * Everything here is also exported from `kernel/index.ts`.
 */
export { type Clock, type ManualClock, manualClock, parseDuration, systemClock } from './clock.ts';
export * from './time.ts';
