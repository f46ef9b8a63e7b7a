import { type Logger, pino } from 'pino';

export type { Logger };

/** The one root logger; every part takes `logger.child({ module })`. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, base: { app: 'gridhub' }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A silent logger for unit tests and benchmarks. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
