/**
 * The part of the kernel free of Node-only imports: the dashboard's bundle (web/ui) imports these
 * through the shared domain modules, so nothing here may import `node:*`, pino or a part.
 * Everything here is also exported from `kernel/index.ts`.
 */
export { type Clock, type ManualClock, manualClock, systemClock } from './clock.ts';
export { formatDuration, parseDuration } from './duration.ts';
export * from './time.ts';
